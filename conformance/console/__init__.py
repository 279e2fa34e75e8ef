"""The acceptance console for relay staff (``s24kit console``): a register of vendors, products, versions and
sites, runs and decisions, over one database (SQLite by default, PostgreSQL for a shared deployment).
docs/console.md describes it."""

"""The acceptance console for relay staff (``s24kit console``, issue 13): a register of vendors, products,
versions and sites, runs, batches and decisions, over one database (SQLite by default, PostgreSQL for a
shared deployment). docs/console.md describes it."""

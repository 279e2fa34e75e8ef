"""How many provider codes one vendor's central server may answer for (``s24kit serve --tenants``).

A module of its own, with nothing to import, so that the command line's help reads the bound without loading
the simulator (tests/test_cli_startup.py counts what a help loads).
"""

MAX_TENANTS = 50_000

"""The console's routes, one module per area, each exposing ``routes: list[BaseRoute]``; :func:`..app.create_app`
mounts the modules listed in :data:`ROUTE_MODULES` (every path also needs its row in ``access.py``)."""

ROUTE_MODULES = ("session_pages", "site_pages", "vendor_pages", "account_pages", "api_register", "api_accounts",
                 "record_pages", "api_records", "run_pages", "api_runs")

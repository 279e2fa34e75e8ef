"""The console's web application: :func:`create_app` builds it from :class:`Settings` (the database is
opened and migrated here), with the session cookie, the access gate and the routes of ``routes/``."""

from __future__ import annotations

import importlib
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Scope

from ...simulator.private import FILE_MODE, private_file, private_state_directory
from .auth import AccessGate
from .db import Database, prepare
from .headers import SecurityHeaders
from .labels import kst
from .routes import ROUTE_MODULES
from .routes.common import refusal_page

HERE = Path(__file__).parent
SESSION_COOKIE = "s24kit_console"
SESSION_KEY_FILE = "console-session.key"
SESSION_HOURS = 12


@dataclass
class Settings:
    """How the console runs. ``database_url`` defaults to SQLite in ``state_dir``; ``https`` marks the
    session cookie Secure (set when the console serves HTTPS)."""

    state_dir: Path
    database_url: str | None = None
    https: bool = False
    #: Called with the app once it is built (workers, schedulers of other modules start here).
    on_startup: list[Callable[[Starlette], None]] = field(default_factory=list)


def session_key(state_dir: Path) -> str:
    """The key that signs session cookies: made once, kept in the state directory (0600). Consoles that
    share a PostgreSQL database behind one address share this file too (docs/console.md)."""
    path = state_dir / SESSION_KEY_FILE
    if not path.is_file():
        private_state_directory(state_dir)
        private_file(path)
        path.write_text(secrets.token_urlsafe(48), encoding="ascii")
    path.chmod(FILE_MODE)
    return path.read_text(encoding="ascii").strip()


class ConsoleStatic(StaticFiles):
    """The console's static files; a file that is not there is the console's bilingual 404 page, like every
    other unknown path, not Starlette's English "Not Found"."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            return refusal_page(Request(scope), 404, "그런 정적 파일이 없습니다", "no such static file")


def collect_routes() -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for name in ROUTE_MODULES:
        found.extend(importlib.import_module(f"{__package__}.routes.{name}").routes)
    found.append(Mount("/static", ConsoleStatic(directory=HERE / "static"), name="static"))
    return found


def create_app(settings: Settings, database: Database | None = None) -> Starlette:
    """The console app over ``database`` (default: :func:`~.db.prepare` of the settings' URL)."""
    from .db import default_url

    if database is None:
        database = prepare(settings.database_url or default_url(settings.state_dir), state_dir=settings.state_dir)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for start in settings.on_startup:
            start(app)
        yield
        database.engine.dispose()

    middleware = [
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=session_key(settings.state_dir), session_cookie=SESSION_COOKIE,
                   max_age=SESSION_HOURS * 3600, same_site="strict", https_only=settings.https),
        Middleware(AccessGate, database=database, refuse_page=refusal_page),
    ]
    app = Starlette(routes=collect_routes(), middleware=middleware, lifespan=lifespan)
    app.state.settings, app.state.database = settings, database
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["kst"] = kst  # every time a page shows: KST, the zone written out
    # tojson as people read it: Korean as text, not \uXXXX (HTML's < > & ' are still escaped)
    templates.env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    app.state.templates = templates
    return app

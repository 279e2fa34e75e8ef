"""One table lists every admin route of a simulated party; ``GET /__admin/`` answers with that table.

Each party (relay, insurer, provider) declares its ``/__admin/…`` routes as :class:`AdminRoute` rows and
passes the table to :func:`admin_routes`, which returns Starlette routes plus the index. The index is JSON,
or a small HTML table when the client prefers ``text/html`` (a browser).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]
INDEX_PATH = "/__admin/"


@dataclass(frozen=True)
class AdminRoute:
    """One admin route: HTTP method, path (Starlette template), handler and what it does in both languages."""

    method: str
    path: str
    endpoint: Endpoint
    summary_ko: str
    summary_en: str

    def describe(self) -> dict[str, str]:
        return {"method": self.method, "path": self.path, "summary_ko": self.summary_ko,
                "summary_en": self.summary_en}


def _wants_html(request: Request) -> bool:
    """True when ``text/html`` is accepted ahead of JSON (browsers); curl's ``*/*`` gets JSON."""
    accept = request.headers.get("accept", "").lower()
    if "text/html" not in accept:
        return False
    json_at = accept.find("application/json")
    return json_at < 0 or accept.find("text/html") < json_at


def _html_table(title: str, rows: list[dict[str, str]]) -> str:
    cells = "".join(
        f"<tr><td>{html.escape(r['method'])}</td><td><code>{html.escape(r['path'])}</code></td>"
        f"<td>{html.escape(r['summary_ko'])}</td><td>{html.escape(r['summary_en'])}</td></tr>" for r in rows)
    return (f"<!doctype html><html lang=\"ko\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><table><thead><tr><th>메서드 / method</th><th>경로 / path</th>"
            f"<th>설명</th><th>description</th></tr></thead><tbody>{cells}</tbody></table></body></html>")


def admin_routes(table: list[AdminRoute], title: str) -> list[Route]:
    """Starlette routes for ``table`` plus ``GET /__admin/`` listing them (index first)."""
    seen: set[tuple[str, str]] = set()
    for row in table:
        key = (row.method.upper(), row.path)
        if key in seen or key == ("GET", INDEX_PATH):
            raise ValueError(f"admin route declared twice: {row.method} {row.path}")
        seen.add(key)
    rows = [{"method": "GET", "path": INDEX_PATH, "summary_ko": "이 표 (관리 경로 목록)",
             "summary_en": "this table (admin routes)"}] + [r.describe() for r in table]

    async def index(request: Request) -> Response:
        if _wants_html(request):
            return HTMLResponse(_html_table(title, rows))
        return JSONResponse(rows)

    by_path: dict[str, dict[str, Endpoint]] = {}
    for r in table:
        by_path.setdefault(r.path, {})[r.method.upper()] = r.endpoint
    return [Route(INDEX_PATH, index, methods=["GET"])] + [
        Route(path, _dispatch(endpoints), methods=list(endpoints)) for path, endpoints in by_path.items()]


def _dispatch(endpoints: dict[str, Endpoint]) -> Endpoint:
    """One endpoint for every method of a path: a 405 then lists all of them in ``Allow`` (one Starlette
    route per method listed only the first route's)."""
    async def endpoint(request: Request) -> Response:
        return await endpoints.get(request.method, endpoints.get("GET"))(request)  # HEAD is served as GET
    return endpoint


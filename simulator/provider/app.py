"""The reference provider as an ASGI app: the kit-v1 provider endpoints over :class:`ProviderCore`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..access import AccessTable, allow, protect
from ..journal import Journal, JournalMiddleware
from ..last_resort import LastResortMiddleware
from ..problems import ROUTING_PROBLEMS, BadRequest, ProblemResponse, read_json
from .core import FETCH, SEARCH, ProviderCore, _now
from .scenario import Scenario

#: Who may call each provider route (docs/security.md): a patient's visits and documents go to the relay only.
ACCESS = AccessTable("provider", [
    allow("/s24/v1/health"),
    allow("/s24/v1/visits:search", "relay"),
    allow("/s24/v1/documents:fetch", "relay"),
])


async def answer_request(core: ProviderCore, operation: str, request: Request, max_body_bytes: int) -> Response:
    """``core``'s answer to ``operation`` for the JSON body of ``request`` (hostile bodies refused)."""
    try:
        body = await read_json(request, max_body_bytes)
    except BadRequest as exc:
        return exc.response
    status, answer = core.answer(operation, body)
    return (JSONResponse if status < 400 else ProblemResponse)(answer, status_code=status)


def create_provider_app(scenario: Scenario | ProviderCore, *, clock: Callable[[], dt.datetime] = _now,
                        max_body_bytes: int = 1024 * 1024, check_roles: bool = True,
                        journal: Journal | None = None) -> Starlette:
    """Serve ``scenario``'s visits and documents (or any :class:`ProviderCore`) over HTTP.

    ``check_roles=False`` is for the faulty provider whose defect is to let anyone in (``no_mtls``).
    ``journal`` records every exchange the provider receives (the stack leaves it out: the relay's client
    already records its calls to the provider)."""
    core = scenario if isinstance(scenario, ProviderCore) else ProviderCore(scenario, clock=clock)

    def endpoint(operation: str) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            return await answer_request(core, operation, request, max_body_bytes)
        return run

    async def health(request: Request) -> Response:
        return JSONResponse(core.health())

    app = Starlette(routes=[
        Route("/s24/v1/health", health, methods=["GET"]),
        Route("/s24/v1/visits:search", endpoint(SEARCH), methods=["POST"]),
        Route("/s24/v1/documents:fetch", endpoint(FETCH), methods=["POST"]),
    ], exception_handlers=ROUTING_PROBLEMS)
    if check_roles:
        protect(app, ACCESS)
    app.add_middleware(LastResortMiddleware, party="provider")
    if journal is not None:
        app.add_middleware(JournalMiddleware, journal=journal, party=f"→provider:{core.scenario.provider_code}")
    app.state.core = core
    return app

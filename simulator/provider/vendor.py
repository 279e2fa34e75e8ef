"""A vendor's central server: one reference provider answering for many provider codes (multi-tenant).

Most 요양기관 do not run their own connector: their EMR vendor's cloud answers for thousands of clinics. The
kit simulates such a server with one listener whose paths name the clinic — ``/{provider_code}/s24/v1/…`` —
so each clinic's registration at the relay is an ordinary pull registration whose ``base_url`` is
``https://vendor:port/{provider_code}``: the relay needs no change to talk to a vendor, and a connector under
test that serves many clinics can be registered the same way. The kit-v1 requests carry no provider code
(``visits:search`` and ``documents:fetch`` are addressed to one provider), which is why the tenant is chosen by
path, not by a body field, and not by host name or SNI (those need DNS names a loopback test does not have).

Tenants are the scenario's providers, the busiest first; when more tenants are asked for than the scenario
holds, each further tenant is a *copy* of one of them under its own code (same patients, visits and documents;
its own code in every answer; its own request ids in the server's one memory of answers). A copy's code
keeps the first three digits of its original — region and facility type (S24-DOC-057) — and never equals a
code of the scenario.
docs/performance.md §3 describes how to start it (``s24kit serve --tenants N``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..access import AccessTable, allow, protect
from ..last_resort import LastResortMiddleware
from ..problems import ROUTING_PROBLEMS, problem
from ..tenancy import MAX_TENANTS
from .app import answer_request
from .core import FETCH, SEARCH, AnswerMemory, ProviderCore
from .scenario import Scenario

#: Who may call each route of the vendor's server: the same as one provider's, under each clinic's path.
ACCESS = AccessTable("vendor", [
    allow("/s24/v1/health"),
    allow("/{provider_code}/s24/v1/health"),
    allow("/{provider_code}/s24/v1/visits:search", "relay"),
    allow("/{provider_code}/s24/v1/documents:fetch", "relay"),
])
#: The name of the vendor's server in ``Stack.urls``, ``StackOptions.ports`` and ``Stack.provider_apps``.
VENDOR = "vendor"
#: Most tenants one server answers for (a code is 8 digits; copies use the last five).


@dataclasses.dataclass(frozen=True, slots=True)
class Tenant:
    """One clinic the vendor answers for: its code, and the scenario provider whose records it serves."""

    provider_code: str
    copy_of: str | None = None  # None: the scenario's own provider

    @property
    def source(self) -> str:
        return self.copy_of or self.provider_code


def tenants_for(scenario: dict[str, Scenario], count: int) -> list[Tenant]:
    """``count`` tenants: the scenario's providers (most visits first), then numbered copies of them."""
    if not 1 <= count <= MAX_TENANTS:
        raise ValueError(f"tenants must be from 1 to {MAX_TENANTS:,} (got {count})")
    busiest = sorted(scenario, key=lambda code: (-len(scenario[code].visits), code))
    chosen = [Tenant(code) for code in busiest[:count]]
    taken = set(scenario)
    serial = 0
    while len(chosen) < count:
        source = busiest[(len(chosen) - len(busiest)) % len(busiest)]
        code = f"{source[:3]}{serial % 100_000:05d}"
        serial += 1
        if serial > 100_000 * 2:
            raise ValueError(f"no free provider code left for a copy of {source}")
        if code not in taken:
            taken.add(code)
            chosen.append(Tenant(code, source))
    return chosen


class CopiedProviderCore(ProviderCore):
    """The answers of a copy of a provider: its original's records under the copy's own provider code."""

    def __init__(self, original: Scenario, provider_code: str, **options: Any) -> None:
        super().__init__(dataclasses.replace(original, provider_code=provider_code), **options)
        self.original_code = original.provider_code

    def documents_of(self, visit_id: str) -> list[dict[str, Any]]:
        code = self.scenario.provider_code
        return [{**doc, "provider": {**doc["provider"], "provider_code": code}} if "provider" in doc else doc
                for doc in super().documents_of(visit_id)]


def tenant_cores(scenario: dict[str, Scenario], tenants: Iterable[Tenant],
                 **options: Any) -> dict[str, ProviderCore]:
    """A :class:`ProviderCore` per tenant (``options``: the clock), all sharing one memory of answers: a
    vendor's server holds at most :data:`~.core.REMEMBERED_ANSWERS` however many clinics it answers for."""
    options.setdefault("memory", AnswerMemory())
    return {t.provider_code: ProviderCore(scenario[t.provider_code], **options) if t.copy_of is None
            else CopiedProviderCore(scenario[t.copy_of], t.provider_code, **options) for t in tenants}


def create_vendor_app(cores: dict[str, ProviderCore], *, max_body_bytes: int = 1024 * 1024,
                      name: str = "s24kit vendor server") -> Starlette:
    """One server answering kit-v1 for every provider code of ``cores`` under ``/{provider_code}/s24/v1/…``."""

    def tenant(request: Request) -> ProviderCore | Response:
        code = request.path_params["provider_code"]
        core = cores.get(code)
        if core is None:
            shown = code[:16] + ("…" if len(code) > 16 else "")
            return problem(404, "not_found", "Unknown provider code",
                           f"이 서버는 요양기관 {shown}을(를) 대신하지 않습니다 (경로 /{{요양기관기호}}/s24/v1/…) "
                           f"/ this server does not answer for provider {shown} "
                           "(paths are /{provider_code}/s24/v1/…)")
        return core

    def endpoint(operation: str) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            core = tenant(request)
            if isinstance(core, Response):
                return core
            return await answer_request(core, operation, request, max_body_bytes)
        return run

    async def health(request: Request) -> Response:
        core = tenant(request)
        return core if isinstance(core, Response) else JSONResponse(core.health())

    async def own_health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "profile": "kit-v1", "software": name, "tenants": len(cores)})

    app = Starlette(routes=[
        Route("/s24/v1/health", own_health, methods=["GET"]),
        Route("/{provider_code}/s24/v1/health", health, methods=["GET"]),
        Route("/{provider_code}/s24/v1/visits:search", endpoint(SEARCH), methods=["POST"]),
        Route("/{provider_code}/s24/v1/documents:fetch", endpoint(FETCH), methods=["POST"]),
    ], exception_handlers=ROUTING_PROBLEMS)
    protect(app, ACCESS)
    app.add_middleware(LastResortMiddleware, party="vendor")
    app.state.cores = cores
    return app


__all__ = ["MAX_TENANTS", "VENDOR", "CopiedProviderCore", "Tenant", "create_vendor_app", "tenant_cores", "tenants_for"]

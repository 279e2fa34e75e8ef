"""The relay as an ASGI app: patient claims, insurer events, agent polling, and the admin API."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...schemas.loader import is_valid
from ...schemas.validation import schema_findings
from ..access import AccessTable, admin_only, allow, forbidden, protect
from ..admin import AdminRoute, admin_routes
from ..database import DurableAnswers
from ..faults import FaultSwitch, PartyFaultTransport, fault_routes
from ..journal import AsyncJournalTransport, Journal, JournalMiddleware, journal_routes
from ..journal_view import MergedJournal
from ..last_resort import LastResortMiddleware
from ..net_echo import whoami
from ..pki import certificate_insurer, certificate_sha256
from ..problems import ROUTING_PROBLEMS, BadRequest, ProblemResponse, findings_as_errors, problem, read_json
from ..serving import client_certificate
from .config import ConfigError, ProviderRegistration, RelayConfig, check_provider_host
from .engine import Relay, _now, unknown_claim
from .store import RelayStore

MAX_WAIT = 25.0
#: Who may call each relay route (docs/security.md). Events are further pinned per insurer in the route.
ACCESS = AccessTable("relay", [
    allow("/relay/v1/health"),
    allow("/relay/v1/whoami"),
    allow("/relay/v1/claims/{claim_id}/events", "insurer"),
    allow("/relay/v1/claims", "patient-app"),
    allow("/relay/v1/claims/{claim_id}", "patient-app"),
    allow("/relay/v1/claims/{claim_id}/documents", "patient-app"),
    allow("/relay/v1/agent/poll", "provider-agent"),
    allow("/relay/v1/agent/replies", "provider-agent"),
    admin_only(),
])
RESET_CONFIRMATION = "reset"


def _answer(status: int, body: dict[str, Any]) -> Response:
    return (JSONResponse if status < 400 else ProblemResponse)(body, status_code=status)


async def _valid_body(request: Request, schema: str, max_bytes: int) -> Any:
    """The request's JSON when valid against ``schema``; else raise :class:`BadRequest`."""
    body = await read_json(request, max_bytes)
    if not is_valid(schema, body):
        raise BadRequest(problem(400, "invalid_request", "Invalid request",
                                 errors=findings_as_errors(schema_findings(schema, body))))
    return body


def _wait(request: Request) -> float:
    """The ``?wait=`` seconds of a long poll, or :class:`BadRequest` naming the parameter."""
    try:
        wait = float(request.query_params.get("wait", "0"))
        if 0 <= wait <= MAX_WAIT:
            return wait
    except ValueError:
        pass
    raise BadRequest(problem(400, "invalid_request", "Invalid wait", f"wait: 0~{MAX_WAIT:g} 초여야 합니다 "
                             f"/ wait must be 0 to {MAX_WAIT:g} seconds"))


def relay_client(*, client_context: ssl.SSLContext | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 journal: Journal | None = None, faults: FaultSwitch | None = None) -> httpx.AsyncClient:
    """The relay's outgoing client: mutual TLS (its own certificate), journaled, with the fault plan applied.

    ``transport`` replaces the network (an :class:`~s24kit.simulator.inprocess.AsgiRouter` in-process).
    Calls name their party in ``extensions={"s24_party": "provider:<code>"}``.
    """
    base = transport or PoolPerOrigin(lambda: httpx.AsyncHTTPTransport(
        verify=client_context or True, retries=0, limits=httpx.Limits(max_connections=200,
                                                                      max_keepalive_connections=50)))
    if faults is not None:
        base = PartyFaultTransport(base, faults)
    if journal is not None:
        base = AsyncJournalTransport(base, journal, "relay→?")
    return httpx.AsyncClient(transport=base, timeout=10.0)


class PoolPerOrigin(httpx.AsyncBaseTransport):
    """One connection pool per origin (scheme, host, port), each made by ``make`` when first needed.

    httpcore looks over every connection of its pool on each request and each answer, asking the system whether
    an idle one was closed (two system calls a connection): with the vendor's and the insurers' connections in
    one pool, each call to one of them paid for all of them."""

    def __init__(self, make: Callable[[], httpx.AsyncBaseTransport]) -> None:
        self._make = make
        self._pools: dict[tuple[bytes, bytes, int | None], httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = (request.url.raw_scheme, request.url.raw_host, request.url.port)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = self._make()
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


def create_relay_app(config: RelayConfig, *, database: Path | str = ":memory:", client: httpx.AsyncClient | None = None,
                     journal: Journal | None = None, faults: FaultSwitch | None = None, work: bool = True,
                     clock: Callable[[], dt.datetime] = _now, journal_view: MergedJournal | None = None) -> Starlette:
    """The relay app. ``work=False`` leaves the work loop to the caller (``app.state.relay.step()``).
    ``journal`` records its exchanges; the admin routes show ``journal_view`` when given (the journal files
    of every process of the stack, simulator/journal_view.py), else ``journal``."""
    journal = journal if journal is not None else Journal()
    shown = journal_view if journal_view is not None else journal
    store = RelayStore(database)
    owned = client is None
    client = client or relay_client(journal=journal, faults=faults)
    relay = Relay(config, store, client, clock=clock)
    limit = config.max_body_bytes

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "profile": "kit-v1", "software": "s24kit relay",
                             "time": clock().isoformat(timespec="seconds")})

    async def submit(request: Request) -> Response:
        try:
            claim = await _valid_body(request, "patient-claim", limit)
        except BadRequest as exc:
            return exc.response
        return _answer(*relay.submit(claim))

    async def claim_status(request: Request) -> Response:
        try:
            wait = _wait(request)
        except BadRequest as exc:
            return exc.response
        status = await relay.settled(request.path_params["claim_id"], wait)
        if status is None:
            return _answer(*unknown_claim(request.path_params["claim_id"]))
        return JSONResponse(status)

    async def add_documents(request: Request) -> Response:
        try:
            body = await _valid_body(request, "patient-claim", limit)
        except BadRequest as exc:
            return exc.response
        return _answer(*relay.add_documents(request.path_params["claim_id"], body))

    async def event(request: Request) -> Response:
        try:
            body = await _valid_body(request, "insurer-event", limit)
        except BadRequest as exc:
            return exc.response
        if (refused := _not_the_insurer(config, client_certificate(request.scope), body)) is not None:
            return refused
        status, answer = relay.apply_event(request.path_params["claim_id"], body)
        # recorded — applied, held for an earlier sequence, or a duplicate — is 204 (openapi.yaml)
        return _answer(status, answer) if status >= 400 else Response(status_code=204)

    def identity(request: Request, code: str) -> Response | None:
        refused = relay.agents.identity(code, request.client.host if request.client else None,
                                       client_certificate(request.scope))
        return _answer(*refused) if refused else None

    async def agent_poll(request: Request) -> Response:
        try:
            body = await _valid_body(request, "agent#/$defs/poll", limit)
            wait = _wait(request)
        except BadRequest as exc:
            return exc.response
        if (refused := identity(request, body["provider_code"])) is not None:
            return refused
        return JSONResponse(await relay.agents.poll(body["provider_code"], body.get("max_requests", 10), wait,
                                                    gone=request.is_disconnected))

    async def agent_reply(request: Request) -> Response:
        try:
            body = await _valid_body(request, "agent#/$defs/reply", limit)
        except BadRequest as exc:
            return exc.response
        code = relay.agents.provider_of(body["request_id"])
        if code is None:
            return problem(404, "not_found", "Unknown agent request", f"요청 {body['request_id']}을(를) 보낸 적이 "
                           f"없습니다 / the relay never sent request {body['request_id']}")
        if (refused := identity(request, code)) is not None:
            return refused
        status, answer = relay.agents.reply(code, body)
        return _answer(status, answer) if status >= 400 else Response(status_code=204)

    # -- admin ----------------------------------------------------------------------------------------------

    async def list_claims(request: Request) -> Response:
        state = request.query_params.get("state")
        rows = store.query("SELECT claim_id FROM claims WHERE ? IS NULL OR state = ? ORDER BY created_at, claim_id",
                           state, state)
        return JSONResponse({"claims": [relay.status(r["claim_id"]) for r in rows], "counts": store.counts()})

    async def claim_detail(request: Request) -> Response:
        claim_id = request.path_params["claim_id"]
        status = relay.status(claim_id)
        if status is None:
            return _answer(*unknown_claim(claim_id))
        tasks = [dict(r) for r in store.query("SELECT * FROM tasks WHERE claim_id = ? ORDER BY task_id", claim_id)]
        events = [dict(r) for r in store.query("SELECT json_extract(body, '$.event_id') AS event_id, insurer_code, "
                                               "sequence, applied, received_at "
                                               "FROM events WHERE claim_id = ? ORDER BY insurer_code, sequence",
                                               claim_id)]
        payouts = {r["insurer_code"]: json.loads(r["payout"]) if r["payout"] else None
                   for r in store.insurers_of(claim_id)}
        return JSONResponse({"status": status, "tasks": tasks, "events": events, "payouts": payouts})

    async def list_providers(request: Request) -> Response:
        return JSONResponse({"providers": store.providers()})

    async def put_provider(request: Request) -> Response:
        try:
            body = await read_json(request, limit)
            if not isinstance(body, dict):
                raise ConfigError("body", "JSON 객체여야 합니다", "must be a JSON object")
            registration = ProviderRegistration.from_dict({**body, "code": request.path_params["code"]})
            check_provider_host(registration, config.allowed_provider_hosts)
        except BadRequest as exc:
            return exc.response
        except ConfigError as exc:
            return problem(400, "invalid_request", "Invalid registration", f"{exc.field}: {exc.message_ko} "
                           f"/ {exc.field}: {exc.message_en}")
        store.put_provider(registration.as_dict())
        return JSONResponse(registration.as_dict())

    async def dead_letters(request: Request) -> Response:
        return JSONResponse({"dead_letters": [dict(r) for r in store.dead_letters()]})

    async def retry_dead(request: Request) -> Response:
        task = request.path_params["task_id"]
        # ASCII digits only ('²'.isdigit() is True) and within SQLite's 64-bit integers
        if not (task.isascii() and task.isdigit() and len(task) <= 18) or not relay.retry_dead(int(task)):
            return problem(404, "not_found", "No such dead letter", f"죽은 작업 {task}이(가) 없습니다 "
                           f"/ no dead letter {task}")
        return JSONResponse({"task_id": int(task), "state": "pending"})

    async def reset(request: Request) -> Response:
        if request.query_params.getlist("confirm") != [RESET_CONFIRMATION]:  # exactly one, not the last of several
            return _unconfirmed_reset()
        store.reset()
        shown.clear()
        return JSONResponse({"reset": True})

    table = [
        AdminRoute("GET", "/__admin/claims", list_claims, "청구 목록 (?state=)", "claims (?state=)"),
        AdminRoute("GET", "/__admin/claims/{claim_id}", claim_detail, "청구 상세: 작업, 사건, 지급 내역",
                   "one claim: tasks, events, payouts"),
        AdminRoute("GET", "/__admin/providers", list_providers, "등록된 요양기관", "registered providers"),
        AdminRoute("PUT", "/__admin/providers/{code}", put_provider, "요양기관 등록·변경",
                   "register or change a provider"),
        AdminRoute("GET", "/__admin/dead-letters", dead_letters, "재시도를 멈춘 작업", "tasks that gave up"),
        AdminRoute("POST", "/__admin/dead-letters/{task_id}/retry", retry_dead, "죽은 작업 다시 시도",
                   "retry a dead letter"),
        AdminRoute("POST", "/__admin/reset", reset, "상태와 저널 초기화 (?confirm=reset 필수, 번호는 이어짐)",
                   "forget all claims and the journal (needs ?confirm=reset; numbering continues)"),
        *journal_routes(shown),
    ]
    if faults is not None:
        table += fault_routes(faults)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        worker = asyncio.create_task(relay.run()) if work else None
        try:
            yield
        finally:
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            if owned:
                await client.aclose()

    app = Starlette(routes=[
        Route("/relay/v1/health", health, methods=["GET"]),
        whoami(),
        Route("/relay/v1/claims", submit, methods=["POST"]),
        Route("/relay/v1/claims/{claim_id}", claim_status, methods=["GET"]),
        Route("/relay/v1/claims/{claim_id}/documents", add_documents, methods=["POST"]),
        Route("/relay/v1/claims/{claim_id}/events", event, methods=["POST"]),
        Route("/relay/v1/agent/poll", agent_poll, methods=["POST"]),
        Route("/relay/v1/agent/replies", agent_reply, methods=["POST"]),
        *admin_routes(table, "s24kit relay — 관리 API"),
    ], lifespan=lifespan, exception_handlers=ROUTING_PROBLEMS)
    protect(app, ACCESS)
    app.add_middleware(LastResortMiddleware, party="relay")
    app.add_middleware(DurableAnswers, store=store)  # no answer before its commits are on disk
    # outermost: refusals (403) and the last resort's 500 are journaled too
    app.add_middleware(JournalMiddleware, journal=journal, party="→relay")
    app.state.relay, app.state.store, app.state.journal = relay, store, journal
    return app


def _unconfirmed_reset() -> Response:
    return problem(400, "invalid_request", "Reset not confirmed",
                   f"confirm: 모든 청구를 지우려면 ?confirm={RESET_CONFIRMATION} 를 붙이십시오 "
                   f"/ confirm: add ?confirm={RESET_CONFIRMATION} to really forget every claim")


def _not_the_insurer(config: RelayConfig, pem: str | None, event: dict[str, Any]) -> Response | None:
    """None when ``pem`` is the certificate of the insurer the event speaks for; else the 403 to answer.

    The role gate let only ``insurer`` certificates in; here the event's ``insurer_code`` must be the
    certificate's, and the certificate the one pinned for that insurer in the relay's configuration (when
    one is pinned). The receipt number is checked against the claim in :meth:`Relay.apply_event`."""
    code, claimed = certificate_insurer(pem), event["insurer_code"]
    if code != claimed:
        return forbidden(f"insurer_code: 이 인증서는 보험사 {code or '(없음)'}의 것입니다 ({claimed} 아님)",
                         f"insurer_code: this certificate belongs to insurer {code or '(none)'}, not {claimed}")
    if code not in config.insurers:
        return forbidden(f"보험사 {code}은(는) 중계기관에 연계되지 않았습니다",
                         f"insurer {code} is not connected to the relay")
    pin = config.insurer_cert_sha256.get(code)
    if pin and certificate_sha256(pem or "") != pin:
        return forbidden(f"이 인증서는 보험사 {code}로 등록된 인증서가 아닙니다",
                         f"this certificate is not the one registered for insurer {code}")
    return None

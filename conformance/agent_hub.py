"""The relay's agent endpoints, served by the suite: a provider's agent polls here and posts its replies.

For role ``provider_agent`` the suite cannot call the provider: the clinic's outbound-only agent calls the
relay (openapi.yaml ``agentPoll`` / ``agentReply``). :class:`AgentHub` stands in for the relay's side of that:
a queue of work items the suite fills, handed out on ``POST /relay/v1/agent/poll?wait=S`` (a long poll),
answered on ``POST /relay/v1/agent/replies`` (204). It records what the agent did — every poll (its body, its
wait, what it got) and every reply (accepted, duplicate, late, unknown …) — for the checks to judge, and
journals each exchange.

The relay's own queue (simulator/relay/engine.py) does not fit: it answers a repeated request_id from its
store without asking the agent again, while the suite must ask again to judge idempotency (S24-API-012/013),
and it keeps no record of how an agent polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..schemas.loader import is_valid
from ..schemas.validation import schema_findings
from ..simulator.journal import Journal, certificate_facts
from ..simulator.last_resort import LastResortMiddleware
from ..simulator.net_echo import whoami
from ..simulator.problems import BadRequest, ProblemResponse, findings_as_errors, problem, read_body, read_json
from ..simulator.relay.app import MAX_WAIT
from ..simulator.serving import Served, client_certificate, start

KST = dt.timezone(dt.timedelta(hours=9))
POLL_PATH, REPLY_PATH = "/relay/v1/agent/poll", "/relay/v1/agent/replies"
MAX_BODY = 8 * 1024 * 1024  # a reply carries a whole bundle (the relay's own limit)
DEFAULT_MAX_REQUESTS = 10  # agent.schema.json poll.max_requests when absent (as the relay)
PARTY = "agent→relay (s24kit suite)"
#: Reply outcomes that are the agent's mistake (S24-API-101): what it replied to is not a work item it holds.
MISMATCHED = frozenset({"invalid", "refused", "unknown", "not_handed_out", "wrong_operation"})


@dataclass(eq=False)
class ReplyRecord:
    """One ``POST /relay/v1/agent/replies`` and what the hub made of it."""

    at: float  # time.monotonic() on arrival
    outcome: str  # accepted, duplicate, late, withdrawn, unknown, not_handed_out, wrong_operation, invalid, refused
    status: int  # what the hub answered
    problem: str | None  # why it was not accepted, for evidence
    value: Any  # the parsed reply (None when it was not JSON)
    raw: bytes
    headers: dict[str, str]  # the request's headers, lower-case names
    exchange: str | None = None  # journal id


@dataclass(eq=False)
class WorkItem:
    """One request queued for the agent (a *delivery*: a request_id asked again is a new item)."""

    request_id: str
    operation: str
    body: dict[str, Any]
    content: bytes  # the body as the suite serialised it
    queued_at: float  # time.monotonic()
    deadline_at: float  # time.monotonic()
    deadline: str  # RFC 3339, as handed out
    withdraw: bool = False  # withdrawn the moment it is handed out: its reply gets 404 (S24-API-103)
    state: str = "queued"  # queued → leased → answered | expired; or withdrawn when handed out
    poll_exchange: str | None = None  # journal id of the poll that handed it out
    reply: ReplyRecord | None = None  # the accepted reply
    attempts: list[ReplyRecord] = field(default_factory=list)  # every reply naming it, accepted or not
    done: threading.Event = field(default_factory=threading.Event)  # answered, or (withdrawn) replied to

    def work(self) -> dict[str, Any]:
        """The item as agent.schema.json#/$defs/work lists it."""
        return {"request_id": self.request_id, "operation": self.operation, "body": self.body,
                "deadline": self.deadline}


@dataclass(frozen=True)
class PollRecord:
    """One ``POST /relay/v1/agent/poll``."""

    started: float  # time.monotonic()
    ended: float
    wait: float | None  # ?wait= as asked (None when absent or unreadable)
    status: int
    handed: tuple[str, ...]  # request ids handed out
    exchange: str  # journal id
    body: Any  # the parsed poll (None when it was not JSON)
    problem: str | None  # why it was refused


class AgentHub:
    """The queue between the suite (sync threads: :meth:`enqueue`, :meth:`settle`) and the agent (HTTP)."""

    def __init__(self, provider_code: str, journal: Journal, *, timeout: float,
                 agent_cert_sha256: str | None = None) -> None:
        self.provider_code, self.journal, self.timeout = provider_code, journal, timeout
        self.pin = agent_cert_sha256.lower() if agent_cert_sha256 else None
        self._lock = threading.Lock()
        self._queue: deque[WorkItem] = deque()
        self._items: dict[str, list[WorkItem]] = {}  # request_id → its deliveries, oldest first
        self._polls: list[PollRecord] = []
        self._replies: list[ReplyRecord] = []
        self.first_poll = threading.Event()  # set by the first accepted poll
        self.refusal: str | None = None  # why the last refused poll was refused (for "never polled")
        self.agent_certificate: dict[str, Any] | None = None  # TLS facts of the first accepted poll
        self._loop: asyncio.AbstractEventLoop | None = None  # the server's loop, known from the first poll
        self._ready: asyncio.Event | None = None  # set (on that loop) when work arrives or the hub closes
        self._closing = False
        self._served: Served | None = None
        other = ["GET", "PUT", "PATCH", "DELETE"]
        self.app = Starlette(routes=[Route(POLL_PATH, self._poll, methods=["POST"]),
                                     Route(REPLY_PATH, self._reply, methods=["POST"]),
                                     Route(POLL_PATH, self._wrong_method, methods=other),
                                     Route(REPLY_PATH, self._wrong_method, methods=other), whoami()])
        self.app.add_middleware(LastResortMiddleware, party=PARTY, journal=journal)

    # -- serving --------------------------------------------------------------------------------------------

    def start(self, host: str, port: int, tls: ssl.SSLContext) -> str:
        """Listen on ``host:port`` (0: any free port) over ``tls``; the URL (``ServeError`` when it cannot)."""
        self._served = start(self.app, host=host, port=port, tls=tls, name="agent-hub")
        return self._served.url

    def stop(self) -> None:
        """Release every long poll and stop listening."""
        with self._lock:
            self._closing = True
        self._wake()
        if self._served is not None:
            self._served.stop()
            self._served = None

    # -- the suite's side -----------------------------------------------------------------------------------

    def enqueue(self, operation: str, body: dict[str, Any], content: bytes, *, withdraw: bool = False) -> WorkItem:
        """Queue ``body`` (which carries its request_id) for the agent; its deadline is ``timeout`` from now."""
        now = time.monotonic()
        deadline = (dt.datetime.now(KST) + dt.timedelta(seconds=self.timeout)).isoformat(timespec="milliseconds")
        item = WorkItem(body["request_id"], operation, body, content, now, now + self.timeout, deadline, withdraw)
        with self._lock:
            self._queue.append(item)
            self._items.setdefault(item.request_id, []).append(item)
        self._wake()
        return item

    def settle(self, item: WorkItem) -> WorkItem:
        """Wait for ``item``'s reply until its deadline; a reply after that is late (404)."""
        item.done.wait(max(item.deadline_at - time.monotonic(), 0.0))
        with self._lock:
            if item.state in ("queued", "leased"):
                item.state = "expired"
                with contextlib.suppress(ValueError):
                    self._queue.remove(item)
            answered = item.state == "answered"
        if answered:
            item.done.wait(1.0)  # accepted just now: the reply handler is finishing its journal entry
        return item

    def polls(self) -> list[PollRecord]:
        with self._lock:
            return list(self._polls)

    def replies(self) -> list[ReplyRecord]:
        with self._lock:
            return list(self._replies)

    def _wake(self) -> None:
        with self._lock:
            loop, ready = self._loop, self._ready
        if loop is not None and ready is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already stopped
                loop.call_soon_threadsafe(ready.set)

    # -- the agent's side (on the server's event loop) ------------------------------------------------------

    def _identity(self, request: Request) -> ProblemResponse | None:
        """The 403 to answer when the caller may not speak for the provider (None when it may): as the relay,
        ``client_certificate_required`` without a certificate, ``forbidden`` for one that is not the pinned."""
        if self.pin is None:
            return None
        pem = client_certificate(request.scope)
        if pem is None:
            return problem(403, "client_certificate_required", "Client certificate required",
                           "클라이언트 인증서가 없습니다 / no client certificate")
        seen = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
        if seen != self.pin:
            return problem(403, "forbidden", "Certificate not registered",
                           f"인증서 {seen[:16]}…은(는) 등록된 {self.pin[:16]}…이(가) 아닙니다 "
                           f"/ certificate {seen[:16]}… is not the registered {self.pin[:16]}…")
        return None

    async def _poll(self, request: Request) -> Response:
        started, started_at = time.monotonic(), dt.datetime.now(dt.UTC)
        wait = _wait_of(request)
        raw, value = b"", None  # what the refusal records when the body is unreadable or too large
        try:
            raw = await read_body(request, MAX_BODY)
            value = await read_json(request, MAX_BODY)
            refused = self._refuse_poll(request, value, wait)
        except BadRequest as exc:
            refused = exc.response
        if refused is not None:
            why = _problem_text(refused)
            exchange = self._record(request, raw, refused, started_at, started)
            with self._lock:
                self.refusal = why
                self._polls.append(PollRecord(started, time.monotonic(), wait, refused.status_code, (), exchange,
                                              value, why))
            return refused
        ready = self._attach()
        self.first_poll.set()
        if self.agent_certificate is None:
            self.agent_certificate = _tls_facts(request.scope)
        until = started + (wait or 0.0)
        while True:
            ready.clear()
            handed = self._lease(value.get("max_requests", DEFAULT_MAX_REQUESTS))
            remaining = until - time.monotonic()
            if handed or self._closing or remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), remaining)
        response = JSONResponse({"requests": [item.work() for item in handed]})
        exchange = self._record(request, raw, response, started_at, started)
        with self._lock:
            for item in handed:
                item.poll_exchange = exchange
            self._polls.append(PollRecord(started, time.monotonic(), wait, 200,
                                          tuple(i.request_id for i in handed), exchange, value, None))
        return response

    async def _wrong_method(self, request: Request) -> Response:
        """A poll or reply with another method than POST: refused, and recorded so that the agent is told why."""
        started, started_at = time.monotonic(), dt.datetime.now(dt.UTC)
        try:
            raw = await read_body(request, MAX_BODY)
        except BadRequest:
            raw = b""  # too large to keep: the method is refused all the same
        refused = problem(405, "method_not_allowed", "Method not allowed",
                          f"{request.method} 대신 POST를 쓰십시오 / use POST, not {request.method}")
        exchange = self._record(request, raw, refused, started_at, started)
        why = _problem_text(refused)
        with self._lock:
            if request.url.path == POLL_PATH:
                self.refusal = why
                self._polls.append(PollRecord(started, time.monotonic(), _wait_of(request), 405, (), exchange, None,
                                              why))
            else:
                self._replies.append(ReplyRecord(started, "invalid", 405, why, None, raw,
                                                 {k.lower(): v for k, v in request.headers.items()}, exchange))
        return refused

    def _refuse_poll(self, request: Request, value: Any, wait: float | None) -> ProblemResponse | None:
        if not is_valid("agent#/$defs/poll", value):
            return problem(400, "invalid_request", "Invalid poll",
                           errors=findings_as_errors(schema_findings("agent#/$defs/poll", value)))
        if wait is None and "wait" in request.query_params:
            return problem(400, "invalid_request", "Invalid wait", f"wait: 0~{MAX_WAIT:g} 초여야 합니다 "
                           f"/ wait must be 0 to {MAX_WAIT:g} seconds")
        if (refused := self._identity(request)) is not None:
            return refused
        if value["provider_code"] != self.provider_code:
            code = value["provider_code"]
            return problem(404, "not_found", "No agent registration",
                           f"요양기관 {code}은(는) 이 시험에 등록되지 않았습니다 (시험 대상: {self.provider_code}) "
                           f"/ provider {code} is not registered with this suite (under test: {self.provider_code})")
        return None

    def _attach(self) -> asyncio.Event:
        """The wake-up event on the server's loop (made by the first poll: the hub is built outside the loop)."""
        with self._lock:
            if self._ready is None:
                self._loop, self._ready = asyncio.get_running_loop(), asyncio.Event()
            return self._ready

    def _lease(self, limit: int) -> list[WorkItem]:
        now = time.monotonic()
        handed: list[WorkItem] = []
        with self._lock:
            while self._queue and len(handed) < limit:
                item = self._queue.popleft()
                if now >= item.deadline_at:  # its asker has given up on it
                    item.state = "expired"
                    continue
                item.state = "withdrawn" if item.withdraw else "leased"
                handed.append(item)
        return handed

    async def _reply(self, request: Request) -> Response:
        started, started_at = time.monotonic(), dt.datetime.now(dt.UTC)
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw, value = b"", None  # what the refusal records when the body is unreadable or too large
        item: WorkItem | None = None
        try:
            raw = await read_body(request, MAX_BODY)
            value = await read_json(request, MAX_BODY)
            if not is_valid("agent#/$defs/reply", value):
                raise BadRequest(problem(400, "invalid_request", "Invalid reply",
                                         errors=findings_as_errors(schema_findings("agent#/$defs/reply", value))))
            if (refused := self._identity(request)) is not None:
                raise BadRequest(refused)
        except BadRequest as exc:
            outcome, response = ("refused" if exc.response.status_code == 403 else "invalid"), exc.response
        else:
            outcome, item, response = self._match(value)
        record = ReplyRecord(started, outcome, response.status_code, _problem_text(response), value, raw, headers)
        with self._lock:
            self._replies.append(record)
            if item is not None:
                item.attempts.append(record)
                if outcome == "accepted":
                    item.reply = record
        record.exchange = self._record(request, raw, response, started_at, started)
        if item is not None and outcome in ("accepted", "withdrawn"):
            item.done.set()  # after the journal entry: the asker builds its exchange from it
        return response

    def _match(self, reply: dict[str, Any]) -> tuple[str, WorkItem | None, Response]:
        """The outcome of a schema-valid reply, the delivery it names, and the answer to give."""
        rid, operation = reply["request_id"], reply["operation"]
        with self._lock:
            deliveries = self._items.get(rid, [])
            current = deliveries[-1] if deliveries else None
            if current is None:
                outcome = "unknown"
            elif current.operation != operation:
                outcome = "wrong_operation"
            elif current.state == "leased" and time.monotonic() > current.deadline_at:
                current.state, outcome = "expired", "late"  # its asker is giving up this very moment
            elif current.state == "leased":
                current.state, outcome = "answered", "accepted"
            elif current.state == "answered" or (current.state == "queued"
                                                  and any(d.state == "answered" for d in deliveries)):
                outcome = "duplicate"
            elif current.state == "queued":
                outcome = "not_handed_out"
            elif current.state == "expired":
                outcome = "late"
            else:
                outcome = "withdrawn"
        if outcome in ("accepted", "duplicate"):
            # A duplicate is recorded like the relay records it (204) and judged by S24-API-102.
            return outcome, current, Response(status_code=204)
        detail = {
            "unknown": "이 요청을 보낸 적이 없습니다 / the relay never sent this request",
            "wrong_operation": f"이 요청의 operation은 {current.operation if current else '?'}입니다 "
                               f"/ this request's operation is {current.operation if current else '?'}",
            "not_handed_out": "아직 내준 적이 없는 요청입니다 / this request was never handed out",
            "late": "기한이 지나 취소된 요청입니다 / the request's deadline has passed",
            "withdrawn": "중계기관이 취소한 요청입니다 / the relay withdrew this request",
        }[outcome]
        return outcome, current, problem(404, "not_found", "Unknown agent request", f"{rid}: {detail}",
                                         request_id=rid)

    def _record(self, request: Request, raw: bytes, response: Response, started_at: dt.datetime,
                started: float) -> str:
        client = request.client
        return self.journal.record(
            party=PARTY, method=request.method, url=str(request.url), route=request.url.path,
            request_headers=request.headers.items(), request_body=raw or None, status=response.status_code,
            response_headers=response.headers.items(), response_body=bytes(response.body) or None,
            started_at=started_at, duration_ms=(time.monotonic() - started) * 1000,
            tls_peer=_tls_facts(request.scope), peer=f"{client.host}:{client.port}" if client else None)


def _wait_of(request: Request) -> float | None:
    """``?wait=`` in seconds when present and within 0…MAX_WAIT, else None."""
    try:
        wait = float(request.query_params["wait"])
    except (KeyError, ValueError):
        return None
    return wait if 0 <= wait <= MAX_WAIT else None


def _problem_text(response: Response) -> str | None:
    """``404 not_found: detail`` of a problem response (None for a success)."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(bytes(response.body))
    except ValueError:
        return str(response.status_code)
    errors = "; ".join(f"{e.get('pointer')}: {e.get('message_en')}" for e in body.get("errors", [])[:3])
    detail = body.get("detail") or errors or body.get("title", "")
    return f"{response.status_code} {body.get('code')}: {detail}"


def _tls_facts(scope: dict[str, Any]) -> dict[str, Any] | None:
    """The agent's certificate (subject, issuer, SHA-256, expiry) and the TLS version and cipher it used."""
    tls = (scope.get("extensions") or {}).get("tls")
    if not tls:
        return None
    pem = client_certificate(scope)
    facts: dict[str, Any] = dict(certificate_facts(ssl.PEM_cert_to_DER_cert(pem))) if pem else {}
    facts["tls_version"], facts["cipher"] = tls.get("tls_version"), tls.get("cipher_suite")
    return facts

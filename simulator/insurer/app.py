"""The insurer as an ASGI app: claim intake, adjudication, status events and the admin API."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ...schemas.loader import is_valid
from ...schemas.validation import schema_findings, validate
from ..access import AccessTable, admin_only, allow, protect
from ..admin import AdminRoute, admin_routes
from ..database import DurableAnswers
from ..journal import Journal, JournalMiddleware
from ..last_resort import LastResortMiddleware
from ..payout import PayoutInputError
from ..problems import ROUTING_PROBLEMS, BadRequest, findings_as_errors, problem, read_json
from .config import Behaviour, InsurerConfig
from .delivery import deliver_due, run_forever
from .register import RegisterClient, RegisterUnavailable
from .store import InsurerStore, identity_of

SUBMISSION = "insurer-claim#/$defs/submission"
#: Who may call each insurer route (docs/security.md): claims come from the relay only.
ACCESS = AccessTable("insurer", [
    allow("/insurer/v1/health"),
    allow("/insurer/v1/claims", "relay"),
    allow("/insurer/v1/claims/{receipt_number}", "relay"),
    admin_only(),
])
RESET_CONFIRMATION = "reset"
#: Histories this insurer keeps of the person's other policies (what each owed alone), for 비례보상.
SHADOW = "other:"
KST = dt.timezone(dt.timedelta(hours=9))


class Adjudicator(Protocol):
    """Turns a claim into a payout: ``(submission, policy, history, claim_date) → (payout, history after)``."""

    def __call__(self, submission: dict[str, Any], policy: dict[str, Any], history: dict[str, Any] | None,
                 claim_date: str) -> tuple[dict[str, Any], dict[str, Any]]: ...


def _now() -> dt.datetime:
    return dt.datetime.now(KST)


def _canonical_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class SharedAdjudicator(Protocol):
    """As :class:`Adjudicator` with the person's other policies and their histories (duplicate cover):
    ``→ (payout, history after, the other policies' histories after)``."""

    def __call__(self, submission: dict[str, Any], policy: dict[str, Any], history: dict[str, Any] | None,
                 claim_date: str, others: list[tuple[dict[str, Any], dict[str, Any] | None]]
                 ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]: ...


class Insurer:
    """State and decisions of one insurer; the routes below are thin wrappers around it."""

    def __init__(self, config: InsurerConfig, store: InsurerStore, adjudicator: Adjudicator,
                 clock: Callable[[], dt.datetime], register: RegisterClient | None = None,
                 shared: SharedAdjudicator | None = None) -> None:
        self.config, self.store, self.adjudicator, self.clock = config, store, adjudicator, clock
        self.register, self.shared = register, shared

    async def other_cover(self, submission: dict[str, Any]) -> list[dict[str, Any]]:
        """The insured's policies at other insurers, from the 중복가입 register (none without a register);
        :class:`RegisterUnavailable` when the register does not answer."""
        if self.register is None or self.shared is None:
            return []
        return await self.register.other_cover(identity_of(submission["insured"]))

    def _event(self, db, receipt: str, claim_id: str, callback: str, kind: str, **extra: Any) -> None:
        sequence = db.execute("SELECT COUNT(*) FROM events WHERE receipt_number = ?", (receipt,)).fetchone()[0] + 1
        body = {"event_id": f"{receipt}-{sequence}", "claim_id": claim_id, "insurer_code": self.config.code,
                "receipt_number": receipt, "sequence": sequence, "type": kind,
                "occurred_at": self.clock().isoformat(timespec="seconds"), **extra}
        copies = 2 if self.config.behaviour is Behaviour.ACK_TWICE else 1
        db.execute("INSERT INTO events (event_id, receipt_number, sequence, body, callback_url, copies) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   (body["event_id"], receipt, sequence, json.dumps(body, ensure_ascii=False), callback, copies))
        db.execute("UPDATE claims SET state = ? WHERE receipt_number = ?", (kind, receipt))

    def accept(self, submission: dict[str, Any], request_hash: str,
               others: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Record a new claim, issue its receipt number and queue its first events (``others``: the insured's
        other 실손 policies, when the claim is decided now)."""
        received_at = self.clock().isoformat(timespec="seconds")
        with self.store.transaction() as db:
            number = self.store.next_number(db, "receipt")
            receipt = f"{self.config.code}-{self.clock():%Y%m%d}-{number:06d}"
            db.execute("INSERT INTO claims (receipt_number, claim_id, request_id, request_hash, submission, state, "
                       "received_at) VALUES (?, ?, ?, ?, ?, 'received', ?)",
                       (receipt, submission["claim_id"], submission["request_id"], request_hash,
                        json.dumps(submission, ensure_ascii=False), received_at))
            callback = submission["callback_url"]
            self._event(db, receipt, submission["claim_id"], callback, "received")
            self._event(db, receipt, submission["claim_id"], callback, "in_review")
            behaviour = self.config.behaviour
            if behaviour is Behaviour.PEND:
                db.execute("UPDATE claims SET decide_at = ? WHERE receipt_number = ?",
                           (time.time() + self.config.pend_seconds, receipt))
            elif behaviour is Behaviour.MORE_DOCUMENTS:
                self._event(db, receipt, submission["claim_id"], callback, "more_documents_required",
                            requested_documents=list(self.config.requested_documents))
            else:
                self._decide(db, receipt, submission, others or [])
        return self.acknowledgement(receipt)

    def supplement(self, claim: Any, submission: dict[str, Any], request_hash: str,
                   others: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Documents sent for a claim waiting for more: add them, review again and decide (same receipt)."""
        receipt = claim["receipt_number"]
        merged = json.loads(claim["submission"])
        held = {(d["visit_id"], d["document_type"]) for d in merged["documents"]}
        merged["documents"] += [d for d in submission["documents"] if (d["visit_id"], d["document_type"]) not in held]
        with self.store.transaction() as db:
            db.execute("INSERT INTO supplements VALUES (?, ?, ?)", (submission["request_id"], receipt, request_hash))
            db.execute("UPDATE claims SET submission = ? WHERE receipt_number = ?",
                       (json.dumps(merged, ensure_ascii=False), receipt))
            self._event(db, receipt, merged["claim_id"], merged["callback_url"], "in_review")
            self._decide(db, receipt, merged, others or [])
        return self.acknowledgement(receipt)

    def _decide(self, db, receipt: str, submission: dict[str, Any], others: list[dict[str, Any]]) -> None:
        claim_id, callback = submission["claim_id"], submission["callback_url"]
        if self.config.behaviour is Behaviour.DENY:
            self._event(db, receipt, claim_id, callback, "denied", reason_code=self.config.deny_reason,
                        reason="보험사 설정에 따른 부지급 (시뮬레이터) / denied by the simulator's configuration")
            return
        policy = self._policy_for(submission)
        if policy is None:
            self._event(db, receipt, claim_id, callback, "denied", reason_code="NO_POLICY",
                        reason="피보험자의 계약을 찾을 수 없습니다 / no policy for this insured person")
            return
        history = self.store.history(policy["policy_number"])
        try:
            if others:
                assert self.shared is not None
                payout, after, shadows = self.shared(
                    submission, policy, history, self.clock().date().isoformat(),
                    [(other, self.store.history(f"{SHADOW}{other['policy_number']}")) for other in others])
                for other, shadow in zip(others, shadows, strict=True):
                    db.execute("INSERT OR REPLACE INTO histories VALUES (?, ?)",
                               (f"{SHADOW}{other['policy_number']}", json.dumps(shadow, ensure_ascii=False)))
            else:
                payout, after = self.adjudicator(submission, policy, history, self.clock().date().isoformat())
        except PayoutInputError as exc:  # the claim itself is wrong: deny it with the reason, never crash
            self._event(db, receipt, claim_id, callback, "denied", reason_code="INVALID_CLAIM",
                        reason=f"{exc.field}: {exc.message_ko} / {exc.message_en}"[:500])
            return
        db.execute("INSERT OR REPLACE INTO histories VALUES (?, ?)",
                   (policy["policy_number"], json.dumps(after, ensure_ascii=False)))
        db.execute("UPDATE claims SET payout = ?, policy_number = ?, decide_at = NULL WHERE receipt_number = ?",
                   (json.dumps(payout, ensure_ascii=False), policy["policy_number"], receipt))
        if payout["total"] > 0:
            self._event(db, receipt, claim_id, callback, "paid", payout=payout)
        else:
            self._event(db, receipt, claim_id, callback, "denied", reason_code="NOTHING_PAYABLE", payout=payout,
                        reason="지급할 보험금이 없습니다 (산정 내역 참조) / nothing payable, see the breakdown")

    def _policy_for(self, submission: dict[str, Any]) -> dict[str, Any] | None:
        policies = self.store.policies_for(identity_of(submission["insured"]))
        wanted = submission.get("policy_number")
        matching = [p for p in policies if wanted in (None, p["policy_number"])]
        return matching[0] if matching else None

    async def decide_pending(self, receipt: str | None = None) -> int:
        """Decide pended claims that are due (or the one named); one whose register lookup fails stays pending."""
        if receipt is None:
            rows = self.store.query("SELECT receipt_number, submission FROM claims WHERE decide_at IS NOT NULL "
                                    "AND decide_at <= ?", time.time())
        else:
            rows = self.store.query("SELECT receipt_number, submission FROM claims WHERE receipt_number = ? "
                                    "AND decide_at IS NOT NULL", receipt)
        decided = 0
        for row in rows:
            submission = json.loads(row["submission"])
            try:
                others = await self.other_cover(submission)
            except RegisterUnavailable:
                continue
            await asyncio.to_thread(self._decide_alone, row["receipt_number"], submission, others)
            decided += 1
        return decided

    def _decide_alone(self, receipt: str, submission: dict[str, Any], others: list[dict[str, Any]]) -> None:
        with self.store.transaction() as db:
            self._decide(db, receipt, submission, others)

    def acknowledgement(self, receipt: str) -> dict[str, Any]:
        row = self.store.claim(receipt)
        return {"claim_id": row["claim_id"], "insurer_code": self.config.code, "receipt_number": receipt,
                "status": "received", "received_at": row["received_at"]}

    def status(self, receipt: str) -> dict[str, Any] | None:
        row = self.store.claim(receipt)
        if row is None:
            return None
        return {"receipt_number": receipt, "claim_id": row["claim_id"], "insurer_code": self.config.code,
                "state": row["state"], "events": self.store.events_of(receipt)}


def _foreign_callback(config: InsurerConfig, submission: dict[str, Any]) -> Response | None:
    """400 naming ``callback_url`` unless it is an event URL under the configured relay: the insurer posts
    nowhere else, whoever submits."""
    base = (config.relay_base or "").rstrip("/")
    if base and _under(submission["callback_url"], base, submission["claim_id"]):
        return None
    where = base or "(설정 없음 / not configured)"
    return problem(400, "invalid_request", "callback_url not allowed",
                   f"callback_url: 이 보험사는 중계기관 {where} 의 /relay/v1/claims/{{claim_id}}/events 로만 사건을 "
                   f"보냅니다 / callback_url: this insurer posts events only to the relay's "
                   f"{where}/relay/v1/claims/{{claim_id}}/events",
                   request_id=submission["request_id"])


def _under(url: str, base: str, claim_id: str) -> bool:
    """True when ``url`` is exactly the relay's event URL for ``claim_id``
    (``{base}/relay/v1/claims/{claim_id}/events``, same origin): no user info, query, fragment,
    percent-escape, parameter (``;``) or dot segment to play with."""
    try:
        got, want = urlsplit(url), urlsplit(base)
        same_origin = (got.scheme, got.hostname, got.port) == (want.scheme, want.hostname, want.port)
    except ValueError:
        return False
    expected = f"{want.path.rstrip('/')}/relay/v1/claims/{claim_id}/events"
    return (same_origin and "@" not in got.netloc and got.path == expected and not got.query and not got.fragment
            and not any(c in got.path for c in "%;\\") and ".." not in got.path and "/./" not in got.path)


def explanation_text(payout: dict[str, Any], lang: str) -> str:
    """A plain-text statement of the payout lines, ending in the total."""
    label = "label_ko" if lang == "ko" else "label_en"
    width = max((len(line[label]) for line in payout["lines"]), default=10) + 2
    rows = [f"{line[label]:<{width}}{line['amount']:>14,}원" for line in payout["lines"]]
    total = "지급액 합계" if lang == "ko" else "Total payout"
    return "\n".join([*rows, "-" * (width + 15), f"{total:<{width}}{payout['total']:>14,}원"]) + "\n"


def create_insurer_app(config: InsurerConfig, *, adjudicator: Adjudicator, database: Path | str = ":memory:",
                       http_client: httpx.AsyncClient | None = None, clock: Callable[[], dt.datetime] = _now,
                       deliver: bool = True, journal: Journal | None = None,
                       register: RegisterClient | None = None, shared: SharedAdjudicator | None = None) -> Starlette:
    """The insurer's ASGI app. Events go out through ``http_client`` (an httpx client to the relay).

    ``journal`` records every exchange the insurer receives (the stack leaves it out: the relay's client
    already records its calls to the insurer)."""
    store = InsurerStore(database)
    events_queued = asyncio.Event()
    insurer = Insurer(config, store, adjudicator, clock, register, shared)

    async def submit(request: Request) -> Response:
        if config.behaviour is Behaviour.UNAVAILABLE:
            return problem(503, "service_unavailable", "Service unavailable",
                           "보험사 시스템 점검 중 (시뮬레이터 설정) / unavailable by configuration")
        try:
            body = await read_json(request, config.max_body_bytes)
        except BadRequest as exc:
            return exc.response
        if not is_valid(SUBMISSION, body):
            return problem(400, "invalid_request", "Invalid claim submission",
                           errors=findings_as_errors(schema_findings(SUBMISSION, body)))
        if (refused := _foreign_callback(config, body)) is not None:
            return refused
        if body["insurer_code"] != config.code:
            return problem(400, "invalid_request", "Wrong insurer",
                           f"이 보험사의 코드는 {config.code}입니다 / this insurer is {config.code}",
                           request_id=body["request_id"])
        findings = [f for f in validate(body["documents"]) if f.severity == "error"]
        if findings:
            return problem(422, "document_invalid", "Invalid documents",
                           f"서류 규칙 위반 {len(findings)}건 / {len(findings)} rule violations",
                           errors=findings_as_errors(findings), request_id=body["request_id"])
        request_hash = _canonical_hash(body)
        existing = store.claim_by_request(body["request_id"])
        if existing is not None:
            if existing["request_hash"] != request_hash:
                return problem(409, "idempotency_conflict", "request_id reused",
                               "같은 request_id로 다른 내용을 보냈습니다 / same request_id, different body",
                               request_id=body["request_id"])
            return JSONResponse(insurer.acknowledgement(existing["receipt_number"]), status_code=202)
        if config.behaviour is Behaviour.SLOW:
            await asyncio.sleep(config.delay_ms / 1000)
        waiting = store.awaiting_documents(body["claim_id"])
        decided_now = waiting is not None or config.behaviour not in (Behaviour.PEND, Behaviour.MORE_DOCUMENTS,
                                                                      Behaviour.DENY)
        try:
            others = await insurer.other_cover(body) if decided_now else []
        except RegisterUnavailable as exc:  # sharing needs the other policies: better later than wrong
            return problem(503, "service_unavailable", "Contract register unavailable",
                           f"중복가입 조회가 응답하지 않습니다 — 나중에 다시 보내십시오 ({exc}) "
                           f"/ the contract register did not answer — send again later ({exc})",
                           request_id=body["request_id"])
        if waiting is not None:
            answer = insurer.supplement(waiting, body, request_hash, others)
        else:
            answer = insurer.accept(body, request_hash, others)
        events_queued.set()  # deliver the new events now, not at the next tick
        return JSONResponse(answer, status_code=202)

    async def claim_status(request: Request) -> Response:
        found = insurer.status(request.path_params["receipt_number"])
        if found is None:
            return problem(404, "not_found", "Unknown receipt number")
        return JSONResponse(found)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "profile": "kit-v1", "software": f"s24kit fake insurer {config.code}"})

    # -- admin ------------------------------------------------------------------------------------------

    async def list_policies(request: Request) -> Response:
        return JSONResponse(store.all_policies())

    async def load_policies(request: Request) -> Response:
        try:
            body = await read_json(request)
        except BadRequest as exc:
            return exc.response
        entries = body if isinstance(body, list) else [body]
        for i, entry in enumerate(entries):
            if not (isinstance(entry, dict) and isinstance(entry.get("policy"), dict)
                    and isinstance(entry["policy"].get("policy_number"), str)
                    and isinstance(entry.get("identity_token"), str)):
                return problem(400, "invalid_request", "Invalid policy entry",
                               f"/{i}: identity_token 과 policy.policy_number 가 필요합니다 "
                               "/ expected identity_token and policy.policy_number")
        for entry in entries:
            store.put_policy(entry["policy"], entry["identity_token"])
        return JSONResponse({"loaded": len(entries)})

    async def list_claims(request: Request) -> Response:
        return JSONResponse([{"receipt_number": r["receipt_number"], "claim_id": r["claim_id"], "state": r["state"],
                              "payout_total": json.loads(r["payout"])["total"] if r["payout"] else None}
                             for r in store.claims()])

    async def explanation(request: Request) -> Response:
        row = store.claim(request.path_params["receipt_number"])
        if row is None or row["payout"] is None:
            return problem(404, "not_found", "No adjudication for this receipt number")
        payout = json.loads(row["payout"])
        if request.query_params.get("format") == "json":
            return JSONResponse(payout)
        return PlainTextResponse(explanation_text(payout, request.query_params.get("lang", "ko")))

    async def decide(request: Request) -> Response:
        decided = await insurer.decide_pending(request.path_params["receipt_number"])
        if not decided:
            return problem(404, "not_found", "No pending claim with this receipt number")
        return JSONResponse({"decided": decided})

    async def events(request: Request) -> Response:
        rows = store.query("SELECT event_id, status, attempts, last_error FROM events ORDER BY receipt_number, "
                           "sequence")
        return JSONResponse([dict(r) for r in rows])

    async def reset(request: Request) -> Response:
        if request.query_params.getlist("confirm") != [RESET_CONFIRMATION]:
            return problem(400, "invalid_request", "Reset not confirmed",
                           f"confirm: 모두 지우려면 ?confirm={RESET_CONFIRMATION} 를 붙이십시오 "
                           f"/ confirm: add ?confirm={RESET_CONFIRMATION} to really forget everything")
        store.reset()
        return Response(status_code=204)

    admin_table = [  # one table of every admin route; GET /__admin/ lists it
        AdminRoute("GET", "/__admin/policies", list_policies, "적재된 계약", "policies loaded"),
        AdminRoute("POST", "/__admin/policies", load_policies, "계약 적재: [{identity_token, policy}]",
                   "load policies: [{identity_token, policy}]"),
        AdminRoute("GET", "/__admin/claims", list_claims, "청구 목록 (상태, 지급 합계)",
                   "claims with state and payout total"),
        AdminRoute("GET", "/__admin/claims/{receipt_number}/explanation", explanation,
                   "지급 산정 설명 (?lang=ko|en&format=json)", "payout explanation (?lang=ko|en&format=json)"),
        AdminRoute("POST", "/__admin/claims/{receipt_number}/decide", decide, "보류 청구 즉시 심사",
                   "decide a pended claim now"),
        AdminRoute("GET", "/__admin/events", events, "이벤트 전달 상태", "event delivery status"),
        AdminRoute("POST", "/__admin/reset", reset, "모두 지우기 (?confirm=reset 필수, 접수번호는 이어짐)",
                   "forget everything (needs ?confirm=reset; receipt numbers continue)"),
    ]
    routes = [Route("/insurer/v1/claims", submit, methods=["POST"]),
              Route("/insurer/v1/claims/{receipt_number}", claim_status, methods=["GET"]),
              Route("/insurer/v1/health", health, methods=["GET"])]
    routes += admin_routes(admin_table, f"s24kit 보험사 {config.code} 관리 / fake insurer {config.code} admin")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        client = http_client or httpx.AsyncClient(timeout=5.0)

        async def tick() -> None:
            # a thread hop for every tick of every insurer cost a tenth of the simulator's time (docs/performance.md
            # §2.1); a pended claim is rare, and finding one is an indexed lookup
            if store.query("SELECT 1 FROM claims WHERE decide_at IS NOT NULL LIMIT 1"):
                await insurer.decide_pending()
            while await deliver_due(store, client, config.retry):
                pass  # a claim's next event is due as soon as the previous one is delivered

        task = asyncio.create_task(run_forever(tick, wake=events_queued)) if deliver else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if http_client is None:
                await client.aclose()
            if register is not None:
                await register.aclose()
            store.close()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=ROUTING_PROBLEMS)
    protect(app, ACCESS)
    app.add_middleware(LastResortMiddleware, party=f"insurer {config.code}")
    app.add_middleware(DurableAnswers, store=store)  # no receipt before its commit is on disk
    if journal is not None:
        app.add_middleware(JournalMiddleware, journal=journal, party=f"→insurer:{config.code}")
    app.state.insurer = insurer
    return app

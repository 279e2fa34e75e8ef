"""Requests waiting for outbound-only providers: queued in the relay's store, leased to the provider's agent
when it polls, answered when it replies. Who may poll for a provider is checked here too."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..pki import certificate_sha256
from ..problems import problem_body
from .config import Mode, ProviderRegistration
from .outcomes import Answer, Retryable, Waiting, judge
from .store import RelayStore

KST = dt.timezone(dt.timedelta(hours=9))
LEASE_SECONDS = 10.0


class AgentQueue:
    """The agent side of the relay, over its store."""

    def __init__(self, store: RelayStore, registration: Callable[[str], ProviderRegistration | None],
                 deadline: float, on_answer: Callable[[], None]) -> None:
        self.store, self.registration, self.deadline, self.on_answer = store, registration, deadline, on_answer
        self._signals: dict[str, asyncio.Event] = {}

    def ask(self, registration: ProviderRegistration, operation: str,
            body: dict[str, Any]) -> tuple[int, dict[str, Any]] | tuple[Waiting, None]:
        """The agent's answer to ``body`` if it came, else queue it (again, once its deadline passed)."""
        now = time.time()
        rows = self.store.query("SELECT * FROM agent_work WHERE request_id = ?", body["request_id"])
        if rows and rows[0]["state"] == "answered":
            return judge(rows[0]["reply_status"], json.loads(rows[0]["reply_body"]))
        deadline = now + self.deadline
        with self.store.transaction() as db:
            if not rows:
                db.execute("INSERT INTO agent_work (request_id, provider_code, operation, body, deadline) "
                           "VALUES (?, ?, ?, ?, ?)", (body["request_id"], registration.code, operation,
                                                      json.dumps(body, ensure_ascii=False), deadline))
            elif rows[0]["deadline"] <= now:
                db.execute("UPDATE agent_work SET state = 'queued', deadline = ?, leased_until = 0 "
                           "WHERE request_id = ?", (deadline, body["request_id"]))
                raise Retryable("the provider's agent did not answer before the deadline")
            else:
                deadline = rows[0]["deadline"]
        self._signal(registration.code).set()
        return Waiting(deadline), None

    def _signal(self, code: str) -> asyncio.Event:
        return self._signals.setdefault(code, asyncio.Event())

    def wake_all(self) -> None:
        """Let every waiting poll look again (another relay worker may have queued work)."""
        for signal in self._signals.values():
            signal.set()

    def identity(self, code: str, peer_ip: str | None, certificate_pem: str | None) -> Answer | None:
        """None when the caller may speak for provider ``code``; else the problem to answer."""
        registration = self.registration(code)
        if registration is None or registration.mode is not Mode.AGENT:
            return 404, problem_body(404, "not_found", "No agent registration",
                                     f"요양기관 {code}은(는) 에이전트 방식으로 등록되지 않았습니다 "
                                     f"/ provider {code} is not registered for agent mode")
        if registration.source_ip and peer_ip != registration.source_ip:
            return 403, problem_body(403, "source_ip_not_allowed", "Source address not registered",
                                     f"접속 주소 {peer_ip}은(는) 등록된 주소 {registration.source_ip}와 다릅니다 "
                                     f"/ connection from {peer_ip}, registered address is {registration.source_ip}")
        if registration.agent_cert_sha256:
            if certificate_pem is None:
                return 403, problem_body(403, "client_certificate_required", "Client certificate required",
                                         "에이전트 인증서가 필요합니다 / the agent must present its client certificate")
            seen = certificate_sha256(certificate_pem)
            if seen != registration.agent_cert_sha256:
                return 403, problem_body(403, "forbidden", "Certificate not registered",
                                         f"인증서 {seen[:16]}…은(는) 이 요양기관에 등록되지 않았습니다 / certificate "
                                         f"{seen[:16]}… is not registered for provider {code}")
        return None

    async def poll(self, code: str, max_requests: int, wait: float,
                   gone: Callable[[], Awaitable[bool]] | None = None) -> dict[str, Any]:
        """Lease up to ``max_requests`` queued requests, waiting up to ``wait`` seconds for one to arrive.
        ``gone`` says whether the agent has hung up: its poll then leases nothing (the work stays queued for
        the next poll instead of waiting out a lease nobody will answer)."""
        deadline = time.monotonic() + wait
        while True:
            if gone is not None and await gone():
                return {"requests": []}
            work = self._lease(code, max_requests)
            remaining = deadline - time.monotonic()
            if work or remaining <= 0:
                return {"requests": work}
            signal = self._signal(code)
            signal.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), min(remaining, 1.0))

    def _lease(self, code: str, limit: int) -> list[dict[str, Any]]:
        now = time.time()
        with self.store.transaction() as db:
            rows = db.execute("SELECT * FROM agent_work WHERE provider_code = ? AND deadline > ? AND (state = "
                              "'queued' OR (state = 'leased' AND leased_until <= ?)) ORDER BY rowid LIMIT ?",
                              (code, now, now, limit)).fetchall()
            for row in rows:
                db.execute("UPDATE agent_work SET state = 'leased', leased_until = ? WHERE request_id = ?",
                           (now + LEASE_SECONDS, row["request_id"]))
        return [{"request_id": r["request_id"], "operation": r["operation"], "body": json.loads(r["body"]),
                 "deadline": dt.datetime.fromtimestamp(r["deadline"], KST).isoformat(timespec="seconds")}
                for r in rows]

    def provider_of(self, request_id: str) -> str | None:
        rows = self.store.query("SELECT provider_code FROM agent_work WHERE request_id = ?", request_id)
        return rows[0]["provider_code"] if rows else None

    def reply(self, code: str, reply: dict[str, Any]) -> Answer:
        """Store an agent's answer and wake the task waiting for it."""
        with self.store.transaction() as db:
            row = db.execute("SELECT * FROM agent_work WHERE request_id = ? AND provider_code = ?",
                             (reply["request_id"], code)).fetchone()
            if row is None or row["operation"] != reply["operation"]:
                return 404, problem_body(404, "not_found", "Unknown agent request",
                                         f"요청 {reply['request_id']}을(를) 보낸 적이 없습니다 / no such request "
                                         f"{reply['request_id']} for provider {code}")
            if row["state"] == "answered":
                return 200, {"request_id": reply["request_id"], "status": "duplicate"}
            db.execute("UPDATE agent_work SET state = 'answered', reply_status = ?, reply_body = ? "
                       "WHERE request_id = ?", (reply["status"], json.dumps(reply["body"], ensure_ascii=False),
                                                reply["request_id"]))
            # the task waiting for this answer (a claim's fetch or an additional claim's) looks again now
            db.execute("UPDATE tasks SET next_at = ? WHERE state = 'pending' AND kind IN ('fetch', 'more') AND "
                       "claim_id IN (SELECT claim_id FROM claims WHERE provider_code = ?)", (time.time(), code))
        self.on_answer()
        return 200, {"request_id": reply["request_id"], "status": "accepted"}

"""The relay's work: take patient claims, pull documents (or queue them for agents), forward them to
insurers, apply their events in order. State lives in :class:`RelayStore`; this class only moves it on.

Every call to another party is a *task* in the store with attempts and a due time, so retries with
backoff, the dead-letter state and resuming after a restart are the same mechanism.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from ...schemas.loader import is_valid
from ...schemas.validation import validate
from ..problems import problem_body
from .agents import AgentQueue
from .config import ConfigError, Mode, ProviderRegistration, RelayConfig, check_provider_host, host_allowed
from .outcomes import Answer, Permanent, Retryable, Waiting, judge
from .states import FINAL, claim_state, may_apply, rank
from .store import RelayStore

KST = dt.timezone(dt.timedelta(hours=9))
#: Seconds between two looks at whether another relay worker committed something (several workers only).
OTHER_WORKERS_INTERVAL = 0.025
ALL_TYPES = ("medical_receipt", "itemised_statement", "prescription", "pharmacy_receipt")


def _now() -> dt.datetime:
    return dt.datetime.now(KST)


class Relay:
    """The relay's behaviour over its store; one instance per relay app."""

    def __init__(self, config: RelayConfig, store: RelayStore, client: httpx.AsyncClient, *,
                 clock: Callable[[], dt.datetime] = _now) -> None:
        self.config, self.store, self.client, self.clock = config, store, client, clock
        self._wake = asyncio.Event()
        self._busy: set[int] = set()
        self._watchers: dict[str, asyncio.Event] = {}  # claim id → set when its state changes
        self.worker = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # the owner of the tasks this relay leases
        if not config.shared_database:
            store.release_leases()  # alone on its database: what a crashed run held is free again
        for registration in config.providers:
            check_provider_host(registration, config.allowed_provider_hosts, f"provider {registration.code}")
        # one transaction: a vendor's server registers thousands of clinics, one fsync each took minutes
        store.put_providers([registration.as_dict() for registration in config.providers])
        self.agents = AgentQueue(store, self.registration, config.agent_deadline, self._wake.set)

    # -- registry -----------------------------------------------------------------------------------------

    def registration(self, code: str) -> ProviderRegistration | None:
        rows = self.store.query("SELECT body FROM providers WHERE code = ?", code)
        try:
            return ProviderRegistration.from_dict(json.loads(rows[0]["body"])) if rows else None
        except ConfigError:  # stored under older rules (an agent without its pins): not used until registered again
            return None

    def _registered(self, code: str) -> ProviderRegistration:
        if (registration := self.registration(code)) is None:
            raise Permanent(f"provider {code} is not registered")
        return registration

    # -- patient claims -----------------------------------------------------------------------------------

    def submit(self, claim: dict[str, Any]) -> Answer:
        """Accept a schema-valid patient claim: 202 with its status, or the existing one for a repeat."""
        digest = _digest(claim)
        if (existing := self.store.claim_by_request(claim["request_id"])) is not None:
            if existing["request_hash"] != digest:
                return 409, problem_body(409, "idempotency_conflict", "request_id reused",
                                         "같은 request_id로 다른 청구를 보냈습니다 / same request_id, different claim",
                                         request_id=claim["request_id"])
            return 200, self.status(existing["claim_id"])
        if (refused := self._refuse(claim)) is not None:
            return refused
        now = self.clock()
        with self.store.transaction() as db:
            claim_id = f"CLM-{now:%Y%m%d}-{self.store.next_number(db, 'claim'):06d}"
            db.execute("INSERT INTO claims (claim_id, request_id, request_hash, body, provider_code, state, "
                       "visit_ids, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'requested', ?, ?, ?)",
                       (claim_id, claim["request_id"], digest, json.dumps(claim, ensure_ascii=False),
                        claim["provider_code"], json.dumps(claim.get("visit_ids")), now.isoformat(timespec="seconds"),
                        now.isoformat(timespec="seconds")))
            for code in claim["insurers"]:
                db.execute("INSERT INTO claim_insurers (claim_id, insurer_code, state) VALUES (?, ?, 'requested')",
                           (claim_id, code))
            self.store.add_task(db, claim_id, "fetch", claim["provider_code"])
        self._wake.set()
        return 202, self.status(claim_id)

    def _refuse(self, claim: dict[str, Any]) -> Answer | None:
        code = claim["provider_code"]
        if self.registration(code) is None:
            return 404, problem_body(404, "not_found", "Provider not connected",
                                     f"요양기관 {code}은(는) 중계기관에 등록되지 않았습니다 / provider {code} is not "
                                     "registered with the relay", request_id=claim["request_id"])
        unknown = [c for c in claim["insurers"] if c not in self.config.insurers]
        if unknown:
            return 400, problem_body(400, "invalid_request", "Unknown insurer",
                                     f"insurers: 연계되지 않은 보험사 {', '.join(unknown)} / not connected: "
                                     f"{', '.join(unknown)}", request_id=claim["request_id"])
        outside = sorted(set(claim.get("document_types", [])) - set(claim["consent"]["scope"]))
        if outside:
            return 400, problem_body(400, "invalid_consent", "Documents outside the consent",
                                     f"document_types: 동의 범위 밖 {', '.join(outside)} / not consented: "
                                     f"{', '.join(outside)}", request_id=claim["request_id"])
        return None

    def status(self, claim_id: str) -> dict[str, Any] | None:
        """The claim-status message (schemas/kit-v1/claim-status.schema.json)."""
        row = self.store.claim_summary(claim_id)
        if row is None:
            return None
        insurers = []
        for ins in self.store.insurers_of(claim_id):
            entry: dict[str, Any] = {"insurer_code": ins["insurer_code"], "state": ins["state"],
                                     "last_event_sequence": ins["last_sequence"]}
            if ins["receipt_number"]:
                entry["receipt_number"] = ins["receipt_number"]
            if ins["payout_total"] is not None:
                entry["payout_total"] = ins["payout_total"]
            if ins["error"]:
                entry["error"] = ins["error"][:500]
            insurers.append(entry)
        return {"claim_id": claim_id, "request_id": row["request_id"], "state": row["state"],
                "provider_code": row["provider_code"], "created_at": row["created_at"],
                "updated_at": row["updated_at"], "insurers": insurers}

    def _restate(self, db: Any, claim_id: str) -> None:
        states = [r["state"] for r in db.execute("SELECT state FROM claim_insurers WHERE claim_id = ?", (claim_id,))]
        db.execute("UPDATE claims SET state = ?, updated_at = ? WHERE claim_id = ?",
                   (claim_state(states), self.clock().isoformat(timespec="seconds"), claim_id))
        if (watcher := self._watchers.get(claim_id)) is not None:
            watcher.set()

    async def settled(self, claim_id: str, wait: float) -> dict[str, Any] | None:
        """The claim's status once it is final, or after ``wait`` seconds (a long poll for patient apps)."""
        deadline = time.monotonic() + wait
        while True:
            status = self.status(claim_id)
            remaining = deadline - time.monotonic()
            if status is None or status["state"] in FINAL or remaining <= 0:
                return status
            watcher = self._watchers.setdefault(claim_id, asyncio.Event())
            watcher.clear()
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watcher.wait(), remaining)
            finally:
                self._watchers.pop(claim_id, None)

    # -- the work loop ------------------------------------------------------------------------------------

    def _take_due(self) -> list[Any]:
        """Due tasks nobody is running yet, leased to this worker (before any await, and in the database, so
        neither this worker nor another takes them again while the lease holds)."""
        due = self.store.lease_due(self.worker, time.time(), self.config.lease_seconds)
        self._busy.update(row["task_id"] for row in due)
        return due

    async def step(self) -> int:
        """Run every due task once (concurrently) and wait for them; returns how many ran."""
        due = self._take_due()
        if due:
            await asyncio.gather(*(self._run(row) for row in due))
        return len(due)

    async def run(self) -> None:
        """Work until cancelled. Each due task runs on its own, so a slow insurer does not hold up the next
        claim's fetch; between tasks the loop sleeps until one is due or something wakes it."""
        running: set[asyncio.Task[None]] = set()
        others = asyncio.create_task(self._watch_other_workers()) if self.config.shared_database else None
        renew_at = time.monotonic() + self.config.lease_seconds / 3
        try:
            while True:
                try:
                    if self._busy and time.monotonic() >= renew_at:  # still running: keep the others away
                        self.store.renew_leases(self.worker, time.time() + self.config.lease_seconds)
                        renew_at = time.monotonic() + self.config.lease_seconds / 3
                    for row in self._take_due():
                        task = asyncio.create_task(self._run(row))
                        running.add(task)
                        task.add_done_callback(running.discard)
                    pause = self._pause()
                except Exception:  # a broken row must not stop the relay; it stays pending and is retried
                    pause = 0.5
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    # not wait_for: on 3.11 a wake-up racing the cancellation at shutdown swallows the
                    # cancellation, and this loop (and whoever awaits it) would run forever
                    async with asyncio.timeout(pause):
                        await self._wake.wait()
        finally:
            if others is not None:
                others.cancel()
            for task in running:
                task.cancel()
            await asyncio.gather(*running, *([others] if others else []), return_exceptions=True)

    def _pause(self) -> float:
        """Seconds until the next task nobody holds is due (at most half a second)."""
        rows = self.store.query("SELECT MIN(MAX(next_at, leased_until)) AS due FROM tasks WHERE state = 'pending' "
                                "AND (lease_owner IS NULL OR lease_owner != ?)", self.worker)
        due = rows[0]["due"]
        return 0.5 if due is None else min(max(due - time.time(), 0.0), 0.5)

    async def _watch_other_workers(self) -> None:
        """Several workers: what another one commits (a claim's new state, a task it queued) wakes this one's
        long polls and work loop. SQLite's ``data_version`` changes when another connection commits; looking
        at it costs one query per interval, however many polls wait."""
        seen = None
        while True:
            with contextlib.suppress(Exception):  # a busy or closing database: look again next time
                version = self.store.query("PRAGMA data_version")[0][0]
                if seen is not None and version != seen:
                    for watcher in self._watchers.values():
                        watcher.set()
                    self.agents.wake_all()
                    self._wake.set()
                seen = version
            await asyncio.sleep(OTHER_WORKERS_INTERVAL)

    async def _run(self, row: Any) -> None:
        try:
            work = {"fetch": self._fetch, "forward": self._forward, "more": self._fetch_more,
                    "forward-more": self._forward_more}[row["kind"]]
            try:
                outcome = await work(row)
            except Permanent as exc:
                self._finish(row, "dead", str(exc), retry=False)
                return
            except Retryable as exc:
                self._finish(row, "pending", str(exc), retry=True)
                return
            except Exception as exc:  # the relay's own fault (a bug, a closed client): back off like a failure
                self._finish(row, "pending", f"relay error: {type(exc).__name__}: {exc}"[:480], retry=True)
                return
            if isinstance(outcome, Waiting):
                with self.store.transaction() as db:
                    db.execute("UPDATE tasks SET next_at = ?, lease_owner = NULL, leased_until = 0 WHERE task_id = ?",
                               (outcome.until, row["task_id"]))
            # else the work marked its task done in the transaction that recorded its result (_done)
        finally:
            self._busy.discard(row["task_id"])
            self._wake.set()  # the loop looks again: this task may have queued others, or be due again

    @staticmethod
    def _done(db: Any, task: Any) -> None:
        """Mark ``task`` done inside the transaction that records what it achieved: one commit, not two, and
        never a result recorded with its task still pending (which ran it again after a crash)."""
        db.execute("UPDATE tasks SET state = 'done', last_error = NULL, lease_owner = NULL WHERE task_id = ?",
                   (task["task_id"],))

    def _finish(self, row: Any, state: str, error: str, *, retry: bool) -> None:
        attempts = row["attempts"] + 1
        if retry and attempts >= self.config.retry.attempts:
            state, error = "dead", f"{error} (after {attempts} attempts)"
        with self.store.transaction() as db:
            db.execute("UPDATE tasks SET state = ?, attempts = ?, next_at = ?, last_error = ?, lease_owner = NULL, "
                       "leased_until = 0 WHERE task_id = ?",
                       (state, attempts, time.time() + self.config.retry.delay(attempts), error, row["task_id"]))
            if state == "dead":
                insurers, where = _concerned(row)
                if row["kind"] == "fetch":
                    db.execute("UPDATE claims SET error = ? WHERE claim_id = ?", (error, row["claim_id"]))
                db.execute(f"UPDATE claim_insurers SET state = 'failed', error = ? WHERE claim_id = ? {where}",
                           (f"provider: {error}" if row["kind"] in ("fetch", "more") else error, row["claim_id"],
                            *insurers))
                self._restate(db, row["claim_id"])

    def retry_dead(self, task_id: int) -> bool:
        """Put a dead letter back in the queue (admin)."""
        with self.store.transaction() as db:
            row = db.execute("SELECT * FROM tasks WHERE task_id = ? AND state = 'dead'", (task_id,)).fetchone()
            if row is None:
                return False
            db.execute("UPDATE tasks SET state = 'pending', attempts = 0, next_at = ? WHERE task_id = ?",
                       (time.time(), task_id))
            insurers, where = _concerned(row)
            before = {"fetch": "requested", "forward": "fetched"}.get(row["kind"], "more_documents_required")
            db.execute(f"UPDATE claim_insurers SET state = ?, error = NULL WHERE claim_id = ? AND state = 'failed' "
                       f"{where}", (before, row["claim_id"], *insurers))
            self._restate(db, row["claim_id"])
        self._wake.set()
        return True

    async def wait_for(self, claim_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """Run the loop until the claim reaches a final state (tests and the demo); returns its status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(claim_id)
            if status and status["state"] in FINAL:
                return status
            if not await self.step():
                await asyncio.sleep(0.01)
        raise TimeoutError(f"claim {claim_id} still {self.status(claim_id)['state']} after {timeout} s")

    # -- fetching from the provider ------------------------------------------------------------------------

    async def _fetch(self, task: Any) -> Waiting | None:
        claim_row = self.store.claim(task["claim_id"])
        registration = self._registered(task["target"])
        claim = json.loads(claim_row["body"])
        claim_id = claim_row["claim_id"]
        patient = {k: claim["insured"][k] for k in ("name", "birth_date", "identity_token")}
        visit_ids = json.loads(claim_row["visit_ids"] or "null")
        if not visit_ids:
            status, answer = await self._ask(registration, "visits:search", {
                "request_id": f"{claim_id}.search", "patient": patient, "period": claim["period"],
                "consent": claim["consent"]})
            if isinstance(status, Waiting):
                return status
            if not is_valid("visit-search#/$defs/response", answer):
                raise Permanent("provider's visit search answer is not valid kit-v1")
            visit_ids = [v["visit_id"] for v in answer["visits"]][:100]
            if not visit_ids:
                raise Permanent("no visits in the claimed period at this provider")
            with self.store.transaction() as db:
                db.execute("UPDATE claims SET visit_ids = ? WHERE claim_id = ?", (json.dumps(visit_ids), claim_id))
        bundle = await self._documents(registration, claim, f"{claim_id}.fetch", visit_ids)
        if isinstance(bundle, Waiting):
            return bundle
        with self.store.transaction() as db:
            db.execute("UPDATE claims SET documents = ? WHERE claim_id = ?",
                       (json.dumps(bundle, ensure_ascii=False), claim_id))
            db.execute("UPDATE claim_insurers SET state = 'fetched' WHERE claim_id = ? AND state = 'requested'",
                       (claim_id,))
            for code in claim["insurers"]:
                self.store.add_task(db, claim_id, "forward", code)
            self._restate(db, claim_id)
            self._done(db, task)
        self._wake.set()
        return None

    async def _documents(self, registration: ProviderRegistration, claim: dict[str, Any], request_id: str,
                         visit_ids: list[str]) -> list[dict[str, Any]] | Waiting:
        """The documents ``claim`` asks for (default: every type consented to) of ``visit_ids`` from the
        provider, checked against the contract's rules."""
        kinds = claim.get("document_types") or [t for t in ALL_TYPES if t in claim["consent"]["scope"]]
        patient = {k: claim["insured"][k] for k in ("name", "birth_date", "identity_token")}
        status, bundle = await self._ask(registration, "documents:fetch", {
            "request_id": request_id, "patient": patient, "visit_ids": visit_ids, "document_types": kinds,
            "consent": claim["consent"]})
        if isinstance(status, Waiting):
            return status
        errors = [f for f in validate(bundle) if f.severity == "error"]
        if errors:
            rules = ", ".join(sorted({f.rule for f in errors})[:10])
            raise Permanent(f"document_invalid: the provider's documents break {rules}")
        if not bundle["documents"]:
            raise Permanent("the provider returned no documents")
        return bundle["documents"]

    async def _ask(self, registration: ProviderRegistration, operation: str,
                   body: dict[str, Any]) -> tuple[int, dict[str, Any]] | tuple[Waiting, None]:
        if registration.mode is Mode.AGENT:
            return self.agents.ask(registration, operation, body)
        base = registration.base_url.rstrip("/")
        if not host_allowed(base, self.config.allowed_provider_hosts):
            raise Permanent(f"base_url {base} is not loopback nor an allowed provider host")
        party = {"s24_party": f"provider:{registration.code}"}
        await self.store.durable()  # nothing leaves the relay before what it committed is on disk
        try:
            if registration.server_cert_sha256:
                # The pin is checked on the health call, which carries no personal data, so a connector
                # with the wrong certificate never receives a patient's identity.
                health = await self.client.get(f"{base}/s24/v1/health", extensions=party,
                                               timeout=self.config.request_timeout)
                seen = _peer_fingerprint(health)
                if seen != registration.server_cert_sha256:
                    raise Permanent(f"server certificate {seen or 'unknown'} is not the registered "
                                    f"{registration.server_cert_sha256}")
            response = await self.client.post(f"{base}/s24/v1/{operation}", json=body, extensions=party,
                                              timeout=self.config.request_timeout)
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.ConnectError) and isinstance(exc.__cause__, ssl.SSLCertVerificationError):
                raise Permanent(f"TLS: provider certificate not trusted ({exc.__cause__.verify_message})") from None
            raise Retryable(f"{type(exc).__name__}: {exc}"[:480]) from None
        return judge(response.status_code, _json(response))

    # -- forwarding to insurers ---------------------------------------------------------------------------

    async def _forward(self, task: Any) -> None:
        claim_row = self.store.claim(task["claim_id"])
        code = task["target"]
        await self._submit(task, claim_row, code, f"{claim_row['claim_id']}.{code}", json.loads(claim_row["documents"]))

    async def _submit(self, task: Any, claim_row: Any, code: str, request_id: str,
                      documents: list[dict[str, Any]]) -> None:
        claim = json.loads(claim_row["body"])
        submission = {"request_id": request_id, "claim_id": claim_row["claim_id"], "insurer_code": code,
                      "insured": claim["insured"], "accident_type": claim["accident_type"], "documents": documents,
                      "callback_url": f"{self.config.callback_base.rstrip('/')}/relay/v1/claims/"
                                      f"{claim_row['claim_id']}/events"}
        url = self.config.insurers[code].rstrip("/") + "/insurer/v1/claims"
        await self.store.durable()
        try:
            response = await self.client.post(url, json=submission, extensions={"s24_party": f"insurer:{code}"},
                                              timeout=self.config.request_timeout)
        except httpx.HTTPError as exc:
            raise Retryable(f"{type(exc).__name__}: {exc}"[:480]) from None
        _, ack = judge(response.status_code, _json(response))
        if not is_valid("insurer-claim#/$defs/acknowledgement", ack):
            raise Retryable("the insurer's acknowledgement is not valid kit-v1")
        with self.store.transaction() as db:
            current = db.execute("SELECT state FROM claim_insurers WHERE claim_id = ? AND insurer_code = ?",
                                 (claim_row["claim_id"], code)).fetchone()["state"]
            # events may already have moved this insurer past "transmitted"; never move it back
            state = "transmitted" if rank(current) < rank("transmitted") else current
            db.execute("UPDATE claim_insurers SET state = ?, receipt_number = ? WHERE claim_id = ? "
                       "AND insurer_code = ?", (state, ack["receipt_number"], claim_row["claim_id"], code))
            # the events that overtook this acknowledgement are applied now, if they carry its receipt
            self._apply_recorded(db, claim_row["claim_id"], code)
            self._done(db, task)

    # -- additional documents ------------------------------------------------------------------------------

    def add_documents(self, claim_id: str, request: dict[str, Any]) -> Answer:
        """A patient's additional claim: fetch the documents an insurer asked for and send them to it."""
        claim_row = self.store.claim(claim_id)
        if claim_row is None:
            return unknown_claim(claim_id)
        digest = _digest(request)
        rows = self.store.query("SELECT * FROM supplements WHERE request_id = ?", request["request_id"])
        if rows:
            if rows[0]["request_hash"] != digest or rows[0]["claim_id"] != claim_id:
                return 409, problem_body(409, "idempotency_conflict", "request_id reused",
                                         "같은 request_id로 다른 추가 청구를 보냈습니다 / same request_id, different "
                                         "request", request_id=request["request_id"])
            return 200, self.status(claim_id)
        if request["provider_code"] != claim_row["provider_code"]:
            return 400, problem_body(400, "invalid_request", "Another provider",
                                     f"provider_code: 이 청구의 요양기관은 {claim_row['provider_code']}입니다 "
                                     f"/ this claim's provider is {claim_row['provider_code']}",
                                     request_id=request["request_id"])
        if (other := _another_insured(json.loads(claim_row["body"])["insured"], request)) is not None:
            return other
        waiting = [r["insurer_code"] for r in self.store.insurers_of(claim_id)
                   if r["state"] == "more_documents_required" and r["insurer_code"] in request["insurers"]]
        if not waiting:
            return 409, problem_body(409, "invalid_request", "No insurer is waiting for documents",
                                     "insurers: 서류 보완을 요청한 보험사가 없습니다 "
                                     "/ none of these insurers asked for more documents",
                                     request_id=request["request_id"])
        if (refused := self._refuse(request)) is not None:
            return refused
        with self.store.transaction() as db:
            db.execute("INSERT INTO supplements (request_id, claim_id, request_hash, body, insurers) "
                       "VALUES (?, ?, ?, ?, ?)", (request["request_id"], claim_id, digest,
                                                  json.dumps(request, ensure_ascii=False), json.dumps(waiting)))
            self.store.add_task(db, claim_id, "more", request["request_id"])
        self._wake.set()
        return 202, self.status(claim_id)

    async def _fetch_more(self, task: Any) -> Waiting | None:
        claim_row = self.store.claim(task["claim_id"])
        supplement = self.store.query("SELECT * FROM supplements WHERE request_id = ?", task["target"])[0]
        request = json.loads(supplement["body"])
        registration = self._registered(claim_row["provider_code"])
        visit_ids = request.get("visit_ids") or json.loads(claim_row["visit_ids"])
        documents = await self._documents(registration, request, f"{task['target']}.fetch", visit_ids)
        if isinstance(documents, Waiting):
            return documents
        with self.store.transaction() as db:
            db.execute("UPDATE supplements SET documents = ? WHERE request_id = ?",
                       (json.dumps(documents, ensure_ascii=False), task["target"]))
            for code in json.loads(supplement["insurers"]):
                self.store.add_task(db, claim_row["claim_id"], "forward-more", f"{code}|{task['target']}")
            self._done(db, task)
        self._wake.set()
        return None

    async def _forward_more(self, task: Any) -> None:
        code, supplement_id = task["target"].split("|", 1)
        supplement = self.store.query("SELECT documents FROM supplements WHERE request_id = ?", supplement_id)[0]
        await self._submit(task, self.store.claim(task["claim_id"]), code, f"{supplement_id}.{code}",
                           json.loads(supplement["documents"]))

    # -- insurer events ------------------------------------------------------------------------------------

    def apply_event(self, claim_id: str, event: dict[str, Any]) -> Answer:
        """Record an insurer's event and apply it in sequence order, only against the receipt the insurer's
        acknowledgement gave: before that acknowledgement it is held (events may overtake it), later ones
        wait for the gap to fill. A repeat is a duplicate; another body under the same sequence is a 409."""
        if event["claim_id"] != claim_id or self.store.claim_summary(claim_id) is None:
            return unknown_claim(claim_id)
        code = event["insurer_code"]
        with self.store.transaction() as db:
            row = db.execute("SELECT * FROM claim_insurers WHERE claim_id = ? AND insurer_code = ?",
                             (claim_id, code)).fetchone()
            if row is None:
                return 404, problem_body(404, "not_found", "Insurer not part of the claim",
                                         f"보험사 {code}은(는) 이 청구의 수신처가 아닙니다 / {code} is not an insurer "
                                         "of this claim")
            if row["receipt_number"] and row["receipt_number"] != event["receipt_number"]:
                return 403, problem_body(403, "forbidden", "Forbidden",
                                         f"receipt_number: 보험사 {code}이(가) 이 청구에 발급한 접수번호가 아닙니다 "
                                         f"/ receipt_number: not the receipt insurer {code} issued for this claim")
            if (seen := _already_recorded(db, claim_id, event)) is not None:
                return seen
            db.execute("INSERT INTO events (event_id, claim_id, insurer_code, sequence, body, received_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (_event_key(event), claim_id, code, event["sequence"], json.dumps(event, ensure_ascii=False),
                        self.clock().isoformat(timespec="seconds")))
            if not row["receipt_number"]:
                return 202, {"event_id": event["event_id"], "status": "held", "waiting_for": "acknowledgement"}
            last = self._apply_recorded(db, claim_id, code)
        if event["sequence"] > last:
            return 202, {"event_id": event["event_id"], "status": "held", "waiting_for_sequence": last + 1}
        return 200, {"event_id": event["event_id"], "status": "applied"}

    def _apply_recorded(self, db: Any, claim_id: str, code: str) -> int:
        """Apply the recorded events of insurer ``code`` that carry its acknowledged receipt, in sequence
        order from its last applied one; discard those under any other receipt. Returns the last sequence."""
        row = db.execute("SELECT * FROM claim_insurers WHERE claim_id = ? AND insurer_code = ?",
                         (claim_id, code)).fetchone()
        receipt, state, last = row["receipt_number"], row["state"], row["last_sequence"]
        db.execute(f"UPDATE events SET applied = {DISCARDED} WHERE claim_id = ? AND insurer_code = ? AND applied = 0 "
                   "AND json_extract(body, '$.receipt_number') IS NOT ?", (claim_id, code, receipt))
        while (due := db.execute("SELECT * FROM events WHERE claim_id = ? AND insurer_code = ? AND sequence = ? "
                                 "AND applied = 0", (claim_id, code, last + 1)).fetchone()) is not None:
            body = json.loads(due["body"])
            if may_apply(body["type"], state):
                state = body["type"]
                if body["type"] == "paid":
                    db.execute("UPDATE claim_insurers SET payout_total = ?, payout = ? WHERE claim_id = ? AND "
                               "insurer_code = ?", (body["payout"]["total"],
                                                    json.dumps(body["payout"], ensure_ascii=False), claim_id, code))
            last += 1
            db.execute(f"UPDATE events SET applied = {APPLIED} WHERE event_id = ?", (due["event_id"],))
        db.execute("UPDATE claim_insurers SET state = ?, last_sequence = ? WHERE claim_id = ? AND insurer_code = ?",
                   (state, last, claim_id, code))
        self._restate(db, claim_id)
        return last


#: events.applied: recorded and waiting (0), applied (1), discarded: another receipt than the acknowledged one
APPLIED, DISCARDED = 1, 2


def _already_recorded(db: Any, claim_id: str, event: dict[str, Any]) -> Answer | None:
    """200 duplicate when this event (by event_id, or by insurer, receipt and sequence) is recorded with the
    same body; 409 when another body was recorded under the same event_id or sequence; None when new."""
    rows = db.execute("SELECT body FROM events WHERE event_id = ? OR (claim_id = ? AND insurer_code = ? "
                      "AND sequence = ? AND json_extract(body, '$.receipt_number') = ?)",
                      (_event_key(event), claim_id, event["insurer_code"], event["sequence"],
                       event["receipt_number"])).fetchall()
    if not rows:
        return None
    if all(_same_event(json.loads(r["body"]), event) for r in rows):
        return 200, {"event_id": event["event_id"], "status": "duplicate"}
    return 409, problem_body(409, "idempotency_conflict", "Another event under the same sequence",
                             f"sequence: 접수번호 {event['receipt_number']}의 {event['sequence']}번 사건(또는 "
                             f"event_id {event['event_id']})은 다른 내용으로 이미 받았습니다 / sequence: event "
                             f"{event['sequence']} of receipt {event['receipt_number']} (or event_id "
                             f"{event['event_id']}) was already received with another body")


def _event_key(event: dict[str, Any]) -> str:
    """The events table's key: event ids are the insurer's, so one insurer cannot take another's id first."""
    return f"{event['insurer_code']}:{event['event_id']}"


def _same_event(recorded: dict[str, Any], event: dict[str, Any]) -> bool:
    """The same event sent again: identical apart from its event_id."""
    return {**recorded, "event_id": None} == {**event, "event_id": None}


def _another_insured(insured: dict[str, Any], request: dict[str, Any]) -> Answer | None:
    """400 naming the first field of ``request["insured"]`` that is not the claim's insured person: an
    additional claim fetches documents only for the person of the original claim."""
    for field in ("name", "birth_date", "identity_token"):
        if request["insured"].get(field) != insured.get(field):
            return 400, problem_body(400, "invalid_request", "Another insured person",
                                     f"insured.{field}: 원 청구의 피보험자와 다릅니다 (추가 청구는 같은 사람만) "
                                     f"/ insured.{field}: not the insured person of the original claim",
                                     request_id=request["request_id"])
    return None


def _digest(request: dict[str, Any]) -> str:
    """What makes a repeated request_id the same request (idempotency)."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def unknown_claim(claim_id: str) -> Answer:
    return 404, problem_body(404, "not_found", "Unknown claim", f"청구 {claim_id}이(가) 없습니다 / no claim {claim_id}")


def _concerned(task: Any) -> tuple[tuple[str, ...], str]:
    """The insurers a task is about, as SQL parameters and the matching condition."""
    if task["kind"] == "forward":
        return (task["target"],), "AND insurer_code = ?"
    if task["kind"] == "forward-more":
        return (task["target"].split("|", 1)[0],), "AND insurer_code = ?"
    if task["kind"] == "more":
        return (), "AND state = 'more_documents_required'"
    return (), ""


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _peer_fingerprint(response: httpx.Response) -> str | None:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return hashlib.sha256(der).hexdigest() if der else None

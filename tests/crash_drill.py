"""The crash drill: ``s24kit serve`` killed with SIGKILL while claims flow, restarted on the same state, drained.

Used by tests/test_crash.py (short, bounded) and benchmarks/crash_soak.py (long). The patient app here (with the
``patient-app`` certificate; counting uses the ``admin`` one) sends one
claim per patient (so that no insured person's history depends on the order of two claims), each with its own
``request_id``; a claim whose answer was lost in a crash is sent again with the same ``request_id``, as a real
patient app must. At the end every accepted claim must be final, none paid twice (a second receipt or a second
``paid`` for the same claim at one insurer), and every payout equal to the scenario's expected amount.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from s24kit.simulator.generator.context import Options
from s24kit.simulator.generator.scenario import write_scenario
from s24kit.simulator.pki import ensure_pki
from s24kit.simulator.provider import Scenario

FINAL = frozenset({"paid", "denied", "failed", "more_documents_required"})
KST = dt.timezone(dt.timedelta(hours=9))
PROVIDER = "99350012"  # every visit of the scenario is at this (the reference) provider


@dataclass
class DrillResult:
    """What the drill counted."""

    kills: int = 0
    sent: int = 0  # claims the patient app wanted to file
    accepted: dict[str, str] = field(default_factory=dict)  # request_id → claim_id
    states: Counter[str] = field(default_factory=Counter)  # final (or last seen) state of each accepted claim
    not_final: list[str] = field(default_factory=list)
    paid_twice: list[str] = field(default_factory=list)
    wrong_payouts: list[str] = field(default_factory=list)
    duplicate_claims: list[str] = field(default_factory=list)  # one request_id that became two claims
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (len(self.accepted) == self.sent and not self.not_final and not self.paid_twice
                and not self.wrong_payouts and not self.duplicate_claims)

    def summary(self) -> dict[str, Any]:
        return {"kills": self.kills, "sent": self.sent, "accepted": len(self.accepted),
                "final": dict(self.states), "not_final": self.not_final, "paid_twice": self.paid_twice,
                "wrong_payouts": self.wrong_payouts, "duplicate_claims": self.duplicate_claims,
                "seconds": round(self.seconds, 1), "ok": self.ok}


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class CrashDrill:
    """One state directory, one scenario, a serve process that is killed and restarted on fixed ports."""

    def __init__(self, state: Path, *, patients: int = 20, seed: int = 7, claims: int = 12) -> None:
        self.state = state
        scenario_dir = state / "scenario"
        if not (scenario_dir / "manifest.json").is_file():
            write_scenario(scenario_dir, Options(patients=patients, seed=seed, provider=PROVIDER).resolved(),
                           force=True)
        self.provider = Scenario.load(scenario_dir).provider_code
        codes = sorted({json.loads(line)["insurer_code"]
                        for line in (scenario_dir / "policies.jsonl").read_text(encoding="utf-8").splitlines()})
        ports = _free_ports(len(codes) + 2)
        self.relay_url = f"https://127.0.0.1:{ports[0]}"
        insurers = "".join(f'[[insurer]]\ncode = "{c}"\nport = {p}\n' for c, p in zip(codes, ports[2:], strict=True))
        self.config = state / "crash.toml"
        self.config.write_text(f"[relay]\nport = {ports[0]}\n{insurers}[[provider]]\nreference = true\n"
                               f"port = {ports[1]}\n", encoding="utf-8")
        self.insurer_urls = {c: f"https://127.0.0.1:{p}" for c, p in zip(codes, ports[2:], strict=True)}
        self.records = self._one_claim_per_patient(scenario_dir, set(codes))[:claims]
        self.pki = ensure_pki(state / "pki")
        self.process: subprocess.Popen[bytes] | None = None
        self.log = state / "serve.log"

    def _one_claim_per_patient(self, scenario_dir: Path, codes: set[str]) -> list[dict[str, Any]]:
        """Each patient's first claim (no earlier claim shapes its history), when it goes through our provider."""
        first: dict[str, dict[str, Any]] = {}
        for line in (scenario_dir / "claims.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            first.setdefault(record["patient_id"], record)
        return [r for r in first.values() if r["documents_from"] == "provider"
                and r["claim"]["provider_code"] == self.provider and set(r["claim"]["insurers"]) <= codes]

    # -- the serve process -------------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as log:
            log.write(b"--- start\n")
            offset = log.tell()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "s24kit.conformance.cli", "serve", "--config", str(self.config),
                 "--state", str(self.state)], stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "COLUMNS": "200"})
        deadline = time.monotonic() + timeout
        while b"Ctrl-C" not in self.log.read_bytes()[offset:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError("serve did not come up:\n" + self.log.read_text("utf-8", "replace")[-3000:])
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush; what a crash or an OOM kill does."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    # -- the patient app ---------------------------------------------------------------------------------------

    def client(self, base_url: str, role: str) -> httpx.Client:
        """A client of ``base_url`` presenting the certificate of ``role`` (``patient-app``, ``admin``)."""
        return httpx.Client(verify=self.pki.client_context(role), base_url=base_url, timeout=5.0)

    def fresh(self, record: dict[str, Any], number: int) -> dict[str, Any]:
        claim = dict(record["claim"])
        granted = dt.datetime.now(KST).replace(microsecond=0) - dt.timedelta(minutes=1)
        claim["consent"] = {**claim["consent"], "granted_at": granted.isoformat(),
                            "expires_at": (granted + dt.timedelta(days=7)).isoformat()}
        claim["request_id"] = self.request_id(record, number)
        return claim

    @staticmethod
    def request_id(record: dict[str, Any], number: int) -> str:
        return f"crash-{number:04d}-{record['patient_id']}"

    def send_all(self, result: DrillResult, deadline: float, pause: float) -> None:
        """File every claim; one whose answer is lost (a crash) is sent again with the same request_id."""
        claims = [self.fresh(record, i) for i, record in enumerate(self.records)]
        result.sent = len(claims)
        with self.client(self.relay_url, "patient-app") as client:
            for claim in claims:
                while time.monotonic() < deadline:
                    try:
                        answer = client.post("/relay/v1/claims", json=claim)
                    except httpx.TransportError:
                        time.sleep(0.05)  # the relay is down or restarting
                        continue
                    if answer.status_code in (200, 202):
                        claim_id = answer.json()["claim_id"]
                        seen = result.accepted.setdefault(claim["request_id"], claim_id)
                        if seen != claim_id:
                            result.duplicate_claims.append(f"{claim['request_id']}: {seen} and {claim_id}")
                        break
                    raise AssertionError(f"claim refused: {answer.status_code} {answer.text[:300]}")
                time.sleep(pause)

    # -- the drill -------------------------------------------------------------------------------------------

    def run(self, *, kills: int, seed: int, budget: float, pause: float = 0.05,
            kill_after: tuple[float, float] = (0.3, 1.5)) -> DrillResult:
        """Send the claims while killing serve ``kills`` times at seeded random moments, then drain and count."""
        rng = random.Random(seed)
        result = DrillResult()
        started = time.monotonic()
        deadline = started + budget
        self.start()
        sender = threading.Thread(target=self.send_all, args=(result, deadline, pause), daemon=True)
        sender.start()
        try:
            for _ in range(kills):
                time.sleep(rng.uniform(*kill_after))
                self.kill()
                result.kills += 1
                self.start()
            sender.join(max(deadline - time.monotonic(), 0))
            self.drain(result, deadline)
            self.count(result)
        finally:
            self.stop()
            result.seconds = time.monotonic() - started
        return result

    def drain(self, result: DrillResult, deadline: float) -> None:
        """Wait until every accepted claim is final (or the budget is spent)."""
        with self.client(self.relay_url, "admin") as client:
            while time.monotonic() < deadline:
                states = {c["claim_id"]: c["state"] for c in client.get("/__admin/claims").json()["claims"]}
                if all(states.get(c) in FINAL for c in result.accepted.values()):
                    return
                time.sleep(0.2)

    def count(self, result: DrillResult) -> None:
        by_request = {self.request_id(record, i): record for i, record in enumerate(self.records)}
        with self.client(self.relay_url, "admin") as client:
            claims = {c["claim_id"]: c for c in client.get("/__admin/claims").json()["claims"]}
        if len(claims) != len(result.accepted):
            result.duplicate_claims.append(f"the relay holds {len(claims)} claims for {len(result.accepted)} "
                                           "request ids")
        for request_id, claim_id in result.accepted.items():
            status = claims.get(claim_id)
            state = status["state"] if status else "missing"
            result.states[state] += 1
            if state not in FINAL:
                result.not_final.append(f"{claim_id}: {state}")
                continue
            record = by_request[request_id]
            for insurer in status["insurers"]:
                expected = record["expected"][insurer["insurer_code"]]["total"]
                got = insurer.get("payout_total") or 0
                if (insurer["state"] == "paid" and got != expected) or (insurer["state"] != "paid" and expected):
                    result.wrong_payouts.append(f"{claim_id} {insurer['insurer_code']}: {insurer['state']} {got} "
                                                f"(expected {expected})")
        for code, url in self.insurer_urls.items():
            with self.client(url, "admin") as client:
                receipts = client.get("/__admin/claims").json()
            paid = Counter(r["claim_id"] for r in receipts if r["state"] == "paid")
            filed = Counter(r["claim_id"] for r in receipts)
            result.paid_twice += [f"{code} {claim}: {n} receipts" for claim, n in filed.items() if n > 1]
            result.paid_twice += [f"{code} {claim}: paid {n} times" for claim, n in paid.items() if n > 1]

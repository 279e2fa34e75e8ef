"""The crash drill: ``s24kit serve`` killed with SIGKILL while claims flow, restarted on the same state, drained.

Used by tests/test_crash.py (short, bounded) and benchmarks/crash_soak.py (long). The patient app here (with the
``patient-app`` certificate; counting uses the ``admin`` one) sends one
claim per patient (so that no insured person's history depends on the order of two claims), each with its own
``request_id``; a claim whose answer was lost in a crash is sent again with the same ``request_id``, as a real
patient app must. At the end every accepted claim must be final, none paid twice (a second receipt or a second
``paid`` for the same claim at one insurer), and every payout equal to the scenario's expected amount.

With ``relay_workers`` > 1 it is ``s24kit serve --processes --relay-workers N``: a kill takes the whole process
tree at once (the parent and every party's process, as a power cut would), and before each a single relay worker
may be killed alone while the others carry on. The journals of the relay's workers then say what the relay sent:
every document fetch and insurer submission of a claim carries that claim's one request id, and none was accepted
more often than a crash can explain (a task cut short runs again from its start, with the same request id).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import re
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
from s24kit.simulator.journal import Journal
from s24kit.simulator.pki import ensure_pki
from s24kit.simulator.provider import Scenario
from s24kit.simulator.stack import worker_journal

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
    worker_kills: int = 0  # relay workers killed alone (the others carried on)
    resent: Counter[str] = field(default_factory=Counter)  # route → calls accepted again under the same request id
    sent_twice: list[str] = field(default_factory=list)  # more resends than crashes, or a task under a new id
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (len(self.accepted) == self.sent and not self.not_final and not self.paid_twice
                and not self.wrong_payouts and not self.duplicate_claims and not self.sent_twice)

    def summary(self) -> dict[str, Any]:
        return {"kills": self.kills, "worker_kills": self.worker_kills, "sent": self.sent,
                "accepted": len(self.accepted), "final": dict(self.states), "not_final": self.not_final,
                "paid_twice": self.paid_twice, "wrong_payouts": self.wrong_payouts,
                "duplicate_claims": self.duplicate_claims, "resent": dict(self.resent), "sent_twice": self.sent_twice,
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


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on TCP ``port`` (from /proc/net)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def _holds(pid: int, inodes: set[str]) -> bool:
    """Whether process ``pid`` holds one of the sockets ``inodes``."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in wanted:
                    return True
    return False


def _head(body: str) -> dict[str, str]:
    """The string members of a journaled request body, read even when the journal cut the body short (the ids
    come before the documents)."""
    return dict(re.findall(r'"(request_id|insurer_code|claim_id)": ?"([^"]*)"', body))


def _dead(pid: int) -> bool:
    """Gone, or a zombie (which holds no socket any more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


class CrashDrill:
    """One state directory, one scenario, a serve process that is killed and restarted on fixed ports;
    ``relay_workers`` > 1: ``serve --processes --relay-workers N``, its whole process tree killed each time."""

    def __init__(self, state: Path, *, patients: int = 20, seed: int = 7, claims: int = 12,
                 relay_workers: int = 1) -> None:
        self.state = state
        self.relay_workers = relay_workers
        scenario_dir = state / "scenario"
        if not (scenario_dir / "manifest.json").is_file():
            write_scenario(scenario_dir, Options(patients=patients, seed=seed, provider=PROVIDER).resolved(),
                           force=True)
        self.provider = Scenario.load(scenario_dir).provider_code
        codes = sorted({json.loads(line)["insurer_code"]
                        for line in (scenario_dir / "policies.jsonl").read_text(encoding="utf-8").splitlines()})
        ports = _free_ports(len(codes) + 2)
        self.relay_port = ports[0]
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

    def start(self, timeout: float = 120.0, *, lasting: float = 3600.0) -> None:
        """Start serve (for at most ``lasting`` seconds: bounded even if this process dies) and wait until it
        serves. Its own session, so that a kill can take its whole process tree."""
        workers = ["--processes", "--relay-workers", str(self.relay_workers)] if self.relay_workers > 1 else []
        with self.log.open("ab") as log:
            log.write(b"--- start\n")
            offset = log.tell()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "s24kit.conformance.cli", "serve", "--config", str(self.config),
                 "--state", str(self.state), "--duration", f"{lasting:.0f}", *workers],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"}, start_new_session=True)
        deadline = time.monotonic() + timeout
        while b"Ctrl-C" not in self.log.read_bytes()[offset:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError("serve did not come up:\n" + self.log.read_text("utf-8", "replace")[-3000:])
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL to serve and every process it started, all at once: no cleanup, no flush; what a crash, an OOM
        kill or (for what was not yet synced) a power cut does."""
        if self.process is not None and self.process.poll() is None:
            tree = _children(self.process.pid)
            os.killpg(self.process.pid, signal.SIGKILL)  # the session's group: the parent and its children
            self.process.wait(10)
            self._await_dead(tree)
        self.process = None

    def relay_worker_pids(self) -> list[int]:
        """The running relay workers: serve's children that hold the relay's listening socket."""
        inodes = _listening_inodes(self.relay_port)
        return [pid for pid in _children(self.process.pid) if _holds(pid, inodes)] if self.process else []

    def kill_relay_worker(self, rng: random.Random) -> bool:
        """SIGKILL one relay worker alone (the parent and the other workers go on); False when fewer than two
        run (killing the last would be a whole relay down, which the tree kill covers)."""
        workers = self.relay_worker_pids()
        if len(workers) < 2:
            return False
        victim = rng.choice(sorted(workers))
        os.kill(victim, signal.SIGKILL)
        self._await_dead([victim])
        return True

    @staticmethod
    def _await_dead(pids: list[int], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(_dead(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.02)

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
            kill_after: tuple[float, float] = (0.3, 1.5), worker_kills: int = 0) -> DrillResult:
        """Send the claims while killing serve ``kills`` times at seeded random moments, then drain and count.
        With relay workers, the first ``worker_kills`` of those kills are each preceded by the kill of one
        relay worker alone, at a seeded random moment too."""
        rng = random.Random(seed)
        result = DrillResult()
        started = time.monotonic()
        deadline = started + budget
        self.start(lasting=budget + 60)
        sender = threading.Thread(target=self.send_all, args=(result, deadline, pause), daemon=True)
        sender.start()
        try:
            for number in range(kills):
                if number < worker_kills:
                    time.sleep(rng.uniform(*kill_after))
                    result.worker_kills += self.kill_relay_worker(rng)
                time.sleep(rng.uniform(*kill_after))
                self.kill()
                result.kills += 1
                self.start(lasting=max(deadline - time.monotonic(), 0) + 60)
            sender.join(max(deadline - time.monotonic(), 0))
            self.drain(result, deadline)
            self.count(result)
        finally:
            self.stop()
            result.seconds = time.monotonic() - started
        self.count_sent(result)
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

    def journals(self) -> list[Path]:
        """The relay's journal files: one per worker (a journal file has one writer)."""
        return [worker_journal(self.state, n) for n in range(1, self.relay_workers + 1)]

    def count_sent(self, result: DrillResult) -> None:
        """What the relay's journals say it sent (read once serve has stopped): each claim's document fetch
        and each insurer submission under the claim's one request id (``CLAIM.fetch``, ``CLAIM.CODE``), and
        none accepted more often than the crashes can explain. A kill loses the entries the journal had not
        yet committed, so these counts are lower bounds: they can show a resend, not prove its absence."""
        crashes = result.kills + result.worker_kills
        claims = set(result.accepted.values())
        for route, task in (("*/s24/v1/documents:fetch", lambda body: "fetch"),
                            ("/insurer/v1/claims", lambda body: body["insurer_code"])):
            accepted: Counter[str] = Counter()
            for path in self.journals():
                with Journal(path) as journal:
                    for entry in journal.search(party="relay→*", route=route, method="POST", limit=10**6):
                        if entry["status"] is not None and 200 <= entry["status"] < 300:
                            body = _head(entry["request"]["body"])
                            claim = next((c for c in claims if body["request_id"].startswith(f"{c}.")), None)
                            if claim is None or body["request_id"] != f"{claim}.{task(body)}":
                                result.sent_twice.append(f"{route}: {body['request_id']} is no claim's task id")
                            accepted[body["request_id"]] += 1
            result.sent_twice += [f"{route}: {request_id} accepted {times} times after {crashes} crashes"
                                  for request_id, times in accepted.items() if times > 1 + crashes]
            result.resent[route.lstrip("*")] += sum(accepted.values()) - len(accepted)

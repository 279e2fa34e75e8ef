"""The whole conformance suite vs merely fetching the scenario's documents, same server, same run.

Both talk to the reference provider over mutual TLS on loopback. The baseline is a plain httpx client that
asks once per patient for all their visits' documents (what the suite must do at the very least); the suite
does that too, and everything else (errors, idempotency, concurrency, TLS probes …). Goal (issue 6): the
full suite takes at most 5x the bare fetch.

The suite is bound by this process's CPU (the checks, and the client side of every exchange), so the CPU
seconds of each side are printed too (with ``--server thread`` they include the server's).

    python benchmarks/suite.py [--patients 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _common import result

from s24kit.conformance.runner import run_suite
from s24kit.conformance.session import Target
from s24kit.simulator.generator.context import Options
from s24kit.simulator.generator.scenario import write_scenario
from s24kit.simulator.pki import TestPKI, ensure_pki
from s24kit.simulator.provider import Scenario, create_provider_app
from s24kit.simulator.serving import serving

TYPES = ["medical_receipt", "itemised_statement", "prescription", "pharmacy_receipt"]
KST = dt.timezone(dt.timedelta(hours=9))


def bare_fetch(url: str, scenario: Scenario, pki: TestPKI) -> tuple[float, float, int]:
    """Seconds (wall and this process's CPU) to fetch every patient's documents, one request per patient, one
    keep-alive client; and how many documents came back."""
    now = dt.datetime.now(KST)
    consent = {"consent_id": "C-bench-1", "granted_at": (now - dt.timedelta(hours=1)).isoformat(),
               "expires_at": (now + dt.timedelta(days=1)).isoformat(), "scope": TYPES}
    documents = 0
    started, cpu = time.perf_counter(), time.process_time()
    visits_of: dict[str, list[str]] = {}  # one pass (a scan of every visit per patient would slow the baseline)
    for visit_id, entry in sorted(scenario.visits.items()):
        visits_of.setdefault(entry["patient_id"], []).append(visit_id)
    with httpx.Client(verify=pki.client_context("relay-client"), timeout=30) as client:
        for token, patient in sorted(scenario.patients.items()):
            visits = visits_of.get(patient["patient_id"], [])
            for i in range(0, len(visits), 100):
                body = {"request_id": f"bench-{uuid.uuid4().hex}", "visit_ids": visits[i:i + 100],
                        "document_types": TYPES, "consent": consent,
                        "patient": {"name": patient["name"], "birth_date": patient["birth_date"],
                                    "identity_token": token}}
                response = client.post(url + "/s24/v1/documents:fetch", json=body)
                response.raise_for_status()
                documents += len(response.json()["documents"])
    return time.perf_counter() - started, time.process_time() - cpu, documents


SERVER = """
import sys, time
from pathlib import Path
from s24kit.simulator.pki import ensure_pki
from s24kit.simulator.provider import Scenario, create_provider_app
from s24kit.simulator.serving import serving
pki = ensure_pki(Path(sys.argv[2]))
with serving(create_provider_app(Scenario.load(Path(sys.argv[1]))), tls=pki.server_context("provider-server")) as s:
    print(s.url, flush=True)
    sys.stdin.read()  # serve until the benchmark closes our stdin
"""


@contextlib.contextmanager
def provider(scenario_dir: Path, pki: TestPKI, where: str) -> Iterator[str]:
    """The reference provider's URL: served in this process (a thread) or in a child process of its own."""
    if where == "thread":
        with serving(create_provider_app(Scenario.load(scenario_dir)), tls=pki.server_context("provider-server")) as s:
            yield s.url
        return
    child = subprocess.Popen([sys.executable, "-c", SERVER, str(scenario_dir), str(pki.directory)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100, help="patients in the generated scenario")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions; the best of each is kept")
    parser.add_argument("--server", choices=("process", "thread"), default="process",
                        help="serve the provider in a child process (like a vendor's connector) or in a thread here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_scenario(root / "scenario", Options(patients=args.patients, seed=1, provider="99310001",
                                                      provider_type="31").resolved())
        pki = ensure_pki(root / "pki")
        scenario = Scenario.load(root / "scenario")
        bare, suite, documents, counts = [], [], 0, {}
        bare_cpu, suite_cpu = [], []
        for _ in range(args.rounds):
            # A fresh server per round: the provider remembers request ids (idempotency) and would grow.
            with provider(root / "scenario", pki, args.server) as url:
                seconds, cpu, documents = bare_fetch(url, scenario, pki)
                bare.append(seconds)
                bare_cpu.append(cpu)
                target = Target(url, root / "scenario", ca_bundle=pki.ca_cert,
                                client_cert=pki["relay-client"].cert, client_key=pki["relay-client"].key)
                started, cpu = time.perf_counter(), time.process_time()
                run = run_suite(target)
                suite.append(time.perf_counter() - started)
                suite_cpu.append(time.process_time() - cpu)
                counts = run.counts()
    best_bare, best_suite = min(bare), min(suite)
    print(f"scenario: {len(scenario.patients)} patients of provider {scenario.provider_code}, "
          f"{len(scenario.visits)} visits, {documents} documents")
    print(f"bare fetch of every patient's documents: {best_bare:.3f} s (best of {args.rounds})")
    print(f"full suite ({sum(counts.values())} checks: {counts}): {best_suite:.3f} s (best of {args.rounds})")
    print(f"CPU of this process: suite {min(suite_cpu):.3f} s, bare fetch {min(bare_cpu):.3f} s (least of each)")
    print(f"provider served in a {args.server}")
    print(f"ratio suite / bare fetch: {best_suite / best_bare:.2f}x (goal <= 5x)")
    result("suite", best_suite, "s", best_bare, patients=len(scenario.patients), visits=len(scenario.visits),
           documents=documents, checks=sum(counts.values()), verdicts=counts, server=args.server, goal_ratio=5,
           suite_cpu_s=round(min(suite_cpu), 3), bare_cpu_s=round(min(bare_cpu), 3))


if __name__ == "__main__":
    main()

"""Locust through ``s24kit load``: a master with two worker processes against a single Locust process, same
target, same users, same run.

The target is the kit's own simulator (``s24kit serve`` in its own process, on loopback, mutual TLS); the
load is the relay pulling documents from the reference provider (``--traffic relay``: visits:search then
documents:fetch per claim) or patients' claims through the relay (``--traffic patients``). Reported: the
completed requests per second and the p99 of each run, from Locust's own final statistics, and the ratio
distributed / single. The runs alternate (single, distributed, single, distributed …) so a change of load on
the machine falls on both. On one 2-core machine the target shares the cores with the load: the ratio says
what Locust's distribution buys here, not what it buys across machines.

    python benchmarks/load.py [--traffic relay] [--seconds 20] [--users 20] [--rounds 2] [--patients 60]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import result

KIT = [sys.executable, "-m", "s24kit.conformance.cli"]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("127.0.0.1", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


def start_simulator(state: Path, patients: int) -> tuple[subprocess.Popen, dict[str, str]]:
    relay, insa, insb, provider = free_ports(4)
    config = state.parent / "serve.toml"
    config.write_text(f'state_dir = "{state}"\n[generate]\npatients = {patients}\n[relay]\nport = {relay}\n'
                      f'[[insurer]]\ncode = "INSA"\nport = {insa}\n[[insurer]]\ncode = "INSB"\nport = {insb}\n'
                      f'[[provider]]\nreference = true\nmode = "pull"\nport = {provider}\n', encoding="utf-8")
    process = subprocess.Popen([*KIT, "serve", "--config", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (state / "sample-claim.json").is_file():  # written once every party listens
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("s24kit serve did not start")
        time.sleep(0.5)
    return process, {"relay": f"https://127.0.0.1:{relay}", "provider": f"https://127.0.0.1:{provider}"}


def run(traffic: str, target: str, state: Path, workers: int, users: int, seconds: float, out: Path) -> dict:
    command = [*KIT, "load", "--traffic", traffic, "--target", target, "--scenario", str(state / "scenario"),
               "--state", str(state), "--insurer", "INSA", "--insurer", "INSB", "-u", str(users),
               "-t", f"{seconds:g}", "--workers", str(workers), "--out", str(out)]
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=seconds + 300,
                   env=os.environ | {"PYTHONUNBUFFERED": "1"})
    final = json.loads((out / "locust-final.json").read_text(encoding="utf-8"))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rows = [r for r in final["rows"] if r["type"] != "CLAIM"]
    requests = sum(r["requests"] - r["failures"] for r in rows)
    rate = sum(r["per_second"] * (r["requests"] - r["failures"]) / r["requests"] for r in rows if r["requests"])
    p99 = max((r["p99_ms"] for r in rows if r["p99_ms"] is not None), default=None)
    return {"requests": requests, "per_second": rate, "p99_ms": p99,
            "claims_per_s": summary["headlines"][0]["per_second"],
            "failures": sum(summary["failures_by_problem"].values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traffic", choices=("relay", "patients"), default="relay")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each Locust run")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="single/distributed pairs")
    parser.add_argument("--patients", type=int, default=60, help="patients of the simulator's scenario")
    args = parser.parse_args()
    if args.rounds < 2:  # one round is not alternated: a change of load would fall on one side only
        parser.error("--rounds: at least 2 (the single and distributed runs alternate)")
    with tempfile.TemporaryDirectory(prefix="s24kit-bench-load-") as tmp:
        state = Path(tmp) / "state"
        simulator, urls = start_simulator(state, args.patients)
        target = urls["provider" if args.traffic == "relay" else "relay"]
        runs: dict[int, list[dict]] = {1: [], 2: []}
        try:
            for round_ in range(args.rounds):
                for workers in ((1, 2) if round_ % 2 == 0 else (2, 1)):
                    runs[workers].append(run(args.traffic, target, state, workers, args.users, args.seconds,
                                             Path(tmp) / f"run-{round_}-{workers}"))
        finally:
            simulator.terminate()
            simulator.wait(30)
    single, spread = ({"per_second": statistics.median(r["per_second"] for r in runs[n]),
                       "p99_ms": statistics.median(r["p99_ms"] for r in runs[n] if r["p99_ms"] is not None),
                       "claims_per_s": statistics.median(r["claims_per_s"] for r in runs[n]),
                       "failures": sum(r["failures"] for r in runs[n])} for n in (1, 2))
    print(f"target: the kit's {'reference provider' if args.traffic == 'relay' else 'relay'} ({target}), "
          f"traffic {args.traffic}, {args.users} users, {args.seconds:g} s per run, {args.rounds} rounds")
    for workers, label in ((1, "single"), (2, "master + 2 workers")):  # the spread says how far a median goes
        print(f"{label} runs: " + ", ".join(f"{r['per_second']:,.1f} requests/s (p99 {r['p99_ms']} ms)"
                                            for r in runs[workers]))
    for label, figures in (("single Locust process", single), ("master + 2 workers   ", spread)):
        print(f"{label}: {figures['per_second']:,.1f} requests/s, p99 {figures['p99_ms']:,.0f} ms, "
              f"{figures['claims_per_s']:,.1f} claims/s, {figures['failures']} failures")
    result("load", spread["per_second"], "requests/s (master + 2 workers)", single["per_second"],
           baseline_kind="one Locust process", p99_ms=spread["p99_ms"], single_p99_ms=single["p99_ms"],
           claims_per_s=spread["claims_per_s"], single_claims_per_s=single["claims_per_s"],
           failures=spread["failures"] + single["failures"], traffic=args.traffic, users=args.users)


if __name__ == "__main__":
    main()

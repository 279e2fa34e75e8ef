"""Relay end to end over mutual TLS on loopback, swept over concurrency, against a bare mTLS echo.

At each concurrency (default 4, 16, 32): complete claims per second (patient app → relay → provider → insurers
→ events back → the final state seen by a long poll), p50/p99 of a claim's latency, and the HTTP exchanges
per second that implies (the relay's journal counts them; the patient app's status polls are left out); the
baseline is a bare Starlette JSON echo behind the same serving code and the same mutual TLS, driven by the same
client at the same concurrency in the same run. The ratio at each level is relay exchanges/s ÷ echo
exchanges/s. A level that could not be measured (no claim completed, an error) says "not measured".

The parties run each in its own process by default (``s24kit serve --processes``; ``--single`` runs them all
in one process, as before), the vendor's server answering for ``--tenants`` clinics, and the load comes from
this process. Goals (docs/performance.md §1): ≥ 300 claims/s with p99 < 1 s.

    python benchmarks/relay.py [--levels 4,16,32] [--claims 400] [--seconds 20] [--single] [--tenants 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import httpx
from _common import rss_mb

from s24kit.simulator.generator.context import Options
from s24kit.simulator.generator.scenario import write_scenario
from s24kit.simulator.processes import ServerSpec, serving_in_processes
from s24kit.simulator.serving import bind
from s24kit.simulator.stack import Stack, StackOptions

FINAL = ("paid", "denied", "more_documents_required", "failed")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def drive_claims(stack: Stack, claims: list[dict], concurrency: int, seconds: float) -> dict[str, Any]:
    """Send ``claims`` with ``concurrency`` in flight, each until final; latencies, polls and failures."""
    latencies: list[float] = []
    polls, failures = 0, 0
    queue = list(reversed(claims))
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(verify=stack.pki.client_context("patient-app"), base_url=stack.urls["relay"],
                                 timeout=30, limits=httpx.Limits(max_connections=concurrency * 2)) as client:
        async def worker() -> None:
            nonlocal polls, failures
            while queue and time.monotonic() < deadline:
                claim = queue.pop()
                started = time.perf_counter()
                try:
                    response = await client.post("/relay/v1/claims", json=claim)
                    claim_id = response.json()["claim_id"]
                    state = response.json()["state"]
                    while state not in FINAL and time.monotonic() < deadline + 30:
                        polls += 1  # a long poll: the relay answers when the claim is final
                        state = (await client.get(f"/relay/v1/claims/{claim_id}", params={"wait": 20})).json()["state"]
                except (httpx.HTTPError, KeyError, ValueError):
                    failures += 1
                    continue
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return {"latencies": latencies, "elapsed": time.perf_counter() - started, "polls": polls,
                "failures": failures}


async def drive_echo(url: str, stack: Stack, payload: dict, concurrency: int, count: int,
                     seconds: float) -> tuple[int, float]:
    done = 0
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(verify=stack.pki.client_context("relay-client"), base_url=url, timeout=30,
                                 limits=httpx.Limits(max_connections=concurrency * 2)) as client:
        async def worker() -> None:
            nonlocal done
            while done < count and time.monotonic() < deadline:
                done += 1
                (await client.post("/echo", json=payload)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done, time.perf_counter() - started


def last_exchange(stack: Stack) -> int:
    newest = stack.journal.search(limit=1)
    return int(newest[0]["id"].removeprefix("x-")) if newest else 0


@contextlib.contextmanager
def echo_server(stack: Stack, single: bool):
    """The bare echo, in its own process like the parties (or in this one with ``--single``)."""
    if single:
        from s24kit.simulator.processes import echo_server as build
        from s24kit.simulator.serving import serving

        app, tls = build(str(stack.pki.directory))
        with serving(app, tls=tls) as served:
            yield served.url
        return
    sock = bind("127.0.0.1", 0)
    url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    with serving_in_processes([ServerSpec("echo", "s24kit.simulator.processes:echo_server",
                                          (str(stack.pki.directory),), sock)]):
        yield url


@contextlib.contextmanager
def profiled(stack: Stack, folder: Path | None, level: int):
    """With ``--profile DIR``: py-spy records each party's process while the claims run (raw collapsed stacks,
    one file per party and level; summarise them with benchmarks/profile_summary.py)."""
    if folder is None or stack.processes is None:
        yield
        return
    spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if spy is None:
        sys.exit("--profile: py-spy is not installed (pip install -e '.[bench]')")
    folder.mkdir(parents=True, exist_ok=True)
    recorders = [subprocess.Popen([spy, "record", "--format", "raw", "--rate", "200",
                                   "--nonblocking", "--pid", str(pid), "--output",
                                   str(folder / f"{name.replace(':', '-')}-c{level}.txt")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for name, pid in stack.processes.pids().items()]
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        for recorder in recorders:
            recorder.wait(30)


def measure(stack: Stack, claims: list[dict], level: int, args: argparse.Namespace) -> dict[str, Any]:
    first = last_exchange(stack)
    with profiled(stack, args.profile, level):
        run = asyncio.run(drive_claims(stack, claims, level, args.seconds))
    latencies = run["latencies"]
    if not latencies:
        return {"concurrency": level, "measured": False, "why": f"no claim completed ({run['failures']} failed)"}
    exchanges = max(0, last_exchange(stack) - first - run["polls"])  # status polls excluded, as before
    sizes = [len(json.dumps(e)) for e in stack.journal.search(party="relay→provider:*", limit=50)]
    payload = {"blob": "가" * (sorted(sizes)[len(sizes) // 2] // 3 if sizes else 2000)}
    with echo_server(stack, args.single) as url:
        done, echo_elapsed = asyncio.run(drive_echo(url, stack, payload, level, max(exchanges, 200), args.seconds))
    claims_per_s = len(latencies) / run["elapsed"]
    relay_per_s, echo_per_s = exchanges / run["elapsed"], done / echo_elapsed
    return {"concurrency": level, "measured": True, "claims": len(latencies), "failures": run["failures"],
            "claims_per_s": round(claims_per_s, 1), "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
            "relay_exchanges_per_s": round(relay_per_s, 1), "exchanges_per_claim": round(exchanges / len(latencies), 1),
            "echo_exchanges_per_s": round(echo_per_s, 1), "ratio": round(relay_per_s / echo_per_s, 3) if done else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--levels", default="4,16,32", help="Concurrency levels, comma-separated.")
    parser.add_argument("--claims", type=int, default=400, help="Claims sent at each level (at most).")
    parser.add_argument("--seconds", type=float, default=20.0, help="Bound on each measured phase.")
    parser.add_argument("--tenants", type=int, default=50, help="Clinics the vendor's server answers for.")
    parser.add_argument("--single", action="store_true", help="Every party in this one process (as before).")
    parser.add_argument("--profile", type=Path, help="Record each party's process with py-spy into this folder.")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    work = Path(tempfile.mkdtemp(prefix="s24kit-bench-"))
    write_scenario(work / "scenario", Options(patients=args.patients, seed=7).resolved())
    stack = Stack(StackOptions(work / "scenario", work / "state", tenants=args.tenants))
    records = list(stack.claims())
    copies = [t for t in stack.tenants if t.copy_of]
    total = args.claims * len(levels)

    def claim(i: int) -> dict | None:
        # every claim a new request id; spread over the vendor's clinics, copies included
        record = records[i % len(records)]
        clinic = next((t.provider_code for t in copies[i % max(len(copies), 1):] + copies
                       if t.copy_of == record["claim"]["provider_code"]), None) if i % 2 else None
        return stack.fresh_claim(record, f"bench-{i:07d}", provider_code=clinic)

    claims = [c for i in range(total * 2) if (c := claim(i)) is not None][:total]
    results = []
    with stack.network(processes=not args.single):
        for n, level in enumerate(levels):
            try:
                results.append(measure(stack, claims[n * args.claims:(n + 1) * args.claims], level, args))
            except Exception as exc:  # reported, not hidden: the level is "not measured"
                results.append({"concurrency": level, "measured": False, "why": f"{type(exc).__name__}: {exc}"})
    mode = "one process" if args.single else "a process per party"
    print(f"relay end to end over mutual TLS, {mode}, vendor server for {args.tenants} clinics")
    print(f"{'concurrency':>11} {'claims/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'relay x/s':>10} {'echo x/s':>9} "
          f"{'ratio':>6}")
    for r in results:
        if not r["measured"]:
            print(f"{r['concurrency']:>11} not measured: {r['why']}")
            continue
        print(f"{r['concurrency']:>11} {r['claims_per_s']:>9.1f} {r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f} "
              f"{r['relay_exchanges_per_s']:>10.1f} {r['echo_exchanges_per_s']:>9.1f} {r['ratio']:>6.3f}")
    print(json.dumps({"benchmark": "relay_sweep", "mode": "single" if args.single else "processes",
                      "tenants": args.tenants, "goal_claims_per_s": 300, "goal_p99_ms": 1000, "levels": results,
                      "peak_rss_mb_load_process": round(rss_mb(), 1)}, ensure_ascii=False))


if __name__ == "__main__":
    main()

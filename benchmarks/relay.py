"""Relay end to end over mutual TLS on loopback, swept over relay workers and concurrency, against a bare mTLS echo.

At each number of relay workers (default 1; ``--workers 1,2``) and each concurrency (default 4, 16, 32): complete
claims per second (patient app → relay → provider → insurers → events back → the final state seen by a long
poll), p50/p99 of a claim's latency, and the HTTP exchanges per second that implies (the relay's journals count
them; the patient app's status polls are left out). The baseline is a bare Starlette JSON echo behind the same
serving code and the same mutual TLS, in as many processes as the relay has workers, driven by the same clients
at the same concurrency in the same run. The ratio at each level is relay exchanges/s ÷ echo exchanges/s. A
level that could not be measured (no claim completed, an error) says "not measured".

The parties run each in their own process (``s24kit serve --processes``; ``--single``: all in one process), the
vendor's server answering for ``--tenants`` clinics. The load comes from ``--clients`` processes of its own
(default 2), each keeping its share of the concurrency in flight, so that one Python client's own limit is not
taken for the relay's. ``--profile DIR`` records each party's process with py-spy while the claims run. Goals
(docs/performance.md §1): ≥ 300 claims/s with p99 < 1 s. Each level also prints the CPU a claim cost each party
(from /proc) and the claims/s the machine's cores could give at that cost, the ceiling no tuning of the load can pass.

    python benchmarks/relay.py [--workers 1,2] [--levels 4,16,32] [--claims 400] [--seconds 20] [--clients 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
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
from _common import CpuMeter, rss_mb

from s24kit.simulator.generator.context import Options
from s24kit.simulator.generator.scenario import write_scenario
from s24kit.simulator.journal import Journal
from s24kit.simulator.pki import ensure_pki
from s24kit.simulator.processes import ServerSpec, serving_in_processes
from s24kit.simulator.relay.states import FINAL
from s24kit.simulator.serving import bind
from s24kit.simulator.stack import Stack, StackOptions, worker_journal


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def drive_claims(client: httpx.AsyncClient, claims: list[dict], concurrency: int,
                       deadline: float) -> dict[str, Any]:
    """Send ``claims`` with ``concurrency`` in flight, each until final; latencies, polls and failures."""
    latencies: list[float] = []
    polls, failures = 0, 0
    queue = list(reversed(claims))

    async def worker() -> None:
        nonlocal polls, failures
        while queue and time.time() < deadline:
            claim = queue.pop()
            started = time.perf_counter()
            try:
                response = await client.post("/relay/v1/claims", json=claim)
                claim_id = response.json()["claim_id"]
                state = response.json()["state"]
                while state not in FINAL and time.time() < deadline + 30:
                    polls += 1  # a long poll: the relay answers when the claim is final
                    state = (await client.get(f"/relay/v1/claims/{claim_id}", params={"wait": 20})).json()["state"]
            except (httpx.HTTPError, KeyError, ValueError):
                failures += 1
                continue
            if state not in FINAL or state == "failed":  # never final, or the relay gave up: not a completed claim
                failures += 1
                continue
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"latencies": latencies, "polls": polls, "failures": failures, "done": len(latencies)}


async def drive_echo(client: httpx.AsyncClient, payload: dict, concurrency: int, count: int,
                     deadline: float) -> dict[str, Any]:
    done = 0

    async def worker() -> None:
        nonlocal done
        while done < count and time.time() < deadline:
            done += 1
            (await client.post("/echo", json=payload)).raise_for_status()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"done": done, "latencies": [], "polls": 0, "failures": 0}


def client_process(kind: str, pki_dir: str, role: str, url: str, work: Any, concurrency: int, seconds: float,
                   ready: Any, go: Any, results: Any) -> None:
    """One load process: its own event loop and client, started with the others at the same moment."""
    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient(verify=ensure_pki(Path(pki_dir)).client_context(role), base_url=url,
                                     timeout=30, limits=httpx.Limits(max_connections=concurrency * 2)) as client:
            ready.release()
            go.wait()
            started = time.time()
            deadline = started + seconds
            if kind == "claims":
                outcome = await drive_claims(client, work, concurrency, deadline)
            else:
                outcome = await drive_echo(client, work["payload"], concurrency, work["count"], deadline)
            return {**outcome, "started": started, "ended": time.time()}

    results.put(asyncio.run(run()))


def in_client_processes(kind: str, pki_dir: str, role: str, url: str, shares: list[Any], levels: list[int],
                        seconds: float) -> dict[str, Any]:
    """Run ``shares`` in as many client processes at once; merged latencies, counts and the wall time."""
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Semaphore(0), context.Event(), context.Queue()
    processes = [context.Process(target=client_process, args=(kind, pki_dir, role, url, share, level, seconds,
                                                              ready, go, results), daemon=True)
                 for share, level in zip(shares, levels, strict=True)]
    for process in processes:
        process.start()
    for _ in processes:
        if not ready.acquire(timeout=120):
            raise RuntimeError("a load process did not start")
    go.set()
    outcomes = [results.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join(10)
    return {"latencies": [x for o in outcomes for x in o["latencies"]], "polls": sum(o["polls"] for o in outcomes),
            "failures": sum(o["failures"] for o in outcomes), "done": sum(o["done"] for o in outcomes),
            "elapsed": max(o["ended"] for o in outcomes) - min(o["started"] for o in outcomes)}


def split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


def spread(level: int, parts: int) -> list[int]:
    return [level // parts + (1 if i < level % parts else 0) for i in range(parts)]


def exchanges(state: Path, workers: int) -> int:
    """Exchanges the relay's workers journaled so far (each worker its own file)."""
    total = 0
    for n in range(1, workers + 1):
        with Journal(worker_journal(state, n)) as journal:
            newest = journal.search(limit=1)
            total += int(newest[0]["id"].removeprefix("x-")) if newest else 0
    return total


@contextlib.contextmanager
def profiled(stack: Stack, folder: Path | None, tag: str):
    """With ``--profile DIR``: py-spy records each party's process while the claims run (raw collapsed stacks,
    one file per party and level; benchmarks/profile_summary.py groups them)."""
    if folder is None or stack.processes is None:
        yield
        return
    spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if spy is None:
        sys.exit("--profile: py-spy is not installed (pip install -e '.[bench]')")
    folder.mkdir(parents=True, exist_ok=True)
    recorders = [subprocess.Popen([spy, "record", "--format", "raw", "--rate", "200", "--nonblocking", "--pid",
                                   str(pid), "--output", str(folder / f"{name.replace(':', '-')}-{tag}.txt")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for name, pid in stack.processes.pids().items()]
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        for recorder in recorders:
            recorder.wait(30)


@contextlib.contextmanager
def echo_servers(stack: Stack, single: bool, workers: int):
    """The bare echo in as many processes as the relay has workers, on one socket (in this process with
    ``--single``)."""
    if single:
        from s24kit.simulator.processes import echo_server as build
        from s24kit.simulator.serving import serving

        app, tls = build(str(stack.pki.directory))
        with serving(app, tls=tls) as served:
            yield served.url, {}
        return
    sock = bind("127.0.0.1", 0)
    url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    specs = [ServerSpec(f"echo-{n}", "s24kit.simulator.processes:echo_server", (str(stack.pki.directory),), sock)
             for n in range(1, workers + 1)]
    with serving_in_processes(specs) as servers:
        yield url, servers.pids()


def measure(stack: Stack, claims: list[dict], level: int, args: argparse.Namespace) -> dict[str, Any]:
    workers, state = stack.options.relay_workers, stack.options.state_dir
    clients = max(1, min(args.clients, level))
    pki_dir = str(stack.pki.directory)
    first = exchanges(state, workers)
    parties = CpuMeter(stack.processes.pids() if stack.processes else {})
    with profiled(stack, args.profile, f"w{workers}-c{level}"):
        parties.start()
        run = in_client_processes("claims", pki_dir, "patient-app", stack.urls["relay"], split(claims, clients),
                                  spread(level, clients), args.seconds)
        party_cpu = parties.stop()
    latencies = run["latencies"]
    if not latencies:
        return {"workers": workers, "concurrency": level, "measured": False,
                "why": f"no claim completed ({run['failures']} failed)"}
    relayed = max(0, exchanges(state, workers) - first - run["polls"])  # status polls excluded, as before
    with Journal(worker_journal(state, 1)) as journal:
        sizes = [len(json.dumps(e)) for e in journal.search(party="relay→provider:*", limit=50)]
    payload = {"blob": "가" * (sorted(sizes)[len(sizes) // 2] // 3 if sizes else 2000)}
    with echo_servers(stack, args.single, workers) as (url, echo_pids):
        count = max(relayed, 200)
        meter = CpuMeter(echo_pids)
        meter.start()
        echo = in_client_processes("echo", pki_dir, "relay-client", url,
                                   [{"payload": payload, "count": n} for n in spread(count, clients)],
                                   spread(level, clients), args.seconds)
        echo_cpu = sum(meter.stop().values())
    claims_per_s = len(latencies) / run["elapsed"]
    relay_per_s, echo_per_s = relayed / run["elapsed"], echo["done"] / echo["elapsed"]
    return {"workers": workers, "concurrency": level, "clients": clients, "measured": True, "claims": len(latencies),
            "failures": run["failures"], "claims_per_s": round(claims_per_s, 1),
            "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
            "relay_exchanges_per_s": round(relay_per_s, 1), "exchanges_per_claim": round(relayed / len(latencies), 1),
            "echo_exchanges_per_s": round(echo_per_s, 1),
            "ratio": round(relay_per_s / echo_per_s, 3) if echo["done"] else None,
            **cpu_costs(party_cpu, len(latencies), relayed, echo_cpu, echo["done"])}


def cpu_costs(party_cpu: dict[str, float], claims: int, relayed: int, echo_cpu: float, echoed: int) -> dict[str, Any]:
    """What a claim costs each party in CPU, and the most claims/s the machine's cores could give at that cost
    (every core busy with the parties alone, the load taking none): the ceiling the profile explains."""
    if not party_cpu:
        return {"cpu": "not measured (--single: the parties share the load's process)"}
    by_party: dict[str, float] = {}
    for name, seconds in party_cpu.items():
        kind = "insurers" if name.startswith("insurer") else "relay" if name.startswith("relay") else name
        by_party[kind] = by_party.get(kind, 0.0) + seconds
    per_claim = {kind: round(seconds * 1000 / claims, 2) for kind, seconds in sorted(by_party.items())}
    total = sum(party_cpu.values()) * 1000 / claims
    cores = os.cpu_count() or 1
    return {"cpu_ms_per_claim": per_claim, "cpu_ms_per_claim_total": round(total, 2),
            "cpu_ceiling_claims_per_s": round(cores * 1000 / total, 1) if total else None,
            "relay_cpu_ms_per_exchange": round(by_party.get("relay", 0.0) * 1000 / relayed, 3) if relayed else None,
            "echo_cpu_ms_per_exchange": round(echo_cpu * 1000 / echoed, 3) if echoed and echo_cpu else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--workers", default="1", help="Relay worker counts, comma-separated (with processes).")
    parser.add_argument("--levels", default="4,16,32", help="Concurrency levels, comma-separated.")
    parser.add_argument("--claims", type=int, default=400, help="Claims sent at each level (at most).")
    parser.add_argument("--seconds", type=float, default=20.0, help="Bound on each measured phase.")
    parser.add_argument("--clients", type=int, default=2, help="Load processes sharing each level's concurrency.")
    parser.add_argument("--tenants", type=int, default=50, help="Clinics the vendor's server answers for.")
    parser.add_argument("--single", action="store_true", help="Every party in this one process (as before).")
    parser.add_argument("--profile", type=Path, help="Record each party's process with py-spy into this folder.")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    worker_counts = [1] if args.single else [int(n) for n in args.workers.split(",")]

    work = Path(tempfile.mkdtemp(prefix="s24kit-bench-"))
    write_scenario(work / "scenario", Options(patients=args.patients, seed=7).resolved())
    results = []
    for workers in worker_counts:
        stack = Stack(StackOptions(work / "scenario", work / f"state-{workers}", tenants=args.tenants,
                                   relay_workers=workers))
        records = list(stack.claims())
        copies = [t for t in stack.tenants if t.copy_of]
        total = args.claims * len(levels)

        def claim(i: int, stack: Stack = stack, records: list = records, copies: list = copies) -> dict | None:
            # every claim a new request id; spread over the vendor's clinics, copies included
            record = records[i % len(records)]
            clinic = next((t.provider_code for t in copies[i % max(len(copies), 1):] + copies
                           if t.copy_of == record["claim"]["provider_code"]), None) if i % 2 else None
            return stack.fresh_claim(record, f"bench-{i:07d}", provider_code=clinic)

        claims = [c for i in range(total * 2) if (c := claim(i)) is not None][:total]
        with stack.network(processes=not args.single):
            for n, level in enumerate(levels):
                try:
                    results.append(measure(stack, claims[n * args.claims:(n + 1) * args.claims], level, args))
                except Exception as exc:  # reported, not hidden: the level is "not measured"
                    results.append({"workers": workers, "concurrency": level, "measured": False,
                                    "why": f"{type(exc).__name__}: {exc}"})
    mode = "one process" if args.single else "a process per party"
    load = os.getloadavg()
    print(f"relay end to end over mutual TLS, {mode}, vendor server for {args.tenants} clinics, "
          f"{args.clients} load processes; load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"on {os.cpu_count()} cores")
    print(f"{'workers':>7} {'concurrency':>11} {'claims/s':>9} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'relay x/s':>10} {'echo x/s':>9} {'ratio':>6}")
    for r in results:
        if not r["measured"]:
            print(f"{r['workers']:>7} {r['concurrency']:>11} not measured: {r['why']}")
            continue
        print(f"{r['workers']:>7} {r['concurrency']:>11} {r['claims_per_s']:>9.1f} {r['failures']:>6} "
              f"{r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f} {r['relay_exchanges_per_s']:>10.1f} "
              f"{r['echo_exchanges_per_s']:>9.1f} {r['ratio']:>6.3f}")
    print("CPU a claim costs each party (ms), and the claims/s every core of this machine could give at that cost:")
    for r in results:
        if r["measured"] and "cpu_ms_per_claim" in r:
            parts = ", ".join(f"{kind} {ms:.2f}" for kind, ms in r["cpu_ms_per_claim"].items())
            print(f"{r['workers']:>7} {r['concurrency']:>11}  {parts}; total {r['cpu_ms_per_claim_total']:.2f} ms → "
                  f"ceiling {r['cpu_ceiling_claims_per_s']:.0f} claims/s on {os.cpu_count()} cores; relay "
                  f"{r['relay_cpu_ms_per_exchange']} ms an exchange, echo {r['echo_cpu_ms_per_exchange']} ms")
        elif r["measured"]:
            print(f"{r['workers']:>7} {r['concurrency']:>11}  {r['cpu']}")
    print(json.dumps({"benchmark": "relay_sweep", "mode": "single" if args.single else "processes",
                      "tenants": args.tenants, "clients": args.clients, "load_average": load,
                      "goal_claims_per_s": 300, "goal_p99_ms": 1000, "levels": results,
                      "peak_rss_mb_load_process": round(rss_mb(), 1)}, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""A soak at the national peak: does the simulator slow down or grow as its history grows?

Claims arrive at a steady ``--rate`` (default 30 claims/s, the national peak) for ``--minutes`` (default 60),
each followed to its final state by a long poll. Every ``--sample-seconds`` (default 60) it samples the p99 of
the claims completed in that period, the claims/s completed, and the resident memory of each party's process
(the parties run each in its own process), the CPU each used in the period (milliseconds per completed claim)
and the size of the relay's state file. It ends with the totals and the drift, the first minute (start-up) left
out: the median p99 of the last third of the samples against the first third, and each party's memory growth
in MB per minute over the second half (a least-squares slope, so one noisy sample cannot make or hide a
trend). Bounded: at most 24 hours, claims in flight capped by ``--concurrency``, a claim that is not final
within 60 s counted as failed.

    python benchmarks/soak.py                                # one hour at 30 claims/s
    python benchmarks/soak.py --minutes 2 --sample-seconds 20 --rate 10   # a short run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import httpx
from _common import CpuMeter, process_rss_mb

from s24kit.simulator.generator.context import Options
from s24kit.simulator.generator.scenario import write_scenario
from s24kit.simulator.relay.states import FINAL
from s24kit.simulator.stack import Stack, StackOptions

CLAIM_TIMEOUT = 60.0


def p99(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else None


async def follow(client: httpx.AsyncClient, claim: dict) -> float | None:
    """Submit ``claim`` and long-poll it to its final state: the seconds it took, or None if it failed (refused,
    given up by the relay, or not final in time)."""
    started = time.perf_counter()
    try:
        status = (await client.post("/relay/v1/claims", json=claim)).json()
        while status["state"] not in FINAL and time.perf_counter() - started < CLAIM_TIMEOUT:
            status = (await client.get(f"/relay/v1/claims/{status['claim_id']}", params={"wait": 20})).json()
    except (httpx.HTTPError, KeyError, ValueError):
        return None
    completed = status["state"] in FINAL and status["state"] != "failed"  # "failed": the relay gave the claim up
    return time.perf_counter() - started if completed else None


async def burst(client: httpx.AsyncClient, stack: Stack, records: list[dict], tag: str,
                args: argparse.Namespace) -> dict:
    """As many claims as ``--burst-concurrency`` in flight can complete in ``--burst-seconds``: the capacity of
    the stack at this point of its history (bounded in time and count)."""
    latencies: list[float] = []
    failed = 0
    deadline = time.monotonic() + args.burst_seconds
    numbers = iter(range(100_000))

    async def worker() -> None:
        nonlocal failed
        while time.monotonic() < deadline and (n := next(numbers, None)) is not None:
            claim = stack.fresh_claim(records[n % len(records)], f"burst-{tag}-{n:06d}")
            if claim is None:
                continue
            took = await follow(client, claim)
            if took is None:
                failed += 1
            else:
                latencies.append(took)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(args.burst_concurrency)))
    elapsed = time.monotonic() - started
    return {"claims_per_s": round(len(latencies) / elapsed, 1), "completed": len(latencies), "failed": failed,
            "p99_ms": round(p99(latencies) * 1000, 1) if latencies else None}


async def soak(stack: Stack, args: argparse.Namespace) -> tuple[list[dict], dict, dict]:
    records = list(stack.claims())
    latencies: list[float] = []
    counts = {"sent": 0, "failed": 0, "completed": 0}
    samples: list[dict] = []
    capacity: dict[str, dict] = {}
    gate = asyncio.Semaphore(args.concurrency)
    pids = stack.processes.pids() if stack.processes else {}
    cpu = CpuMeter(pids)
    async with httpx.AsyncClient(verify=stack.pki.client_context("patient-app"), base_url=stack.urls["relay"],
                                 timeout=CLAIM_TIMEOUT, limits=httpx.Limits(max_connections=args.concurrency)) as c:
        if args.burst_seconds:
            capacity["before"] = await burst(c, stack, records, "before", args)
            print(json.dumps({"capacity_before": capacity["before"]}), flush=True)
        cpu.start()

        async def one(claim: dict) -> None:
            async with gate:
                took = await follow(c, claim)
            if took is None:
                counts["failed"] += 1
            else:
                latencies.append(took)
                counts["completed"] += 1

        tasks: set[asyncio.Task] = set()
        begin = time.monotonic()
        end = begin + args.minutes * 60
        next_sample = begin + args.sample_seconds
        while (now := time.monotonic()) < end:
            due = int((now - begin) * args.rate) - counts["sent"]
            for _ in range(max(due, 0)):
                record = records[counts["sent"] % len(records)]
                claim = stack.fresh_claim(record, f"soak-{counts['sent']:09d}")
                counts["sent"] += 1
                if claim is not None:
                    task = asyncio.create_task(one(claim))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            if now >= next_sample:
                period, latencies[:] = list(latencies), []
                relay_db = stack.options.state_dir / "relay.sqlite"
                db_mb = round(relay_db.stat().st_size / 2**20, 1) if relay_db.exists() else None
                used = cpu.stop()
                cpu.start()
                samples.append({"minute": round((now - begin) / 60, 2), "completed": len(period),
                                "claims_per_s": round(len(period) / args.sample_seconds, 1),
                                "p99_ms": round(p99(period) * 1000, 1) if period else None,
                                "failed_so_far": counts["failed"], "in_flight": len(tasks),
                                "rss_mb": {name: round(process_rss_mb(pid) or 0, 1) for name, pid in pids.items()},
                                "cpu_ms_per_claim": {name: round(seconds * 1000 / len(period), 2)
                                                     for name, seconds in used.items()} if period else None,
                                "relay_db_mb": db_mb})
                print(json.dumps(samples[-1], ensure_ascii=False), flush=True)
                next_sample += args.sample_seconds
            await asyncio.sleep(min(0.02, 1 / args.rate))
        if tasks:
            await asyncio.wait(tasks, timeout=CLAIM_TIMEOUT)
        counts["unfinished"] = len(tasks)
        if args.burst_seconds:
            capacity["after"] = await burst(c, stack, records, "after", args)
    return samples, counts, capacity


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``points`` (x, y)."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in points) / spread if spread else 0.0


def drift(samples: list[dict]) -> dict:
    """p99 of the last third against the first third (medians), memory growth per party over the second half
    (MB a minute), and the most memory seen; the first sample (start-up) left out."""
    measured = [s for s in samples[1:] if s["p99_ms"] is not None]
    if len(measured) < 6:
        return {"measured": False, "why": f"{len(measured)} samples with completed claims after the first; 6 needed"}
    third = len(measured) // 3
    first, last = statistics.median(s["p99_ms"] for s in measured[:third]), \
        statistics.median(s["p99_ms"] for s in measured[-third:])
    half = measured[len(measured) // 2:]
    growth = {name: round(slope([(s["minute"], s["rss_mb"][name]) for s in half]), 3) for name in half[0]["rss_mb"]}
    total = [sum(s["rss_mb"].values()) for s in measured]
    return {"measured": True, "p99_first_third_ms": round(first, 1), "p99_last_third_ms": round(last, 1),
            "p99_drift": round(last / first, 3), "p99_worst_ms": max(s["p99_ms"] for s in measured),
            "rss_growth_mb_per_min": growth, "rss_first_mb": round(total[0], 1), "rss_last_mb": round(total[-1], 1),
            "rss_max_mb": round(max(total), 1)}


def summary(counts: dict, result: dict, capacity: dict, concurrency: int) -> None:
    """The end of the run as a person reads it (Korean first)."""
    if capacity:
        before, after = capacity["before"], capacity["after"]
        print(f"처리 능력 (동시 {concurrency}건): 빈 이력 {before['claims_per_s']}건/s, p99 {before['p99_ms']} ms → "
              f"소크 후 {after['claims_per_s']}건/s, p99 {after['p99_ms']} ms / capacity ({concurrency} in flight): "
              f"empty history → after the soak")
    print(f"청구 {counts['sent']:,}건 보냄 · {counts['completed']:,}건 완료 · {counts['failed']:,}건 실패 · "
          f"{counts['unfinished']:,}건 미완료 / claims sent {counts['sent']:,}, completed {counts['completed']:,}, "
          f"failed {counts['failed']:,}, unfinished {counts['unfinished']:,}")
    if not result["measured"]:
        print(f"추세 측정 안 됨 / drift not measured: {result['why']}")
        return
    print(f"p99: 처음 1/3 {result['p99_first_third_ms']:.0f} ms → 마지막 1/3 {result['p99_last_third_ms']:.0f} ms "
          f"(×{result['p99_drift']:.2f}), 최악 {result['p99_worst_ms']:.0f} ms / p99 first third → last third, worst")
    for name, growth in result["rss_growth_mb_per_min"].items():
        print(f"  {name:<16} 메모리 증가 / memory growth {growth:+.3f} MB/min (second half)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=30.0, help="Claims per second sent.")
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=256, help="Most claims in flight.")
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--relay-workers", type=int, default=1, help="Relay processes on one database.")
    parser.add_argument("--burst-seconds", type=float, default=30.0,
                        help="Capacity burst before and after the soak (0: none).")
    parser.add_argument("--burst-concurrency", type=int, default=16, help="Claims in flight during a burst.")
    args = parser.parse_args()
    if not (0 < args.minutes <= 24 * 60 and 0 < args.rate <= 10_000 and args.sample_seconds >= 1
            and 1 <= args.relay_workers <= 16 and 0 <= args.burst_seconds <= 600
            and 1 <= args.burst_concurrency <= 256):
        parser.error("--minutes 0–1440, --rate 0–10000, --sample-seconds ≥ 1, --relay-workers 1–16, "
                     "--burst-seconds 0–600, --burst-concurrency 1–256")
    work = Path(tempfile.mkdtemp(prefix="s24kit-soak-"))
    write_scenario(work / "scenario", Options(patients=args.patients, seed=7).resolved())
    stack = Stack(StackOptions(work / "scenario", work / "state", tenants=args.tenants,
                               relay_workers=args.relay_workers))
    with stack.network(processes=True):
        samples, counts, capacity = asyncio.run(soak(stack, args))
    summary(counts, drift(samples), capacity, args.burst_concurrency)
    print(json.dumps({"benchmark": "soak", "rate": args.rate, "minutes": args.minutes,
                      "relay_workers": args.relay_workers, "samples": len(samples), **counts, "capacity": capacity,
                      "drift": drift(samples)}, ensure_ascii=False))


if __name__ == "__main__":
    main()

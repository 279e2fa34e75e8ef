"""A soak at the national peak: does the simulator slow down or grow as its history grows?

Claims arrive at a steady ``--rate`` (default 30 claims/s, the national peak) for ``--minutes`` (default 60),
each followed to its final state by a long poll. Every ``--sample-seconds`` (default 60) it samples the p99 of
the claims completed in that period, the claims/s completed, and the resident memory of each party's process
(the parties run each in its own process) and the size of the relay's state file. It ends with the drift:
p99 and memory of the last sample against the first, and the largest memory seen. Bounded: at most 24 hours,
claims in flight capped by ``--concurrency``, a claim that is not final within 60 s counted as failed.

    python benchmarks/soak.py                                # one hour at 30 claims/s
    python benchmarks/soak.py --minutes 2 --sample-seconds 20 --rate 10   # a short run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import httpx

from s24kit.simulator.generator.context import Options
from s24kit.simulator.generator.scenario import write_scenario
from s24kit.simulator.relay.states import FINAL
from s24kit.simulator.stack import Stack, StackOptions

CLAIM_TIMEOUT = 60.0


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except (OSError, ValueError, IndexError):
        return None


def p99(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else None


async def soak(stack: Stack, args: argparse.Namespace) -> list[dict]:
    records = list(stack.claims())
    latencies: list[float] = []
    counts = {"sent": 0, "failed": 0}
    samples: list[dict] = []
    gate = asyncio.Semaphore(args.concurrency)
    pids = stack.processes.pids() if stack.processes else {}
    async with httpx.AsyncClient(verify=stack.pki.client_context("patient-app"), base_url=stack.urls["relay"],
                                 timeout=CLAIM_TIMEOUT, limits=httpx.Limits(max_connections=args.concurrency)) as c:
        async def one(claim: dict) -> None:
            async with gate:
                started = time.perf_counter()
                try:
                    status = (await c.post("/relay/v1/claims", json=claim)).json()
                    while status["state"] not in FINAL and time.perf_counter() - started < CLAIM_TIMEOUT:
                        status = (await c.get(f"/relay/v1/claims/{status['claim_id']}", params={"wait": 20})).json()
                    if status["state"] not in FINAL:
                        raise TimeoutError
                except (httpx.HTTPError, KeyError, ValueError, TimeoutError):
                    counts["failed"] += 1
                    return
                latencies.append(time.perf_counter() - started)

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
                samples.append({"minute": round((now - begin) / 60, 2), "completed": len(period),
                                "claims_per_s": round(len(period) / args.sample_seconds, 1),
                                "p99_ms": round(p99(period) * 1000, 1) if period else None,
                                "failed_so_far": counts["failed"], "in_flight": len(tasks),
                                "rss_mb": {name: round(rss_mb(pid) or 0, 1) for name, pid in pids.items()},
                                "relay_db_mb": db_mb})
                print(json.dumps(samples[-1], ensure_ascii=False), flush=True)
                next_sample += args.sample_seconds
            await asyncio.sleep(min(0.02, 1 / args.rate))
        if tasks:
            await asyncio.wait(tasks, timeout=CLAIM_TIMEOUT)
    return samples


def drift(samples: list[dict]) -> dict:
    """Last sample against the first (p99 and total memory), and the most memory seen."""
    measured = [s for s in samples if s["p99_ms"] is not None]
    if len(measured) < 2:
        return {"measured": False, "why": "fewer than two samples with completed claims"}
    total = [sum(s["rss_mb"].values()) for s in measured]
    return {"measured": True, "p99_first_ms": measured[0]["p99_ms"], "p99_last_ms": measured[-1]["p99_ms"],
            "p99_drift": round(measured[-1]["p99_ms"] / measured[0]["p99_ms"], 3),
            "rss_first_mb": round(total[0], 1), "rss_last_mb": round(total[-1], 1),
            "rss_drift": round(total[-1] / total[0], 3) if total[0] else None, "rss_max_mb": round(max(total), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=30.0, help="Claims per second sent.")
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=256, help="Most claims in flight.")
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--tenants", type=int, default=50)
    args = parser.parse_args()
    if not (0 < args.minutes <= 24 * 60 and 0 < args.rate <= 10_000 and args.sample_seconds >= 1):
        parser.error("--minutes 0–1440, --rate 0–10000, --sample-seconds ≥ 1")
    work = Path(tempfile.mkdtemp(prefix="s24kit-soak-"))
    write_scenario(work / "scenario", Options(patients=args.patients, seed=7).resolved())
    stack = Stack(StackOptions(work / "scenario", work / "state", tenants=args.tenants))
    with stack.network(processes=True):
        samples = asyncio.run(soak(stack, args))
    print(json.dumps({"benchmark": "soak", "rate": args.rate, "minutes": args.minutes, "samples": len(samples),
                      "drift": drift(samples)}, ensure_ascii=False))


if __name__ == "__main__":
    main()

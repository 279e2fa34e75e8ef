"""Relay end to end over mutual TLS on loopback, against a bare Starlette echo on uvicorn with the same TLS.

Complete claims per second (patient → relay → provider → insurers → events back), the HTTP exchanges per
second that implies (counted in the relay's journal), p50/p99 claim latency and peak memory; the baseline
is a bare Starlette JSON echo behind the same serving code and the same mutual TLS, driven by the same
client at the same concurrency, measured in the same run. Goal: relay exchanges/s ≥ 50% of the echo's.

    python benchmarks/relay.py [--patients 40] [--claims 200] [--concurrency 16] [--seconds 20]
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
from _common import result, rss_mb
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from s24kit.simulator.generator.context import Options
from s24kit.simulator.generator.scenario import write_scenario
from s24kit.simulator.pki import ensure_pki
from s24kit.simulator.serving import serving
from s24kit.simulator.stack import Stack, StackOptions

FINAL = ("paid", "denied", "more_documents_required", "failed")


async def _claims(stack: Stack, claims: list[dict], concurrency: int, seconds: float) -> tuple[list[float], float]:
    """Send ``claims`` with ``concurrency`` in flight; each latency is submit → final state."""
    verify = stack.pki.client_context("patient-app")  # claims come from the patient app (docs/security.md)
    latencies: list[float] = []
    queue = list(reversed(claims))
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(verify=verify, base_url=stack.urls["relay"], timeout=30,
                                 limits=httpx.Limits(max_connections=concurrency * 2)) as client:
        async def worker() -> None:
            while queue and time.monotonic() < deadline:
                claim = queue.pop()
                started = time.perf_counter()
                response = await client.post("/relay/v1/claims", json=claim)
                claim_id = response.json()["claim_id"]
                while (await client.get(f"/relay/v1/claims/{claim_id}", params={"wait": 20})).json()["state"] \
                        not in FINAL:
                    pass  # a long poll: the relay answers when the claim is final
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


async def _echo(url: str, pki, payload: dict, concurrency: int, count: int, seconds: float) -> tuple[int, float]:
    done = 0
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(verify=pki.client_context("relay-client"), base_url=url, timeout=30,
                                 limits=httpx.Limits(max_connections=concurrency * 2)) as client:
        async def worker() -> None:
            nonlocal done
            while done < count and time.monotonic() < deadline:
                done += 1
                (await client.post("/echo", json=payload)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done, time.perf_counter() - started


async def _echo_endpoint(request: Request) -> JSONResponse:
    return JSONResponse(await request.json())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--claims", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0, help="Bound on each measured phase.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="s24kit-bench-"))
    write_scenario(work / "scenario", Options(patients=args.patients, seed=7).resolved())
    stack = Stack(StackOptions(work / "scenario", work / "state"))
    records = list(stack.claims())
    claims = [c for i, r in enumerate(records * (1 + args.claims // max(len(records), 1)))
              if (c := stack.fresh_claim(r, f"bench-{i:06d}")) is not None][:args.claims]

    with stack.network():
        stack.journal.clear()
        latencies, elapsed = asyncio.run(_claims(stack, claims, args.concurrency, args.seconds))
        exchanges = len([e for e in stack.journal.search(limit=10**7)
                         if not (e["party"] == "→relay" and e["method"] == "GET")])  # status polls excluded
        sizes = [len(json.dumps(e)) for e in stack.journal.search(party="relay→provider:*", limit=200)]
    claims_per_s = len(latencies) / elapsed
    exchanges_per_s = exchanges / elapsed

    pki = ensure_pki(work / "state" / "pki")
    payload = {"blob": "가" * (int(statistics.median(sizes)) // 3 if sizes else 2000)}
    echo = Starlette(routes=[Route("/echo", _echo_endpoint, methods=["POST"])])
    with serving(echo, tls=pki.server_context("provider-server")) as served:
        done, echo_elapsed = asyncio.run(_echo(served.url, pki, payload, args.concurrency, exchanges, args.seconds))
    echo_per_s = done / echo_elapsed

    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"claims completed        {len(latencies):>8} in {elapsed:.2f} s → {claims_per_s:,.1f} claims/s")
    print(f"relay HTTP exchanges    {exchanges:>8} → {exchanges_per_s:,.1f}/s "
          f"({exchanges / max(len(latencies), 1):.1f} per claim)")
    print(f"bare echo exchanges     {done:>8} in {echo_elapsed:.2f} s → {echo_per_s:,.1f}/s (same mTLS, "
          f"{len(json.dumps(payload)):,}-byte body)")
    print(f"claim latency           p50 {p50:,.0f} ms   p99 {p99:,.0f} ms")
    print(f"peak memory             {rss_mb():,.1f} MB")
    result("relay_exchanges_per_s", exchanges_per_s, "exchanges/s", echo_per_s, goal_ratio=0.5,
           claims_per_s=round(claims_per_s, 2), p50_ms=round(p50, 1), p99_ms=round(p99, 1),
           peak_rss_mb=round(rss_mb(), 1), concurrency=args.concurrency)


if __name__ == "__main__":
    main()

"""The acceptance console: site checks over a fleet, and the register page over 100,000 sites.

1. Site checks over a fleet of 200 simulated sites (``s24kit serve --fleet 200`` in its own process): sites
   per minute with the console's batch (``s24kit console worker`` processes claiming jobs from the
   database, site profile) against the baseline of running ``s24kit doctor`` + ``s24kit check`` (the full
   suite) one site after another, measured in the same run. The baseline is time-bound: it measures a
   sample of sites (``--baseline-sites``, default 3) and says so; goal ≥ 10×.
2. The register page (``GET /sites``, first page, and filtered by region) with 100,000 sites in the
   database, timed inside the server (from the request entering the app to its last byte); goal < 300 ms.

Prints one JSON line per figure (``_common.result``); a figure that could not be measured is printed as
``"not measured"`` with the reason.

    python benchmarks/console.py [--sites 200] [--workers 2] [--threads 8] [--baseline-sites 3]
                                 [--register-sites 100000] [--database postgresql://…]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import result

from s24kit.conformance.console import register
from s24kit.conformance.console.audit import SYSTEM
from s24kit.conformance.console.db import now, prepare
from s24kit.conformance.console.tables import product_versions, products, sites, vendors

KIT = [sys.executable, "-m", "s24kit.conformance.cli"]
GOAL_RATIO = 10.0
GOAL_MS = 300.0


def not_measured(name: str, why: str) -> None:
    print(json.dumps({"benchmark": name, "value": "not measured", "reason": why}, ensure_ascii=False))


# -- 1. site checks over a fleet ----------------------------------------------------------------------------------

def start_fleet(state: Path, count: int) -> tuple[subprocess.Popen, dict[str, Any]]:
    """``s24kit serve --fleet`` in its own process (its servers do not share this process's interpreter)."""
    process = subprocess.Popen([*KIT, "serve", "--fleet", str(count), "--state", str(state), "--duration", "3600"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    key = state / "fleet" / "fleet.json"
    deadline = time.monotonic() + 300
    while not key.is_file():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the fleet did not start: {process.stdout.read().decode()[-500:]}")
        time.sleep(0.2)
    time.sleep(0.5)  # the file is written once every site listens; let the writer finish
    return process, json.loads(key.read_text(encoding="utf-8"))


def register_fleet(database: Any, fleet: dict[str, Any]) -> None:
    versions: dict[tuple[str, str, str], int] = {}
    certified = set(fleet["certified"])
    with database.engine.begin() as connection:
        vendor_ids: dict[str, int] = {}
        product_ids: dict[tuple[str, str], int] = {}
        for site in fleet["sites"]:
            triple = (site["vendor"], site["product"], site["product_version"])
            if site["vendor"] not in vendor_ids:
                vendor_ids[site["vendor"]] = register.create_vendor(connection, SYSTEM, {"name": site["vendor"]})["id"]
            if triple[:2] not in product_ids:
                product_ids[triple[:2]] = register.create_product(connection, SYSTEM, {
                    "vendor_id": vendor_ids[site["vendor"]], "name": site["product"]})["id"]
            if triple not in versions:
                versions[triple] = register.create_version(connection, SYSTEM, {
                    "product_id": product_ids[triple[:2]], "version": site["product_version"]})["id"]
                if "/".join(triple) in certified:
                    connection.execute(product_versions.update().where(product_versions.c.id == versions[triple])
                                       .values(state="certified"))
            register.create_site(connection, SYSTEM, {
                "provider_code": site["provider_code"], "name": site["name"], "facility_type": site["facility_type"],
                "region": site["region"], "product_version_id": versions[triple], "mode": "pull",
                "pull_url": site["url"], "server_cert_sha256": site["server_cert_sha256"]})


def console_batch(state: Path, url: str, fleet: dict[str, Any], workers: int, threads: int) -> tuple[float, int]:
    """Seconds for the console's batch over every site, and how many runs found what the fleet seeded."""
    from s24kit.conformance.console.batches import Selection, create_batch
    from s24kit.conformance.console.register import SiteFilter
    from s24kit.conformance.console.tables import runs

    database = prepare(url, state_dir=state)
    register_fleet(database, fleet)
    started = time.perf_counter()
    with database.engine.begin() as connection:
        batch_id = create_batch(connection, Selection(SiteFilter()), label="benchmark",
                                concurrency=workers * threads)
    command = [*KIT, "console", "--state", str(state), "--database", url, "worker", "--threads", str(threads),
               "--scenario", fleet["scenario"], "--reports", str(state / "runs"), "--until-idle"]
    processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(workers)]
    for process in processes:
        if process.wait(3600) != 0:
            raise RuntimeError(f"a worker failed: {process.stderr.read().decode()[-500:]}")
    seconds = time.perf_counter() - started
    expected = {s["provider_code"]: s["defect"] is None for s in fleet["sites"]}
    with database.engine.connect() as connection:
        rows = connection.execute(runs.select().where(runs.c.batch_id == batch_id)).all()
        codes = dict(connection.execute(sites.select().with_only_columns(sites.c.id, sites.c.provider_code)).all())
    right = sum((row.verdict == "pass") == expected[codes[row.site_id]] for row in rows if row.state == "done")
    database.engine.dispose()
    return seconds, right


def sequential_baseline(state: Path, fleet: dict[str, Any], sample: int) -> float:
    """Seconds per site of ``s24kit doctor`` then ``s24kit check`` (the full suite), one site after another."""
    pki = state / "pki"
    chosen = [s for s in fleet["sites"] if s["defect"] is None][:sample]
    times = []
    for site in chosen:
        started = time.perf_counter()
        subprocess.run([*KIT, "doctor", site["url"], "--ca", str(pki / "ca.pem"), "--cert",
                        str(pki / "relay-client.pem"), "--key", str(pki / "relay-client.key")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        subprocess.run([*KIT, "check", "--target", site["url"], "--scenario", fleet["scenario"], "--provider",
                        site["provider_code"], "--state", str(state), "--out", str(state / "baseline" /
                                                                                    site["provider_code"]), "-q"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800)
        times.append(time.perf_counter() - started)
    return statistics.mean(times)


def fleet_figures(args: argparse.Namespace, work: Path) -> None:
    name = f"console batch site checks ({args.sites} sites)"
    state = work / "fleet-state"
    try:
        process, fleet = start_fleet(state, args.sites)
    except RuntimeError as exc:
        not_measured(name, str(exc))
        return
    try:
        url = args.database or f"sqlite:///{work / 'fleet-console.sqlite3'}"
        seconds, right = console_batch(state, url, fleet, args.workers, args.threads)
        per_site = sequential_baseline(state, fleet, args.baseline_sites)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        not_measured(name, str(exc))
        return
    finally:
        process.kill()
        process.wait(30)
    console_rate = args.sites / seconds * 60
    baseline_rate = 60 / per_site
    result(name, console_rate, "sites/min", baseline_rate,
           baseline_note=f"s24kit doctor + s24kit check (full suite) one site after another, measured on "
                         f"{args.baseline_sites} sites and extrapolated ({per_site:.1f} s per site)",
           console=f"{args.workers} worker processes × {args.threads} threads, batch of {args.sites} in "
                   f"{seconds:.1f} s", right_verdicts=f"{right}/{args.sites}", goal=f"ratio ≥ {GOAL_RATIO:g}")


# -- 2. the register page over 100,000 sites ------------------------------------------------------------------------

def fill_register(database: Any, count: int) -> None:
    """``count`` sites over a few vendors, products and versions, inserted in bulk."""
    with database.engine.begin() as connection:
        when = now()
        vendor_ids = [connection.execute(vendors.insert().values(name=f"벤더 {i}", created_at=when))
                      .inserted_primary_key[0] for i in range(5)]
        version_ids = []
        for vendor_id in vendor_ids:
            product_id = connection.execute(products.insert().values(vendor_id=vendor_id, name="EMR", created_at=when)
                                            ).inserted_primary_key[0]
            for version in ("1.0", "1.1", "2.0"):
                made = connection.execute(product_versions.insert().values(
                    product_id=product_id, version=version, state="certified", created_at=when))
                version_ids.append(made.inserted_primary_key[0])
        regions = ("11", "26", "27", "28", "41", "48")
        states = ("applied", "testing", "passed", "accepted", "accepted", "accepted")
        batch = []
        for i in range(count):
            batch.append({"provider_code": f"{10000000 + i}", "name": f"요양기관 {i}", "facility_type": "31",
                          "region": regions[i % len(regions)], "product_version_id": version_ids[i % len(version_ids)],
                          "mode": "pull", "pull_url": f"https://10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:8443",
                          "state": states[i % len(states)], "state_changed_at": when, "created_at": when,
                          "updated_at": when})
            if len(batch) == 5000:
                connection.execute(sites.insert(), batch)
                batch = []
        if batch:
            connection.execute(sites.insert(), batch)


class ServerTime:
    """ASGI middleware keeping how long each request took inside the app (first call to last byte)."""

    def __init__(self, app: Any) -> None:
        self.app, self.times = app, []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.times.append((time.perf_counter() - started) * 1000)


def register_figures(args: argparse.Namespace, work: Path) -> None:
    from starlette.testclient import TestClient

    from s24kit.conformance.console import accounts
    from s24kit.conformance.console.app import Settings, create_app

    name = f"register page ({args.register_sites:,} sites)"
    state = work / "register-state"
    url = args.database or f"sqlite:///{work / 'register.sqlite3'}"
    try:
        database = prepare(url, state_dir=state)
        fill_register(database, args.register_sites)
        with database.engine.begin() as connection:
            accounts.create_account(connection, SYSTEM, "bench", "viewer", "bench password 1234 long",
                                    must_change_password=False)
        timed = ServerTime(create_app(Settings(state, url), database))
        client = TestClient(timed, follow_redirects=False)
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"username": "bench", "password": "bench password 1234 long", "csrf_token": token})
    except Exception as exc:  # a figure that cannot be measured is reported, never a traceback
        not_measured(name, f"{type(exc).__name__}: {exc}")
        return
    figures = {}
    for label, path in (("first page", "/sites"), ("region filter", "/sites?region=26"),
                        ("state + page 50", "/sites?state=accepted&page=50"), ("code prefix", "/sites?q=1005")):
        timed.times.clear()
        for _ in range(7):
            answer = client.get(path)
            if answer.status_code != 200:
                not_measured(name, f"GET {path}: {answer.status_code}")
                return
        figures[label] = statistics.median(timed.times[1:])  # the first request warms the caches
    worst = max(figures.values())
    result(name, worst, "ms (server time, worst of the pages below, median of 6)", GOAL_MS,
           pages={k: round(v, 1) for k, v in figures.items()}, database=url.split(":", 1)[0],
           goal=f"< {GOAL_MS:g} ms (baseline = the goal)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--baseline-sites", type=int, default=3)
    parser.add_argument("--register-sites", type=int, default=100_000)
    parser.add_argument("--database", help="postgresql://… (default: SQLite in a temporary folder)")
    parser.add_argument("--skip-fleet", action="store_true")
    parser.add_argument("--skip-register", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="s24kit-bench-console-") as folder:
        work = Path(folder)
        if not args.skip_fleet:
            fleet_figures(args, work)
        if not args.skip_register:
            register_figures(args, work)


if __name__ == "__main__":
    main()

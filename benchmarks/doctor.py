"""``s24kit doctor`` with the full TLS check set vs sslyze's default scan, same targets, same run.

Targets: (1) a healthy loopback server — the reference provider over TLS with mutual TLS required;
(2) a filtered port — an nftables DROP rule in a network namespace made here. Without network namespaces
there is no port known to be filtered: the filtered case is reported "not measured" (a documentation
address or a closed port would be refused or unreachable, not filtered, and prove nothing).

sslyze (AGPL) is never imported: it runs as a separate program, found in $S24_SSLYZE,
~/.cache/s24kit/sslyze-venv/bin/sslyze or on PATH. Without it the baseline is one plain TLS handshake
(stdlib, verified) times the number of connections doctor made.

Goals (issue 7): the healthy full check at least 2x faster than sslyze's default scan (ratio doctor/sslyze
≤ 0.5); the filtered port diagnosed within the configured timeout. The headline compares the checks alone
(doctor in-process; sslyze's own scan timestamps); both commands' wall times, process start included, are
printed too.

    python benchmarks/doctor.py [--runs 5] [--timeout 3] [--no-sslyze]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import netns  # tests/netns.py: throw-away namespaces
from _common import result

from s24kit.conformance.net.doctor import DoctorOptions, run_doctor
from s24kit.simulator import serving
from s24kit.simulator.generator.context import Options
from s24kit.simulator.generator.scenario import write_scenario
from s24kit.simulator.pki import TestPKI, ensure_pki
from s24kit.simulator.provider import Scenario, create_provider_app

SSLYZE_VENV = Path.home() / ".cache" / "s24kit" / "sslyze-venv" / "bin" / "sslyze"
SSLYZE_LIMIT = 180.0  # seconds: sslyze on a DROP port retries with back-off


def sslyze_program() -> list[str] | None:
    for candidate in (os.environ.get("S24_SSLYZE"), str(SSLYZE_VENV), shutil.which("sslyze")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return [candidate]
    return None


def ms(seconds: float) -> float:
    return seconds * 1000


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = func()
    return ms(time.perf_counter() - start), value


def doctor_cli(prefix: list[str], url: str, *args: str) -> tuple[float, dict]:
    """Wall time of ``s24kit doctor … --format json`` as a user runs it (process start included)."""
    argv = [*prefix, sys.executable, "-m", "s24kit.conformance.cli", "doctor", url, *args, "--format", "json"]
    elapsed, done = timed(lambda: subprocess.run(argv, capture_output=True, text=True, timeout=300))
    return elapsed, json.loads(done.stdout)


def sslyze_scan(program: list[str], prefix: list[str], target: str, pki: TestPKI) -> dict[str, Any]:
    """sslyze's default scan (every plugin + the Mozilla check) with the relay's credentials: wall time of
    the command, and the scan alone (its own start and end timestamps, process start excluded)."""
    cred = pki["relay-client"]
    argv = [*prefix, *program, "--cert", str(cred.cert), "--key", str(cred.key), "--certinfo_ca_file",
            str(pki.ca_cert), "--json_out", "-", target]
    try:
        elapsed, done = timed(lambda: subprocess.run(argv, capture_output=True, text=True, timeout=SSLYZE_LIMIT))
    except subprocess.TimeoutExpired:
        return {"cli_ms": ms(SSLYZE_LIMIT), "scan_ms": None, "status": f"stopped after {SSLYZE_LIMIT:g} s"}
    try:
        out = json.loads(done.stdout)
        scan = out["server_scan_results"][0]
        began, ended = (dt.datetime.fromisoformat(out[k].replace("Z", "+00:00"))
                        for k in ("date_scans_started", "date_scans_completed"))
        error = (scan.get("connectivity_error_trace") or "").strip()
        status = scan.get("scan_status") or "?"
        return {"cli_ms": elapsed, "scan_ms": (ended - began).total_seconds() * 1000,
                "status": status + (f" ({error.splitlines()[-1][:90]})" if error else "")}
    except (ValueError, KeyError, IndexError):
        return {"cli_ms": elapsed, "scan_ms": None,
                "status": f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[-200:]}"}


@contextmanager
def connection_counter() -> Iterator[list[int]]:
    """Count TCP connections started in this process (for the no-sslyze baseline)."""
    count = [0]
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        count[0] += 1
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        count[0] += 1
        return original_connect_ex(self, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex  # type: ignore[method-assign]
    try:
        yield count
    finally:
        socket.socket.connect, socket.socket.connect_ex = original_connect, original_connect_ex  # type: ignore


def one_handshake_ms(port: int, pki: TestPKI, rounds: int = 20) -> float:
    """Median time of one verified TLS handshake with the client certificate (the fallback baseline's unit)."""
    context = pki.client_context("relay-client")
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="localhost"):
            pass
        times.append(ms(time.perf_counter() - start))
    return statistics.median(times)


def healthy(pki: TestPKI, port: int, runs: int, timeout: float) -> dict[str, Any]:
    url = f"https://localhost:{port}"
    cred = pki["relay-client"]
    options = DoctorOptions(url, timeout=timeout, anchors=pki.ca_cert, client_cert=cred.cert, client_key=cred.key)
    run_doctor(options)  # warm imports and the server
    samples = []
    for _ in range(runs):
        elapsed, report = timed(lambda: run_doctor(options))
        assert report.exit_code == 0, report.as_json()
        samples.append(elapsed)
    with connection_counter() as count:
        run_doctor(options)
    args = ["--ca", str(pki.ca_cert), "--cert", str(cred.cert), "--key", str(cred.key), "--timeout", str(timeout)]
    cli_runs = [doctor_cli([], url, *args) for _ in range(max(1, runs // 2))]
    checks = sum(len(layer["checks"]) for layer in cli_runs[0][1]["layers"])
    return {"in_process_ms": statistics.median(samples), "cli_ms": statistics.median(t for t, _ in cli_runs),
            "connections": count[0], "checks": checks, "verdict": cli_runs[0][1]["verdict"]}


NOT_MEASURED = "not measured"


def filtered(timeout: float) -> tuple[list[str], str, dict[str, Any], netns.Lab | None]:
    """A DROP port in a namespace lab (the prefix runs a command inside it); None for the lab when this
    machine cannot make one, and then nothing is measured."""
    why = netns.unavailable_reason()
    if why is not None:
        return [], "", {"how": f"no network namespace ({why})", "measured": False}, None
    lab = netns.Lab()
    client, server = lab.namespace("cli"), lab.namespace("srv")
    lab.link(client, f"{netns.CLIENT}/24", server, f"{netns.SERVER}/24")
    server.nft(netns.FIREWALL)
    where = f"{netns.SERVER}:{netns.PORTS['drop']}"
    prefix = client.argv()
    elapsed, report = doctor_cli(prefix, where, "--timeout", str(timeout))
    tcp = next(layer for layer in report["layers"] if layer["layer"] == "tcp")
    return prefix, where, {"how": "netns nftables DROP", "measured": True, "cli_ms": elapsed,
                           "doctor_ms": report["elapsed_ms"], "diagnosis": (tcp["diagnosis"] or {}).get("code"),
                           "exit_code": report["exit_code"]}, lab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="doctor runs on the healthy server (median)")
    parser.add_argument("--timeout", type=float, default=3.0, help="doctor's --timeout per layer")
    parser.add_argument("--no-sslyze", action="store_true", help="use the handshake baseline even if sslyze exists")
    args = parser.parse_args()
    program = None if args.no_sslyze else sslyze_program()

    with tempfile.TemporaryDirectory(prefix="s24kit-bench-doctor-") as tmp:
        pki = ensure_pki(Path(tmp) / "pki")
        write_scenario(Path(tmp) / "scenario", Options(patients=5, seed=7).resolved())
        app = create_provider_app(Scenario.load(Path(tmp) / "scenario"))
        with serving.serving(app, tls=pki.server_context("provider-server"), name="bench-provider") as served:
            good = healthy(pki, served.port, args.runs, args.timeout)
            handshake = one_handshake_ms(served.port, pki)
            sslyze_good = sslyze_scan(program, [], f"localhost:{served.port}", pki) if program else None
        prefix, where, drop, lab = filtered(args.timeout)
        try:
            sslyze_drop = sslyze_scan(program, prefix, where, pki) if program and drop["measured"] else None
        finally:
            if lab is not None:
                lab.close()

    print(f"healthy loopback provider (mTLS): doctor ran {good['checks']} checks over {good['connections']} "
          f"connections in {good['in_process_ms']:.0f} ms (median of {args.runs}); the command took "
          f"{good['cli_ms']:.0f} ms with process start; verdict {good['verdict']}")
    if sslyze_good is not None and sslyze_good["scan_ms"]:
        baseline, label = sslyze_good["scan_ms"], "sslyze default scan"
        print(f"{label}, same server: scan {baseline:.0f} ms, command {sslyze_good['cli_ms']:.0f} ms "
              f"({sslyze_good['status']})")
        print(f"speed-up: scan {baseline / good['in_process_ms']:.1f}x, command "
              f"{sslyze_good['cli_ms'] / good['cli_ms']:.1f}x (goal >= 2x)")
    else:
        baseline, label = handshake * good["connections"], "one TLS handshake x connections"
        print(f"sslyze not used (not found, or --no-sslyze; see S24_SSLYZE); baseline {label}: "
              f"{handshake:.1f} ms x {good['connections']} = {baseline:.0f} ms; "
              f"speed-up {baseline / good['in_process_ms']:.1f}x")
    # "within the timeout" holds only for a port known to drop packets that doctor also called filtered
    within: bool | str = NOT_MEASURED
    if not drop["measured"]:
        print(f"filtered port: {NOT_MEASURED} — {drop['how']}")
    elif drop["diagnosis"] != "filtered":
        print(f"filtered port ({drop['how']}): doctor said '{drop['diagnosis']}', not 'filtered': {NOT_MEASURED}")
    else:
        within = drop["doctor_ms"] <= args.timeout * 1000 + 500
        print(f"filtered port ({drop['how']}), --timeout {args.timeout:g}: diagnosed 'filtered' in "
              f"{drop['doctor_ms']:.0f} ms ({drop['cli_ms']:.0f} ms as a command); within the timeout: {within}")
    if sslyze_drop is not None:
        print(f"sslyze on the filtered port: command {sslyze_drop['cli_ms']:.0f} ms ({sslyze_drop['status']})")
    result("doctor", good["in_process_ms"], "ms", baseline, baseline_kind=label,
           speedup=round(baseline / good["in_process_ms"], 2), checks=good["checks"], connections=good["connections"],
           command_ms=round(good["cli_ms"], 1),
           sslyze_command_ms=round(sslyze_good["cli_ms"], 1) if sslyze_good else None,
           filtered_ms=round(drop["doctor_ms"], 1) if within != NOT_MEASURED else None,
           filtered_within_timeout=within, filtered_how=drop["how"], timeout_s=args.timeout,
           sslyze_filtered_command_ms=round(sslyze_drop["cli_ms"], 1) if sslyze_drop else None)

if __name__ == "__main__":
    main()

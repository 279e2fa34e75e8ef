"""No person in any artefact: a full demo, a failing check and the simulator with faults leave no patient name,
birth date, identity token or resident number in the clear — in journals, reports, bundles, request files, logs
or what the commands print — while fee items keep their names."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
from click.testing import CliRunner

from s24kit.conformance.cli import main
from s24kit.simulator.pki import ensure_pki
from s24kit.simulator.provider import Scenario
from s24kit.simulator.provider.faulty import create_faulty_app, faulty_server_context
from s24kit.simulator.serving import serving

DEMO_PROVIDER = "99310001"  # conformance/cli/demo.py: the clinic the demo judges
FINAL = ("paid", "denied", "failed", "more_documents_required")
FAULTS = """
[faults]
seed = 3
[[faults.fault]]
kind = "error_status"
party = "insurer:INSB"
route = "/insurer/v1/claims"
method = "POST"
status = 503
code = "service_unavailable"
times = 1
[[faults.fault]]
kind = "malformed_json"
party = "insurer:INSA"
style = "trailing_garbage"
probability = 0.5
"""


def _people(scenario: Path) -> dict[str, re.Pattern[str]]:
    """Every form a scenario person may take in text: name, token, birth date (3 forms), resident number."""
    needles: dict[str, re.Pattern[str]] = {}
    for line in (scenario / "emr-seed" / "patients.jsonl").read_text(encoding="utf-8").splitlines():
        patient = json.loads(line)
        birth = patient["birth_date"]
        for value in (patient["name"], patient["identity_token"], birth, birth.replace("-", ""),
                      patient["resident_number_masked"]):
            needles[value] = re.compile(re.escape(value))
            escaped = json.dumps(value)[1:-1]
            if escaped != value:  # \\u-escaped Hangul
                needles[escaped] = re.compile(re.escape(escaped), re.IGNORECASE)
        short = birth.replace("-", "")[2:]  # 800102: not a part of a longer number, nor a fraction of a second
        needles[short] = re.compile(rf"(?<![\d.]){short}(?!\d)")
    return needles


def _texts(path: Path) -> Iterator[tuple[str, str]]:
    """(where, text) of every readable piece of an artefact: SQLite rows, zip members, files."""
    data = path.read_bytes()
    if data.startswith(b"SQLite format 3\x00"):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                for row in db.execute(f'SELECT * FROM "{table}"'):
                    yield f"{path}:{table}", "\t".join(map(str, row))
        finally:
            db.close()
    elif data.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(path) as bundle:
            for name in bundle.namelist():
                yield f"{path}!{name}", bundle.read(name).decode("utf-8", "replace")
    else:
        yield str(path), data.decode("utf-8", "replace")


def _leaks(needles: dict[str, re.Pattern[str]], artefacts: list[Path], printed: dict[str, str]) -> list[str]:
    pieces = [(where, text) for path in artefacts for where, text in _texts(path)] + list(printed.items())
    assert len(pieces) > 20, pieces  # the runs did write what is scanned
    return [f"{where}: {value!r} in …{text[max(0, m.start() - 60):m.end() + 20]!r}…"
            for where, text in pieces for value, pattern in needles.items() if (m := pattern.search(text))]


def _files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*") if p.is_file() and p.suffix not in (
        ".pem", ".key"))


def _serve_with_faults(state: Path, scenario: Path, tmp: Path) -> tuple[str, Path]:
    """``s24kit serve`` with a fault plan: a few claims through relay, provider and faulty insurers."""
    config = tmp / "serve.toml"
    config.write_text(f'scenario = "{scenario}"\n[relay]\nport = 0\n[[insurer]]\ncode = "INSA"\nport = 0\n'
                      '[[insurer]]\ncode = "INSB"\nport = 0\n[[provider]]\nreference = true\nport = 0\n' + FAULTS,
                      encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "s24kit.conformance.cli", "serve", "--config", str(config),
                                "--state", str(state)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "COLUMNS": "200"})
    output, deadline = "", time.monotonic() + 40
    try:
        while "Ctrl-C" not in output:
            line = process.stdout.readline()  # type: ignore[union-attr]
            assert line and time.monotonic() < deadline, f"serve did not come up:\n{output}"
            output += line
        relay = re.search(r"relay 중계기관\s+│?\s*(https://\S+)", output).group(1)  # type: ignore[union-attr]
        pki = state / "pki"
        context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        if (pki / "patient-app.pem").is_file():  # the relay asks the patient app's backend for its certificate
            context.load_cert_chain(pki / "patient-app.pem", pki / "patient-app.key")
        claims = [json.loads(line)["claim"] for line in (scenario / "claims.jsonl").read_text().splitlines()[:4]]
        with httpx.Client(verify=context, base_url=relay, timeout=10) as client:
            ids = [client.post("/relay/v1/claims", json=claim).json().get("claim_id") for claim in claims]
            for claim_id in filter(None, ids):
                while client.get(f"/relay/v1/claims/{claim_id}").json().get("state") not in FINAL:
                    if time.monotonic() > deadline:
                        break  # a claim still retrying is fine: its exchanges so far are journalled
                    time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        output += process.communicate(timeout=30)[0]
    return output, state


def test_no_person_in_any_artefact_of_a_demo_a_failing_check_and_serve_with_faults(tmp_path):
    runner = CliRunner()
    # 1. the whole demo, its faulty provider sending another patient's document
    demo_state, demo_out = tmp_path / "demo-state", tmp_path / "demo-out"
    demo = runner.invoke(main, ["demo", "--state", str(demo_state), "--out", str(demo_out), "--patients", "5",
                                "--fault", "foreign_document", "--lang", "en"])
    assert demo.exit_code == 0, demo.output
    scenario = demo_state / "scenario"
    # 2. s24kit check against a provider that gets totals wrong: failures with evidence and reproduction lines
    pki = ensure_pki(demo_state / "pki")
    check_out = tmp_path / "check-out"
    app = create_faulty_app("wrong_total", Scenario.load(scenario, DEMO_PROVIDER))
    with serving(app, tls=faulty_server_context("wrong_total", pki), name="faulty") as bad:
        check = runner.invoke(main, ["check", "--target", bad.url, "--scenario", str(scenario), "--provider",
                                     DEMO_PROVIDER, "--state", str(demo_state), "--out", str(check_out), "-q",
                                     "--select", "DOC,API,SEC,SCH"])
    assert check.exit_code == 1, check.output
    assert (check_out / "requests").is_dir() and any((check_out / "requests").iterdir())
    # 3. the simulator with faults
    serve_state = tmp_path / "serve-state"
    printed, _ = _serve_with_faults(serve_state, scenario, tmp_path)

    artefacts = _files(demo_out, check_out) + [p for p in _files(demo_state, serve_state) if "journal" in p.name]
    assert sum("journal" in p.name for p in artefacts) >= 2 and any(p.suffix == ".zip" for p in artefacts)
    leaks = _leaks(_people(scenario), artefacts, {"demo stdout": demo.output, "check stdout": check.output,
                                                  "serve stdout": printed})
    assert leaks == [], "\n".join(leaks[:30])

    # Fee items are not persons: their names stay in the clear in the journal.
    fees = {json.loads(line)["name"] for line in (scenario / "emr-seed" / "line_items.jsonl").read_text(
        encoding="utf-8").splitlines()}
    journal = "\n".join(text for where, text in _texts(demo_state / "journal.sqlite"))
    assert len([fee for fee in fees if fee in journal]) >= 3, sorted(fees)[:10]

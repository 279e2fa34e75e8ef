"""Reproduction lines work when pasted anywhere and carry no person: the body is sent from a masked file, rebuilt
with the patient from the scenario and a fresh request id; certificates are named by absolute paths; the
``openssl s_client`` lines present the relay's certificate; the bundle carries the request files."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from s24kit.conformance.cli import main
from s24kit.conformance.reproduction import STRANGER_ID
from s24kit.conformance.session import Session
from s24kit.conformance.tls.endpoint import TlsEndpoint
from s24kit.simulator.provider import ProviderCore, Scenario

from ._require import require
from .conftest import generated_scenario
from .test_checks import _busiest, judged


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    directory = generated_scenario(tmp_path_factory, "--patients", "8", "--seed", "5")
    return Scenario.load(directory, _busiest(directory, "medical_receipt"))


@pytest.fixture(scope="module")
def session(scenario, pki) -> Iterator[Session]:
    with judged(ProviderCore(scenario), scenario, pki) as opened:
        yield opened


def _replay(line: str) -> tuple[int, dict]:
    """Run a reproduction line in bash, with this environment's ``s24kit`` on the PATH; (status, JSON body)."""
    require(shutil.which("curl") and shutil.which("bash"), "curl and bash are needed to replay a reproduction")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run(["bash", "-o", "pipefail", "-c", line], capture_output=True, text=True, timeout=60,
                         env=env, check=True).stdout
    head, _, body = out.partition("\n\n")  # text mode turned CRLF into LF
    return int(head.split()[1]), json.loads(body)


def _people(scenario: Scenario) -> list[str]:
    return [v for p in scenario.patients.values() for v in (p["name"], p["identity_token"], p["birth_date"])]


def test_a_replayed_fetch_finds_the_patient_and_sends_a_fresh_request_id(session, scenario):
    exchange = next(iter(session.fetched().values()))
    line = session.curl(exchange)
    assert "\n" not in line and "s24kit report body" in line and "--patient" in line
    for person in _people(scenario):
        assert person not in line, person
    path = Path(shlex.split(line)[3])
    assert path.is_absolute() and path.parent == session.requests.folder and path.name.startswith("x-")
    stored = path.read_text(encoding="utf-8")
    assert not any(person in stored for person in _people(scenario))
    sent = json.loads(exchange.request_body)
    # The provider stores request ids: the same id with another consent would be a 409. Twice 200: a fresh id.
    for _ in range(2):
        status, body = _replay(line)
        assert status == 200 and body["documents"], body
        assert body["request_id"] != sent["request_id"]
    assert sorted(d["visit_id"] for d in body["documents"]) == sorted(d["visit_id"] for d in exchange.body["documents"])


@pytest.mark.parametrize(("case", "status", "code"), [
    ("unknown_visit", 404, "unknown_visit"),  # the patient was found: else unknown_patient
    ("unknown_patient_search", 404, "unknown_patient"),
    ("expired_consent_fetch", 403, None),  # an expired consent stays expired
    ("invalid_json", 400, "invalid_json"),
    ("oversized", 413, "payload_too_large"),
])
def test_provoked_requests_replay_as_they_were_judged(session, case, status, code):
    exchange = session.provoked()[case]
    line = session.curl(exchange)
    got, body = _replay(line)
    assert got == exchange.status == status, (line, body)
    assert code is None or body["code"] == code
    if case == "unknown_patient_search":
        assert f"--patient {STRANGER_ID}" in line


def test_certificates_are_named_by_absolute_paths(session, pki, tmp_path, monkeypatch):
    line = session.curl(session.health())
    for option in ("--cacert", "--cert", "--key"):
        value = shlex.split(line)[shlex.split(line).index(option) + 1]
        assert Path(value).is_absolute() and Path(value).is_file(), option
    monkeypatch.chdir(tmp_path)  # relative paths given: the line still names them absolutely
    relative = TlsEndpoint("127.0.0.1", 1, anchors=Path(os.path.relpath(pki.ca_cert)),
                           client_cert=Path(os.path.relpath(pki["relay-client"].cert)),
                           client_key=Path(os.path.relpath(pki["relay-client"].key)))
    parts = shlex.split(relative.s_client("-showcerts").removesuffix(" </dev/null"))
    for option, expected in (("-CAfile", pki.ca_cert), ("-cert", pki["relay-client"].cert),
                             ("-key", pki["relay-client"].key)):
        named = Path(parts[parts.index(option) + 1])
        assert named.is_absolute() and named.resolve() == Path(expected).resolve(), option
    assert "-cert" not in relative.s_client(cert=False)  # the line of the connection without a certificate


def _rebuilt(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["report", "body", *args])
    return result.exit_code, result.output


def test_report_body_fills_the_patient_gives_a_fresh_id_and_moves_the_consent(scenario, tmp_path):
    patient = next(iter(scenario.patients.values()))
    sent_at = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    consent = {"consent_id": "C-1", "granted_at": "2026-01-01T11:00:00+00:00",
               "expires_at": "2026-01-02T12:00:00+00:00", "scope": ["prescription"]}
    masked = {"request_id": "s24kit-old", "consent": consent, "visit_ids": ["V-1"],
              "patient": {"name": "이**", "birth_date": "1990-**-**", "identity_token": "itk_…"}}
    request = tmp_path / "x-000001.json"
    request.write_text(json.dumps(masked, ensure_ascii=False), encoding="utf-8")
    code, out = _rebuilt(str(request), "--scenario", str(scenario.directory), "--patient", patient["patient_id"],
                         "--sent-at", sent_at.isoformat())
    assert code == 0, out
    body = json.loads(out)
    assert body["patient"] == {k: patient[k] for k in ("name", "birth_date", "identity_token")}
    assert body["request_id"] != "s24kit-old" and body["request_id"].startswith("s24kit-")
    assert body["visit_ids"] == ["V-1"]
    granted = dt.datetime.fromisoformat(body["consent"]["granted_at"])
    assert abs((granted - dt.datetime.now(dt.UTC)) + dt.timedelta(hours=1)) < dt.timedelta(minutes=5)
    assert json.loads(_rebuilt(str(request))[1])["patient"] == masked["patient"]  # no --patient: left as it is


@pytest.mark.parametrize("args", [
    ["missing.json"], ["{dir}"], ["{request}", "--patient", "P1"],
    ["{request}", "--scenario", "{dir}", "--patient", "P-nobody"], ["{request}", "--sent-at", "yesterday"],
    ["{array}"],
])
def test_report_body_refuses_bad_input_in_one_line(tmp_path, args):
    (tmp_path / "emr-seed").mkdir()
    (tmp_path / "emr-seed" / "patients.jsonl").write_text('{"patient_id": "P1"}\n', encoding="utf-8")
    (tmp_path / "request.json").write_text('{"request_id": "x"}', encoding="utf-8")
    (tmp_path / "array.json").write_text("[1]", encoding="utf-8")
    names = {"dir": str(tmp_path), "request": str(tmp_path / "request.json"), "array": str(tmp_path / "array.json")}
    code, out = _rebuilt(*(a.format(**names) for a in args))
    assert code == 2 and out.count("\n") == 1 and out.startswith("오류: ") and "Traceback" not in out, out


def test_the_bundle_carries_the_request_files(session, tmp_path):
    from s24kit.conformance.checks.registry import Result, failed
    from s24kit.conformance.reports import check_bundle
    from s24kit.conformance.runner import SuiteRun

    evidence = session.evidence(session.provoked()["unknown_visit"], "a failure")
    run = SuiteRun(session.target, [Result("S24-API-003", failed("x", evidence))], dt.datetime.now(dt.UTC),
                   dt.datetime.now(dt.UTC), session.journal, request_files=list(session.requests.files.values()),
                   privacy=session.privacy)
    from s24kit.conformance.runner import write_reports

    paths = write_reports(run, tmp_path / "out")
    with zipfile.ZipFile(paths["bundle"]) as bundle:
        names = set(bundle.namelist())
        manifest = json.loads(bundle.read("MANIFEST.json"))
    requests = {n for n in names if n.startswith("requests/")}
    assert requests and requests <= {e["name"] for e in manifest["files"]}
    assert check_bundle(paths["bundle"]).exit_code == 0

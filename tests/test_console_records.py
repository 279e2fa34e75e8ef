"""The records through the console's pages and API (SQLite and PostgreSQL): import with every bad line,
export CSV and XLSX, decisions with a signed record that verifies offline and refuses tampering."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from s24kit.conformance.cli import main
from s24kit.conformance.console import decisions
from s24kit.conformance.console.csvformat import REGISTER_COLUMNS, RESULT_COLUMNS
from s24kit.conformance.console.decisions import RunFacts
from s24kit.conformance.console.signing import PUBLIC_KEY_FILE
from s24kit.conformance.console.validation import FieldError
from s24kit.conformance.reports.record import check_record

from .console_kit import DATABASES, Console, assert_documented, console_on, csrf_of, make_console
from .test_console_sitecsv import csv_text, site

EVIDENCE = hashlib.sha256(b"evidence.zip of the run").hexdigest()


@pytest.fixture(scope="module", params=DATABASES)
def console(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console_on(request.param, tmp_path_factory.mktemp("console")) as made:
        yield made


def _import_api(console: Console, data: bytes):
    return console.api("operator").post("/api/v1/sites/import", content=data, headers={"content-type": "text/csv"})


def test_import_through_the_api_and_the_page(console: Console):
    answer = _import_api(console, csv_text(site("41390001"), site("41390002")).encode("cp949"))
    assert answer.status_code == 201, answer.text
    assert_documented("POST", "/api/v1/sites/import", answer)
    assert answer.json()["imported"] == 2 and answer.json()["encoding"] == "cp949"
    page = console.pages["operator"]
    token = csrf_of(page, "/sites/import")
    good = page.post("/sites/import", data={"csrf_token": token},
                     files={"file": ("sites.csv", csv_text(site("41390003")).encode("utf-8-sig"), "text/csv")})
    assert good.status_code == 303 and good.headers["location"] == "/sites"
    listed = console.api("viewer").get("/api/v1/sites", params={"q": "4139000"}).json()
    assert [s["provider_code"] for s in listed["items"]] == ["41390001", "41390002", "41390003"]


def test_a_bad_file_is_refused_whole_with_every_line_named(console: Console):
    data = csv_text(site("41390010"), site("41390001"), site("41390012", facility_type="99")).encode()
    answer = _import_api(console, data)
    assert answer.status_code == 400
    assert_documented("POST", "/api/v1/sites/import", answer)
    assert [(e["line"], e["field"]) for e in answer.json()["errors"]] == [(3, "provider_code"), (4, "facility_type")]
    page = console.pages["operator"]
    shown = page.post("/sites/import", data={"csrf_token": csrf_of(page, "/sites/import")},
                      files={"file": ("sites.csv", data, "text/csv")})
    assert shown.status_code == 400 and "import-errors" in shown.text and "facility_type" in shown.text
    assert console.api("viewer").get("/api/v1/sites", params={"q": "41390010"}).json()["total"] == 0
    assert _import_api(console, b"\xff\xfeU\x00T\x00F\x00").json()["errors"][0]["field"] == "file"


def test_export_csv_and_xlsx(console: Console):
    _import_api(console, csv_text(site("41390020", name="내보내기 의원")).encode())
    csv_answer = console.api("viewer").get("/api/v1/sites/export", params={"format": "csv"})
    assert csv_answer.status_code == 200 and csv_answer.content.startswith(b"\xef\xbb\xbf")
    assert_documented("GET", "/api/v1/sites/export", csv_answer)
    assert "41390020,내보내기 의원" in csv_answer.content.decode("utf-8-sig")
    xlsx = console.pages["viewer"].get("/sites/export", params={"format": "xlsx", "state": "applied"})
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["content-disposition"]
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.values)
    assert rows[0] == REGISTER_COLUMNS and "41390020" in [r[0] for r in rows[1:]]
    assert console.api("viewer").get("/api/v1/sites/export", params={"format": "pdf"}).status_code == 400


def _register(console: Console) -> list[dict]:
    """Every site of the register as the import columns hold it (ids, states and times are the console's own)."""
    sites, page = [], 1
    while True:
        answer = console.api("viewer").get("/api/v1/sites", params={"page": page, "per_page": 200}).json()
        sites += answer["items"]
        if page >= answer["pages"]:
            break
        page += 1
    kept = ("provider_code", "name", "facility_type", "region", "mode", "pull_url", "server_cert_sha256",
            "agent_source_ip", "agent_cert_sha256", "contact_name", "contact_phone")
    return sorted(({name: s.get(name) for name in kept} | {"version": (
        s["product_version"]["vendor"], s["product_version"]["product"], s["product_version"]["version"])}
        for s in sites), key=lambda s: s["provider_code"])


def test_an_export_imports_again_into_a_fresh_console(console: Console, tmp_path):
    _import_api(console, csv_text(
        site("41390080", name="왕복 의원", contact_phone="+82 2 1234 5678"),
        site("41390081", mode="agent", pull_url="", server_cert_sha256="", agent_source_ip="203.0.113.7",
             agent_cert_sha256="cd" * 32, region="부산광역시")).encode())
    exported = console.pages["viewer"].get("/sites/export", params={"format": "csv"})
    assert exported.status_code == 200
    assert exported.content.decode("utf-8-sig").splitlines()[0] == ",".join(REGISTER_COLUMNS)
    fresh = make_console(tmp_path / "fresh")
    try:
        answer = fresh.api("operator").post("/api/v1/sites/import", content=exported.content,
                                            headers={"content-type": "text/csv"})
        assert answer.status_code == 201, answer.text
        assert_documented("POST", "/api/v1/sites/import", answer)
        assert answer.json()["ignored_columns"] == ["state", "state_changed_at", "version_state"]
        (note,) = answer.json()["notes"]
        assert "state" in note["message_ko"] and "ignored" in note["message_en"]
        assert _register(fresh) == _register(console) and len(_register(fresh)) >= 2
        page = fresh.pages["operator"]
        again = page.post("/sites/import", data={"csrf_token": csrf_of(page, "/sites/import")},
                          files={"file": ("sites.csv", exported.content, "text/csv")})
        assert again.status_code == 400 and "이미 등록" in again.text  # the header itself is accepted
        assert "알 수 없는 열" not in again.text
    finally:
        fresh.database.engine.dispose()


def _site_id(console: Console, code: str) -> int:
    return console.api("viewer").get("/api/v1/sites", params={"q": code}).json()["items"][0]["id"]


def test_a_decision_is_recorded_signed_and_verifies_offline(console: Console, tmp_path):
    _import_api(console, csv_text(site("41390030")).encode())
    site_id = _site_id(console, "41390030")
    body = {"subject_kind": "site", "subject_id": site_id, "decision": "rejected", "reason": "인증서 불일치"}
    assert console.api("operator").post("/api/v1/decisions", json=body).status_code == 403
    answer = console.api("approver").post("/api/v1/decisions", json=body)
    assert answer.status_code == 201, answer.text
    assert_documented("POST", "/api/v1/decisions", answer)
    decided = answer.json()
    assert decided["record"]["decided_by"] == "approver" and decided["record"]["reason"] == "인증서 불일치"
    assert console.api("viewer").get(f"/api/v1/sites/{site_id}").json()["state"] == "rejected"
    record = console.pages["viewer"].get(f"/decisions/{decided['id']}/record")
    path = tmp_path / "record.json"
    path.write_bytes(record.content)
    key = console.app.state.settings.state_dir / PUBLIC_KEY_FILE
    assert CliRunner().invoke(main, ["report", "verify", str(path), "--key", str(key)]).exit_code == 0
    tampered = json.loads(record.content)
    tampered["decision"] = "accepted"
    path.write_text(json.dumps(tampered, ensure_ascii=False), encoding="utf-8")
    refused = CliRunner().invoke(main, ["report", "verify", str(path), "--key", str(key), "--lang", "en"])
    assert refused.exit_code == 1 and "changed after signing" in refused.output
    listed = console.api("viewer").get("/api/v1/decisions", params={"subject_kind": "site", "subject_id": site_id})
    assert [d["id"] for d in listed.json()["items"]] == [decided["id"]]
    page = console.pages["viewer"].get(f"/sites/{site_id}/decisions")
    assert page.status_code == 200 and f"decision-{decided['id']}.json" in page.text


def test_accepting_needs_a_passing_run_of_the_site(console: Console):
    _import_api(console, csv_text(site("41390040")).encode())
    site_id = _site_id(console, "41390040")
    no_run = console.api("approver").post("/api/v1/decisions", json={
        "subject_kind": "site", "subject_id": site_id, "decision": "accepted", "reason": "ok"})
    assert no_run.status_code == 400 and no_run.json()["errors"][0]["field"] == "run_id"
    state_dir = console.app.state.settings.state_dir

    def decide(run: RunFacts, decision: str = "accepted"):
        with console.database.engine.begin() as connection:
            return decisions.decide(connection, decisions_actor(connection), "approver", state_dir,
                                    subject_kind="site", subject_id=site_id, decision=decision, reason="검수 통과",
                                    run=run)

    for bad in (RunFacts(7, "site_check", "site", site_id, "fail", EVIDENCE, None),  # failed
                RunFacts(8, "site_check", "site", site_id + 1000, "pass", EVIDENCE, None),  # another site
                RunFacts(9, "certification", "site", site_id, "pass", EVIDENCE, None),  # not a site check
                RunFacts(10, "site_check", "site", site_id, None, None, None)):  # still running
        with pytest.raises(FieldError) as caught:
            decide(bad)
        assert caught.value.field == "run_id"
    # the site must be `passed` to be accepted (§4): move it through testing → passed first
    for state in ("testing", "passed"):
        assert console.api("operator").post(f"/api/v1/sites/{site_id}/state", json={"state": state}).status_code == 200
    accepted = decide(RunFacts(11, "site_check", "site", site_id, "pass", EVIDENCE, None))
    record = accepted["record"]
    assert record["run"] == {"id": "11", "kind": "site_check", "verdict": "pass", "evidence_sha256": EVIDENCE}
    assert accepted["evidence_digest"] == EVIDENCE and check_record(record).problems == []


def test_certifying_a_product_version_rests_on_its_certification_run(console: Console):
    _import_api(console, csv_text(site("41390050", product_version="9.9.9")).encode())
    version_id = console.api("viewer").get(f"/api/v1/sites/{_site_id(console, '41390050')}").json()[
        "product_version_id"]
    state_dir = console.app.state.settings.state_dir
    # a site check does not certify a product
    with console.database.engine.begin() as connection, pytest.raises(FieldError):
        decisions.decide(connection, decisions_actor(connection), "approver", state_dir,
                         subject_kind="product_version", subject_id=version_id, decision="certified",
                         reason="full suite", run=RunFacts(20, "site_check", "product_version", version_id,
                                                           "pass", EVIDENCE, None))
    with console.database.engine.begin() as connection:
        certified = decisions.decide(connection, decisions_actor(connection), "approver", state_dir,
                                     subject_kind="product_version", subject_id=version_id, decision="certified",
                                     reason="full suite passed", run=RunFacts(21, "certification", "product_version",
                                                                              version_id, "pass", EVIDENCE, None))
    assert certified["record"]["subject"]["product"]["version"] == "9.9.9"
    version = console.api("viewer").get(f"/api/v1/product-versions/{version_id}").json()
    assert (version["state"], version["certified_run_id"]) == ("certified", 21)
    page = console.pages["viewer"].get(f"/product-versions/{version_id}")
    assert page.status_code == 200 and "decision-form" not in page.text  # a viewer sees no decision form
    assert "decision-form" in console.pages["approver"].get(f"/product-versions/{version_id}").text


def decisions_actor(connection):
    from s24kit.conformance.console import accounts

    account = accounts.authenticate(connection, "approver", "correct horse battery staple")
    return account.actor


def _bundle(folder, passing: bool = True) -> bytes:
    """An evidence bundle around the shipped example report (made to pass, or as it is: failing)."""
    from s24kit.conformance.catalogue import digest
    from s24kit.conformance.reports import report_problems
    from s24kit.conformance.reports.bundle import write_bundle

    from .conftest import load_example

    report = {**load_example("report"), "rule_pack_digest": digest()}
    if passing:
        report["results"] = [r for r in report["results"] if r["verdict"] != "fail"]
        report["summary"] = {v: sum(r["verdict"] == v for r in report["results"]) for v in report["summary"]}
        report["verdict"] = "pass"
    assert report_problems(report) == []
    folder.mkdir(exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    return write_bundle(folder / "evidence.zip", [folder / "report.json"]).read_bytes()


def test_a_vendor_bundle_is_verified_attached_and_certifies(console: Console, tmp_path):
    import zipfile

    _import_api(console, csv_text(site("41390060", product_version="7.0.0")).encode())
    version_id = console.api("viewer").get(f"/api/v1/sites/{_site_id(console, '41390060')}").json()[
        "product_version_id"]
    data = _bundle(tmp_path / "passing")
    path = f"/api/v1/product-versions/{version_id}/evidence"
    assert console.api("viewer").post(path, content=data).status_code == 403
    answer = console.api("operator").post(path, content=data, headers={"content-type": "application/zip"})
    assert answer.status_code == 201, answer.text
    assert_documented("POST", "/api/v1/product-versions/{version_id:id}/evidence", answer)
    run = answer.json()
    assert (run["kind"], run["state"], run["verdict"]) == ("certification", "done", "pass")
    assert run["evidence_sha256"] == hashlib.sha256(data).hexdigest()
    # a bundle altered after it was made is refused, and nothing is recorded
    altered = tmp_path / "altered.zip"
    with zipfile.ZipFile(tmp_path / "passing" / "evidence.zip") as source, zipfile.ZipFile(altered, "w") as out:
        for item in source.infolist():
            body = source.read(item)
            out.writestr(item, body.replace(b'"pass"', b'"fail"', 1) if item.filename == "report.json" else body)
    refused = console.api("operator").post(path, content=altered.read_bytes())
    assert refused.status_code == 400 and "not intact" in refused.text
    assert console.api("operator").post(path, content=b"not a zip").status_code == 400
    # a failing vendor run is attached too, but nobody certifies on it
    failing = console.api("operator").post(path, content=_bundle(tmp_path / "failing", passing=False)).json()
    assert failing["verdict"] == "fail"
    refused = console.api("approver").post("/api/v1/decisions", json={
        "subject_kind": "product_version", "subject_id": version_id, "decision": "certified",
        "reason": "업체 증거 확인", "run_id": failing["id"]})
    assert refused.status_code == 409 and refused.json()["errors"][0]["field"] == "run_id"
    # the approver certifies on the uploaded run; the signed record names the bundle's digest
    decided = console.api("approver").post("/api/v1/decisions", json={
        "subject_kind": "product_version", "subject_id": version_id, "decision": "certified",
        "reason": "업체 증거 확인", "run_id": run["id"]})
    assert decided.status_code == 201, decided.text
    assert decided.json()["record"]["run"]["evidence_sha256"] == hashlib.sha256(data).hexdigest()
    page = console.pages["operator"]
    shown = page.post(f"/product-versions/{version_id}/evidence", data={"csrf_token": csrf_of(page)},
                      files={"file": ("evidence.zip", data, "application/zip")})
    assert shown.status_code == 303
    assert "version-runs" in page.get(f"/product-versions/{version_id}").text


def test_a_refused_or_failed_upload_leaves_no_file_and_names_no_server_path(console: Console, tmp_path,
                                                                             monkeypatch):
    import zipfile

    from s24kit.conformance.console import evidence

    _import_api(console, csv_text(site("41390065", product_version="7.5.0")).encode())
    version_id = console.api("viewer").get(f"/api/v1/sites/{_site_id(console, '41390065')}").json()[
        "product_version_id"]
    state_dir = console.app.state.settings.state_dir
    kept = state_dir / "console" / "evidence"

    def files() -> set:
        return {p.relative_to(state_dir) for p in (state_dir / "console").rglob("*") if p.is_file()}

    before = files()
    good = _bundle(tmp_path / "good")
    altered = tmp_path / "altered.zip"
    with zipfile.ZipFile(tmp_path / "good" / "evidence.zip") as source, zipfile.ZipFile(altered, "w") as out:
        for item in source.infolist():
            body = source.read(item)
            out.writestr(item, body.replace(b'"pass"', b'"fail"', 1) if item.filename == "report.json" else body)
    path = f"/api/v1/product-versions/{version_id}/evidence"
    for data in (b"not a zip", altered.read_bytes()):
        refused = console.api("operator").post(path, content=data, headers={"content-type": "application/zip"})
        assert refused.status_code == 400, refused.text
        assert str(state_dir) not in refused.text and "console/evidence" not in refused.text
        assert ".zip" not in refused.json()["errors"][0]["message_en"].split("—")[-1], refused.text
        page = console.pages["operator"]
        shown = page.post(f"/product-versions/{version_id}/evidence", data={"csrf_token": csrf_of(page)},
                          files={"file": ("evidence.zip", data, "application/zip")})
        assert shown.status_code == 400 and str(state_dir) not in shown.text
    assert files() == before  # nothing recorded, nothing on disk
    # a failure after the bundle was written and unpacked takes both away again
    monkeypatch.setattr(evidence, "get_run", lambda connection, run_id: (_ for _ in ()).throw(OSError("disk")))
    with pytest.raises(OSError), console.database.engine.begin() as connection:
        evidence.attach_bundle(connection, decisions_actor(connection), state_dir, version_id, good, "e.zip")
    assert files() == before
    monkeypatch.undo()
    answer = console.api("operator").post(path, content=good)
    assert answer.status_code == 201, answer.text
    assert (kept / f"{hashlib.sha256(good).hexdigest()}.zip").is_file()
    assert not list(kept.glob(".*.part"))


def test_results_export_lists_every_finished_run(console: Console, tmp_path):
    _import_api(console, csv_text(site("41390070", product_version="8.0.0")).encode())
    version_id = console.api("viewer").get(f"/api/v1/sites/{_site_id(console, '41390070')}").json()[
        "product_version_id"]
    run = console.api("operator").post(f"/api/v1/product-versions/{version_id}/evidence",
                                       content=_bundle(tmp_path / "b", passing=False)).json()
    answer = console.api("viewer").get("/api/v1/results/export", params={"format": "csv"})
    assert answer.status_code == 200
    assert_documented("GET", "/api/v1/results/export", answer)
    lines = answer.content.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(RESULT_COLUMNS)
    mine = next(line for line in lines[1:] if line.startswith(f"{run['id']},"))
    assert ",certification,,,가상의료정보,온누리EMR,8.0.0,done,fail," in mine
    xlsx = console.pages["viewer"].get("/results/export", params={"format": "xlsx"})
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.values)
    assert rows[0] == RESULT_COLUMNS and str(run["id"]) in [r[0] for r in rows[1:]]  # text cells only

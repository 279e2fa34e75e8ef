"""The records through the console's pages and API (SQLite and PostgreSQL): import with every bad line,
export CSV and XLSX, decisions with a signed record that verifies offline and refuses tampering."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from s24kit.conformance.cli import main
from s24kit.conformance.console import decisions, register
from s24kit.conformance.console.audit import SYSTEM
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
    assert "KST (UTC+09:00)" in page.text and not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", page.text)


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
    # an acceptance rests on what the run checked, still so, and on a version certified now (§9)
    now_site = console.api("viewer").get(f"/api/v1/sites/{site_id}").json()
    checked = {name: now_site[name] for name in register.CHECKED_FIELDS}
    for run, field, said in ((RunFacts(11, "site_check", "site", site_id, "pass", EVIDENCE, None), "run_id",
                              "did not record what it checked"),
                             (RunFacts(11, "site_check", "site", site_id, "pass", EVIDENCE, None,
                                       {**checked, "pull_url": "https://127.0.0.1:1"}), "run_id",
                              "the site changed after run 11 (pull_url)"),
                             (RunFacts(11, "site_check", "site", site_id, "pass", EVIDENCE, None, checked),
                              "product_version_id", "not certified (uncertified)")):
        with pytest.raises(FieldError) as caught:
            decide(run)
        assert (caught.value.field, caught.value.status) == (field, 409) and said in caught.value.message_en
    certification = _passing_certification(console, checked["product_version_id"])
    with console.database.engine.begin() as connection:
        register.change_version_state(connection, SYSTEM, None, checked["product_version_id"], "certified",
                                      certification)
    accepted = decide(RunFacts(11, "site_check", "site", site_id, "pass", EVIDENCE, None, checked))
    record = accepted["record"]
    assert record["run"] == {"id": "11", "kind": "site_check", "verdict": "pass", "evidence_sha256": EVIDENCE}
    assert accepted["evidence_digest"] == EVIDENCE and check_record(record).problems == []


def test_an_acceptance_rests_on_a_run_made_after_the_last_withdrawal_and_on_unchanged_evidence(console: Console,
                                                                                              tmp_path):
    """docs/console.md §9: a site check from before its version was suspended does not accept the site, even once
    the version is certified again; and a run's evidence.zip changed on disk after the run carries no decision."""
    import datetime as dt

    from s24kit.conformance.console.db import now

    _import_api(console, csv_text(site("41390095", product_version="12.0.0")).encode())
    site_id = _site_id(console, "41390095")
    site_now = console.api("viewer").get(f"/api/v1/sites/{site_id}").json()
    version_id, checked = site_now["product_version_id"], {n: site_now[n] for n in register.CHECKED_FIELDS}
    approver = console.api("approver")

    def version_decision(decision: str, run_id: int | None = None):
        body = {"subject_kind": "product_version", "subject_id": version_id, "decision": decision, "reason": "검토"}
        return approver.post("/api/v1/decisions", json=body if run_id is None else {**body, "run_id": run_id})

    def accept(run: RunFacts):
        with console.database.engine.begin() as connection:
            return decisions.decide(connection, decisions_actor(connection), "approver",
                                    console.app.state.settings.state_dir, subject_kind="site", subject_id=site_id,
                                    decision="accepted", reason="검수 통과", run=run)

    assert version_decision("certified", _passing_certification(console, version_id)).status_code == 201
    for state in ("testing", "passed"):
        assert console.api("operator").post(f"/api/v1/sites/{site_id}/state", json={"state": state}).status_code == 200
    before = RunFacts(31, "site_check", "site", site_id, "pass", EVIDENCE, None, checked, now())
    assert version_decision("suspended").status_code == 201
    assert version_decision("certified", _passing_certification(console, version_id, later=1)).status_code == 201
    with pytest.raises(FieldError) as stale:
        accept(before)
    assert stale.value.status == 409 and "started before the last suspension or rejection" in stale.value.message_en
    after = RunFacts(32, "site_check", "site", site_id, "pass", EVIDENCE, None, checked,
                     now() + dt.timedelta(seconds=2), tmp_path / "evidence.zip")
    (tmp_path / "evidence.zip").write_bytes(b"not the bytes the run recorded")
    with pytest.raises(FieldError) as changed:
        accept(after)
    assert changed.value.status == 409 and "no longer has the SHA-256 it recorded" in changed.value.message_en
    (tmp_path / "evidence.zip").unlink()
    with pytest.raises(FieldError) as gone:
        accept(after)
    assert gone.value.status == 409 and "is no longer there" in gone.value.message_en
    (tmp_path / "evidence.zip").write_bytes(b"evidence.zip of the run")  # the bytes whose digest the run recorded
    assert accept(after)["record"]["run"]["id"] == "32"


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


#: The product version the sites of site() run (test_console_sitecsv), as a vendor's run would name it.
PRODUCT = ("가상의료정보", "온누리EMR")


class _Journal:
    """A journal of one health answer naming ``product`` (what a full run's journal.jsonl holds first)."""

    def __init__(self, product: tuple[str, str, str] | None) -> None:
        self.product = product

    def export_jsonl(self, path) -> int:
        body = {"status": "ok", "profile": "kit-v1", "provider_code": "99190000"}
        if self.product:
            body["product"] = dict(zip(("vendor", "name", "version"), self.product, strict=True))
        entry = {"id": "x-000001", "route": "/s24/v1/health", "method": "GET", "status": 200,
                 "response": {"headers": {}, "body": json.dumps(body, ensure_ascii=False)}}
        path.write_text(json.dumps(entry, ensure_ascii=False) + "\n", encoding="utf-8")
        return 1


def _bundle(folder, passing: bool = True, *, version: str = "7.0.0", product: tuple[str, str, str] | None = None,
            named: bool = True, selection: list[str] | None = None) -> bytes:
    """An evidence bundle as ``s24kit check --product …`` (the full suite, pull role) leaves it: a result for
    every requirement, S24-API-017 judged, a health answer naming ``product`` (default: ``PRODUCT`` at
    ``version``) in the journal; failing on S24-DOC-002 unless ``passing``. ``named=False``: a run without
    --product (S24-API-017 skipped); ``selection``: a run of those requirements only (--select)."""
    from s24kit.conformance.catalogue import digest, requirements
    from s24kit.conformance.reports import report_problems
    from s24kit.conformance.reports.bundle import write_bundle
    from s24kit.conformance.runner import plan

    from .conftest import load_example

    product = product or (*PRODUCT, version)
    catalogue = requirements()
    chosen = [p.requirement for p in plan("provider_pull", selection)]
    results = [{"requirement": rid, "title_ko": catalogue[rid].title_ko, "title_en": catalogue[rid].title_en,
                "severity": catalogue[rid].level, "verdict": "pass"} for rid in chosen]
    for result in results:
        if result["requirement"] == "S24-API-017" and not named:
            result.update(verdict="skip", reason="no product version expected (--product VENDOR/NAME/VERSION)")
        if result["requirement"] == "S24-DOC-002" and not passing:
            result.update(verdict="fail", reason="total_amount 125,000 must equal 125,010")
    report = {**load_example("report"), "rule_pack_digest": digest(), "results": results,
              "environment": {"python": "3.11", "selection": selection or [], "checks": len(results)}}
    report["summary"] = {v: sum(r["verdict"] == v for r in results) for v in report["summary"]}
    report["verdict"] = "pass" if passing else "fail"
    assert report_problems(report) == []
    folder.mkdir(exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    return write_bundle(folder / "evidence.zip", [folder / "report.json"], journal=_Journal(product)).read_bytes()


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
    again = tmp_path / "again.zip"  # the same bundle but for its zip comment: other bytes, another digest
    again.write_bytes(data)
    with zipfile.ZipFile(again, "a") as out:
        out.comment = b"uploaded from the page"
    shown = page.post(f"/product-versions/{version_id}/evidence", data={"csrf_token": csrf_of(page)},
                      files={"file": ("evidence.zip", again.read_bytes(), "application/zip")})
    assert shown.status_code == 303
    assert "version-runs" in page.get(f"/product-versions/{version_id}").text


def test_the_same_bundle_twice_for_a_version_is_409_naming_the_earlier_run(console: Console, tmp_path):
    _import_api(console, csv_text(site("41390061", product_version="7.0.1")).encode())
    version_id = console.api("viewer").get(f"/api/v1/sites/{_site_id(console, '41390061')}").json()[
        "product_version_id"]
    data = _bundle(tmp_path / "twice", version="7.0.1")
    path = f"/api/v1/product-versions/{version_id}/evidence"
    first = console.api("operator").post(path, content=data)
    assert first.status_code == 201, first.text
    runs_before = console.api("viewer").get("/api/v1/runs").json()["total"]
    second = console.api("operator").post(path, content=data)
    assert second.status_code == 409, second.text
    assert_documented("POST", "/api/v1/product-versions/{version_id:id}/evidence", second)
    (error,) = second.json()["errors"]
    assert error["field"] == "file" and f"run {first.json()['id']}" in error["message_en"]
    assert f"실행 {first.json()['id']}" in error["message_ko"]
    page = console.pages["operator"]
    shown = page.post(f"/product-versions/{version_id}/evidence", data={"csrf_token": csrf_of(page)},
                      files={"file": ("evidence.zip", data, "application/zip")})
    assert shown.status_code == 409 and f"/runs/{first.json()['id']}" in shown.text
    assert console.api("viewer").get("/api/v1/runs").json()["total"] == runs_before  # no second run


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
    good = _bundle(tmp_path / "good", version="7.5.0")
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
                                       content=_bundle(tmp_path / "b", passing=False, version="8.0.0")).json()
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


def _passing_certification(console: Console, version_id: int, later: int = 0) -> int:
    """A finished, passing certification run of the version (as a worker or an upload would leave it), started
    ``later`` seconds from now (the console's times are to the second: a run after a decision of this second)."""
    import datetime as dt

    from s24kit.conformance.console.db import now
    from s24kit.conformance.console.tables import runs

    started = now() + dt.timedelta(seconds=later)
    with console.database.engine.begin() as connection:
        return connection.execute(runs.insert().values(
            kind="certification", product_version_id=version_id, parameters={}, state="done", verdict="pass",
            evidence_sha256=EVIDENCE, created_at=started, started_at=started, finished_at=started)
        ).inserted_primary_key[0]


def test_product_version_decisions_follow_the_allowed_moves(console: Console):
    """docs/console.md §9: uncertified → certified | rejected; rejected → certified; certified → suspended;
    suspended → certified | rejected; any other move 409 as for sites; the certification in force only while
    certified; the page's form offers the allowed moves."""
    imported = _import_api(console, csv_text(site("41390085", product_version="10.0.0")).encode())
    assert imported.status_code == 201, imported.text  # a code of its own: the module's tests share one console
    version_id = console.api("viewer").get(f"/api/v1/sites/{_site_id(console, '41390085')}").json()[
        "product_version_id"]
    approver = console.api("approver")

    def decide(decision: str, run_id: int | None = None):
        body = {"subject_kind": "product_version", "subject_id": version_id, "decision": decision, "reason": "검토"}
        answer = approver.post("/api/v1/decisions", json=body if run_id is None else {**body, "run_id": run_id})
        assert_documented("POST", "/api/v1/decisions", answer)
        return answer

    def version() -> dict:
        return console.api("viewer").get(f"/api/v1/product-versions/{version_id}").json()

    first = _passing_certification(console, version_id)
    assert decide("certified", first).status_code == 201
    assert (version()["state"], version()["certified_run_id"]) == ("certified", first)
    decided = len(approver.get("/api/v1/decisions", params={"subject_kind": "product_version",
                                                           "subject_id": version_id}).json()["items"])
    for refused in (decide("certified", _passing_certification(console, version_id)), decide("rejected")):
        assert refused.status_code == 409, refused.text
        assert refused.json()["errors"][0]["field"] == "state" and "suspended" in refused.json()["detail"]
    assert (version()["state"], version()["certified_run_id"]) == ("certified", first)
    assert len(approver.get("/api/v1/decisions", params={"subject_kind": "product_version",
                                                        "subject_id": version_id}).json()["items"]) == decided
    page = console.pages["approver"]
    form = page.get(f"/product-versions/{version_id}").text
    assert 'value="suspended"' in form and 'value="certified"' not in form and 'value="rejected"' not in form
    suspended = page.post(f"/product-versions/{version_id}/decisions",
                          data={"decision": "suspended", "reason": "현장 결함", "csrf_token": csrf_of(page)})
    assert suspended.status_code == 303
    assert (version()["state"], version()["certified_run_id"], version()["certified_at"]) == ("suspended", None, None)
    assert decide("rejected").status_code == 201
    assert (version()["state"], version()["certified_run_id"]) == ("rejected", None)
    assert decide("suspended").status_code == 409 and decide("rejected").status_code == 409
    # what was withdrawn is judged again by a new run: the certification of before does not certify again
    stale = decide("certified", first)
    assert stale.status_code == 409 and "started before the last suspension or rejection" in stale.text, stale.text
    again = _passing_certification(console, version_id, later=1)
    assert decide("certified", again).status_code == 201
    assert (version()["state"], version()["certified_run_id"]) == ("certified", again)


def test_a_bundle_of_another_profile_or_product_is_refused_never_relabelled(console: Console, tmp_path):
    """Only the full suite run against this very product version certifies it: a site check's bundle (of a site
    running another version), a --select run, another product's full-suite bundle and a run that names no
    product are refused, in Korean and English naming what is wrong, and nothing is recorded."""
    from s24kit.conformance.runner import make_target
    from s24kit.conformance.sitecheck import run_site_check
    from s24kit.simulator.fleet import FleetOptions, build_fleet

    _import_api(console, csv_text(site("41390090", product_version="11.0.0")).encode())
    version_id = console.api("viewer").get(f"/api/v1/sites/{_site_id(console, '41390090')}").json()[
        "product_version_id"]
    fleet = build_fleet(FleetOptions(1, tmp_path / "fleet", seed=5, defect_share=0))
    with fleet.serving():
        other = fleet.sites[0]
        assert other.product_triple != (*PRODUCT, "11.0.0")
        checked = run_site_check(make_target(other.url, fleet.scenario, provider_code=other.provider_code,
                                             state=fleet.options.state_dir, product=other.product_triple),
                                 tmp_path / "site-check")
    assert checked.verdict == "pass"
    path = f"/api/v1/product-versions/{version_id}/evidence"

    def runs_of_version() -> list:
        from s24kit.conformance.console.tables import runs

        with console.database.engine.connect() as connection:
            return connection.execute(runs.select().where(runs.c.product_version_id == version_id)).all()

    cases = {
        "site profile": (tmp_path / "site-check" / "evidence.zip").read_bytes(),
        "--select": _bundle(tmp_path / "select", version="11.0.0", selection=["API"]),
        "another product version": _bundle(tmp_path / "other", product=other.product_triple),
        "--product": _bundle(tmp_path / "unnamed", version="11.0.0", named=False),
    }
    for said, data in cases.items():
        refused = console.api("operator").post(path, content=data, headers={"content-type": "application/zip"})
        assert refused.status_code == 400, (said, refused.text)
        assert_documented("POST", "/api/v1/product-versions/{version_id:id}/evidence", refused)
        error = refused.json()["errors"][0]
        assert error["field"] == "file" and said in error["message_en"], (said, error)
        assert error["message_ko"] and error["message_ko"] != error["message_en"]
    assert "/".join(other.product_triple) in console.api("operator").post(path, content=cases[
        "another product version"]).json()["errors"][0]["message_en"]
    page = console.pages["operator"]
    shown = page.post(f"/product-versions/{version_id}/evidence", data={"csrf_token": csrf_of(page)},
                      files={"file": ("evidence.zip", cases["site profile"], "application/zip")})
    assert shown.status_code == 400 and "사이트 점검" in shown.text
    assert runs_of_version() == []
    # the bundle of this version's own full run is accepted, as a run of this version
    accepted = console.api("operator").post(path, content=_bundle(tmp_path / "own", version="11.0.0"))
    assert accepted.status_code == 201 and accepted.json()["product_version_id"] == version_id, accepted.text


def test_what_docs_say_of_exports_and_uploads_holds(console: Console, tmp_path):
    """docs/console.md §13: the CSV export imports again, the XLSX one is for reading (the import refuses it);
    §3/§14: an uploaded bundle is unpacked to runs/upload-<sha16>/."""
    from pathlib import Path

    docs = (Path(__file__).parents[1] / "docs" / "console.md").read_text(encoding="utf-8")
    assert "the **CSV** export imports again" in docs and "**not** for importing" in docs
    assert "STATE/console/runs/upload-<sha16>/" in docs
    xlsx = console.pages["viewer"].get("/sites/export", params={"format": "xlsx"})
    refused = console.api("operator").post("/api/v1/sites/import", content=xlsx.content,
                                           headers={"content-type": "text/csv"})
    assert refused.status_code == 400, refused.text
    _import_api(console, csv_text(site("41390062", product_version="7.0.2")).encode())
    version_id = console.api("viewer").get(f"/api/v1/sites/{_site_id(console, '41390062')}").json()[
        "product_version_id"]
    data = _bundle(tmp_path / "where", version="7.0.2")
    assert console.api("operator").post(f"/api/v1/product-versions/{version_id}/evidence",
                                        content=data).status_code == 201
    runs_dir = console.app.state.settings.state_dir / "console" / "runs"
    assert (runs_dir / f"upload-{hashlib.sha256(data).hexdigest()[:16]}").is_dir()

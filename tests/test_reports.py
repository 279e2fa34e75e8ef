"""Reports: JSON against report.schema.json, JUnit XML in the shape CI tools read, the HTML page rendered by
headless Chromium, the evidence bundle and ``s24kit report verify`` / ``render``."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from s24kit.conformance.catalogue import SUITE_VERSION, digest, requirements
from s24kit.conformance.checks.registry import Evidence, Result, failed, passed, skipped, warned
from s24kit.conformance.cli import main
from s24kit.conformance.reports import (
    build_report,
    check_bundle,
    render_html,
    report_problems,
    verify_bundle,
    write_bundle,
    write_html,
    write_json,
    write_junit,
)
from s24kit.schemas.loader import iter_schema_errors

from ._require import require

KST = timezone(timedelta(hours=9))
STARTED = datetime(2026, 5, 11, 14, 3, 7, tzinfo=KST)
CURL = ("curl --cert relay-client.pem --key relay-client.key --cacert ca.pem -H 'Content-Type: application/json' "
        "-d '{\"request_id\":\"r-1\"}' https://127.0.0.1:8443/s24/v1/documents:fetch")
INJECTION = "<script>document.title='pwned'</script>"
TARGET = {"url": "https://127.0.0.1:8443", "role": "provider_pull",
          "certificate": {"subject": "CN=localhost", "issuer": "CN=s24kit test CA", "key": "EC P-256"}}
FAILING_MUST = ("S24-DOC-002", "S24-DOC-030")


def _results() -> list[Result]:
    """Real results of DOC requirements: MUST pass/fail, SHOULD fail/warn, a skip; Korean, curl, markup."""
    return [
        Result("S24-DOC-001", passed("열 합계 일치"), 1.2),
        Result("S24-DOC-002", failed(f"진료비 총액이 ①~⑤의 합과 다릅니다 {INJECTION}",
                                     Evidence(f"영수증 총액 불일치 {INJECTION}", exchange="x-000042",
                                              pointer="/documents/0/totals/total_amount", expected=125000,
                                              actual={"total_amount": 124990, "memo": "<b>굵게</b>"},
                                              reproduction=CURL)), 14.7),
        Result("S24-DOC-003", passed(), 0.3),
        Result("S24-DOC-030", failed("NFC 정규화가 아닙니다",
                                     Evidence("환자 이름이 NFD로 옵니다", pointer="/patient/name", expected="홍길동",
                                              actual="홍길동\x1b\udcff")), 2.0),
        Result("S24-DOC-040", skipped("사업자등록번호가 있는 서류가 없습니다"), 0.0),
        Result("S24-DOC-055", warned("KCD 목록에 없는 상병코드 Z99.9",
                                     Evidence("상병코드 확인", pointer="/diagnoses/0/code", actual="Z99.9")), 0.8),
        Result("S24-DOC-056", failed("약품코드가 키트 목록에 없습니다", Evidence("약품코드", actual="999999999")), 0.5),
    ]


def _report(results: list[Result] | None = None) -> dict:
    return build_report(_results() if results is None else results, target=TARGET, started_at=STARTED,
                        finished_at=STARTED + timedelta(seconds=3.4), environment={"runner": "tests"})


@pytest.fixture
def report() -> dict:
    return _report()


# ------------------------------------------------------------------------------------------------ JSON


def test_report_is_valid_against_the_schema_and_names_its_rule_pack(report):
    errors = list(iter_schema_errors("report", report))
    assert not errors, [e.message for e in errors]
    assert report["profile"] == "kit-v1" and report["suite_version"] == SUITE_VERSION
    assert report["kit_version"] == version("silson24-kit")
    assert report["rule_pack_digest"] == digest()
    # S24-DOC-056 is a SHOULD: its check's failure is reported as a warning (the level is the ceiling).
    assert report["summary"] == {"pass": 2, "fail": 2, "warn": 2, "skip": 1}
    assert report["verdict"] == "fail"
    assert report["environment"]["runner"] == "tests" and report["environment"]["python"]
    assert report["started_at"] == "2026-05-11T14:03:07.000+09:00"
    failing = report["results"][1]
    assert failing["remedy_ko"] and failing["remedy_en"] and failing["evidence"][0]["reproduction"] == CURL
    # A lone surrogate cannot be written as UTF-8; it is shown as U+FFFD, the control character kept.
    assert report["results"][3]["evidence"][0]["actual"] == "홍길동\x1b\ufffd"
    assert report_problems(report) == []


def test_results_come_in_catalogue_order_whatever_the_runner_order():
    shuffled = _results()
    random.Random(7).shuffle(shuffled)
    ids = [r["requirement"] for r in _report(shuffled)["results"]]
    order = list(requirements())
    assert ids == sorted(ids, key=order.index)


@pytest.mark.parametrize("verdicts, expected", [
    ({"S24-DOC-001": "pass", "S24-DOC-056": "fail"}, "pass"),   # a SHOULD failure only warns …
    ({"S24-DOC-001": "fail", "S24-DOC-056": "pass"}, "fail"),   # … a MUST failure fails the run
    ({"S24-TLS-013": "warn", "S24-DOC-002": "skip"}, "pass"),   # a MUST that may warn (catalogue: warns_en)
    ({"S24-DOC-001": "warn"}, "fail"),                          # a MUST that may not warn fails
    ({}, "pass"),
])
def test_verdict_fails_only_on_a_failed_must(verdicts, expected):
    make = {"pass": lambda: passed("ok"), "fail": lambda: failed("bad"), "warn": lambda: warned("hm"),
            "skip": lambda: skipped("n/a")}
    report = _report([Result(rid, make[v]()) for rid, v in verdicts.items()])
    assert report["verdict"] == expected
    assert report["summary"]["fail"] == (expected == "fail")


@pytest.mark.parametrize("change, complaint", [
    (lambda kw: kw.update(started_at=datetime(2026, 5, 11, 14, 3)), "UTC offset"),
    (lambda kw: kw.update(target={"url": "https://x", "role": "insurer"}), "report.schema.json"),
    (lambda kw: kw["results"].append(Result("S24-DOC-001", passed())), "two results"),
    (lambda kw: kw["results"].append(Result("S24-ZZZ-001", passed())), "not in the requirement catalogue"),
])
def test_build_report_refuses_what_would_make_a_wrong_report(change, complaint):
    kwargs = {"results": _results(), "target": TARGET, "started_at": STARTED, "finished_at": STARTED,
              "environment": {}}
    change(kwargs)
    with pytest.raises(ValueError, match=complaint):
        build_report(kwargs.pop("results"), **kwargs)


def test_odd_evidence_values_never_cost_the_report():
    odd = Evidence("raw body", expected=float("nan"), actual={"body": b"\xff\x00ok", "at": STARTED,
                                                                "path": Path("/tmp/x"), "codes": ("A", "B")})
    report = _report([Result("S24-DOC-002", failed("bad body", odd))])
    assert report_problems(report) == []
    evidence = report["results"][0]["evidence"][0]
    assert evidence["expected"] == "nan"
    assert evidence["actual"] == {"body": "\\xff\x00ok", "at": STARTED.isoformat(sep=" "), "path": "/tmp/x",
                                  "codes": ["A", "B"]}


def test_report_problems_catches_a_verdict_or_summary_that_lies(report):
    lying = copy.deepcopy(report)
    lying["verdict"] = "pass"
    lying["summary"]["pass"] += 1
    problems = report_problems(lying)
    assert [p.split(":")[0] for p in problems] == ["/verdict", "/summary"]
    assert report_problems({"profile": "kit-v1"})  # schema findings


def test_write_json_is_readable_utf8(tmp_path, report):
    path = write_json(report, tmp_path / "out" / "report.json")
    text = path.read_bytes().decode("utf-8")
    assert "진료비 총액" in text and "\\uc9c4" not in text
    assert json.loads(text) == report
    assert oct(path.stat().st_mode & 0o777) == "0o644"


# ------------------------------------------------------------------------------------------------ JUnit


def _assert_junit_shape(root: ET.Element) -> None:
    """The structure of junit-10.xsd, which Jenkins, GitLab and GitHub reporters read."""
    assert root.tag == "testsuites"
    assert set(root.attrib) <= {"name", "time", "tests", "failures", "disabled", "errors"}
    suite_attrs = {"name", "tests", "failures", "errors", "group", "time", "disabled", "skipped", "timestamp",
                   "hostname", "id", "package", "file", "log", "url", "version"}
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in root:
        assert suite.tag == "testsuite" and set(suite.attrib) <= suite_attrs and {"name", "tests"} <= set(suite.attrib)
        order = [child.tag for child in suite]
        assert order == sorted(order, key=["properties", "testcase", "system-out", "system-err"].index)
        for prop in suite.iterfind("properties/property"):
            assert set(prop.attrib) == {"name", "value"}
        cases = suite.findall("testcase")
        counted = {"tests": len(cases), "failures": sum(c.find("failure") is not None for c in cases),
                   "errors": sum(c.find("error") is not None for c in cases),
                   "skipped": sum(c.find("skipped") is not None for c in cases)}
        assert {k: int(suite.get(k)) for k in counted} == counted
        for case in cases:
            assert {"name", "classname", "time"} <= set(case.attrib) <= {"name", "classname", "time", "assertions",
                                                                         "status", "group", "file", "line"}
            # Test-case properties (as pytest's record_property writes them): read by GitLab, Jenkins and the
            # GitHub test-report actions, first in the case.
            children = [child.tag for child in case]
            assert "properties" not in children[1:]
            assert set(children) <= {"properties", "skipped", "error", "failure", "system-out", "system-err"}
            assert sum(tag in ("skipped", "error", "failure") for tag in children) <= 1
            for prop in case.iterfind("properties/property"):
                assert set(prop.attrib) == {"name", "value"}
            float(case.get("time"))
        for key in totals:
            totals[key] += counted[key]
    assert {k: int(root.get(k)) for k in totals} == totals


def test_junit_parses_and_counts_like_the_report(tmp_path, report):
    path = write_junit(report, tmp_path / "report.xml")
    raw = path.read_bytes()
    raw.decode("utf-8")  # valid UTF-8
    root = ET.parse(path).getroot()
    _assert_junit_shape(root)
    (suite,) = root
    assert suite.get("name") == "s24kit.DOC"
    # Skipped counts the skip and the two warnings: the one non-pass state CI viewers show without failing.
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("7", "2", "3")
    props = {p.get("name"): p.get("value") for p in suite.iterfind("properties/property")}
    assert props["profile"] == "kit-v1" and props["rule_pack_digest"] == digest()
    assert props["target_url"] == TARGET["url"] and props["target_role"] == "provider_pull"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == [r["requirement"] for r in report["results"]]
    assert all(c.get("classname") == "s24kit.DOC" for c in cases.values())
    case_props = {p.get("name"): p.get("value") for p in cases["S24-DOC-002"].iterfind("properties/property")}
    assert case_props == {"title_ko": "진료비 총액 = ①+②+③+④+⑤", "title_en": "Total amount = ①+②+③+④+⑤",
                          "level": "MUST", "verdict": "fail"}
    failure = cases["S24-DOC-002"].find("failure")
    assert failure.get("message") == report["results"][1]["reason"] and failure.get("type") == "MUST"
    assert CURL in failure.text and "x-000042" in failure.text and "조치 방법:" in failure.text
    # Warnings are not passes: <skipped type="s24kit.warning">, the evidence in system-out.
    for warned_id in ("S24-DOC-055", "S24-DOC-056"):
        case = cases[warned_id]
        assert case.find("failure") is None
        assert case.find("skipped").get("type") == "s24kit.warning"
        assert case.find("skipped").get("message").startswith("경고: ")
    assert "999999999" in cases["S24-DOC-056"].find("system-out").text
    assert "Z99.9" in cases["S24-DOC-055"].find("system-out").text
    skip = cases["S24-DOC-040"].find("skipped")
    assert (skip.get("message"), skip.get("type")) == ("사업자등록번호가 있는 서류가 없습니다", "s24kit.skip")
    assert [child.tag for child in cases["S24-DOC-001"]] == ["properties"]
    # An escape character cannot travel in XML 1.0: it is spelled out instead of breaking the parser.
    assert "홍길동\\x1b" in cases["S24-DOC-030"].find("failure").text


def test_junit_names_do_not_change_with_the_language(tmp_path, report):
    """CI tools track a test's history by classname + name: --lang must not make every test a new one."""
    def shape(lang: str) -> list[tuple]:
        root = ET.parse(write_junit(report, tmp_path / f"{lang}.xml", lang=lang)).getroot()
        return [(case.get("classname"), case.get("name"), tuple((p.get("name"), p.get("value"))
                                                                for p in case.iterfind("properties/property")),
                 tuple(child.tag for child in case), [s.get("type") for s in case.iterfind("skipped")])
                for case in root.iter("testcase")]

    assert shape("ko") == shape("en")
    assert ET.parse(tmp_path / "en.xml").getroot().find(".//skipped[@type='s24kit.warning']").get(
        "message").startswith("warning: ")


def test_junit_has_one_suite_per_family(tmp_path, report):
    mixed = copy.deepcopy(report)
    mixed["results"].append({**mixed["results"][1], "requirement": "S24-TLS-001"})
    root = ET.parse(write_junit(mixed, tmp_path / "mixed.xml", lang="en")).getroot()
    _assert_junit_shape(root)
    assert [s.get("name") for s in root] == ["s24kit.DOC", "s24kit.TLS"]
    assert root.get("tests") == "8" and root.get("failures") == "3"
    assert root.find("testsuite/testcase").get("name") == "S24-DOC-001"
    assert root.find("testsuite[@name='s24kit.TLS']/testcase").get("classname") == "s24kit.TLS"


# ------------------------------------------------------------------------------------------------ HTML


class _Dom(HTMLParser):
    """Tags with attributes, and the text a reader sees (entities decoded)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def find(self, **attrs: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.tags if all(a.get(k) == v for k, v in attrs.items())]


def test_html_is_self_contained_and_escapes_everything(report):
    page = render_html(report, "ko")
    dom = _Dom(page)
    tags = {tag for tag, _ in dom.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}, tags
    assert all((a.get("href") or "#").startswith("#") for _, a in dom.tags)
    assert not any("src" in a for _, a in dom.tags)
    assert "url(" not in page and "@import" not in page
    assert INJECTION in dom.text and "<b>굵게</b>" not in page
    assert "&lt;script&gt;" in page
    assert "홍길동\\x1b" in dom.text  # control characters are shown, not swallowed


@pytest.mark.parametrize("lang, word, title", [("ko", "부적합", "진료비 총액 = ①+②+③+④+⑤"),
                                               ("en", "FAIL", "Total amount = ①+②+③+④+⑤")])
def test_html_speaks_the_language(report, lang, word, title):
    dom = _Dom(render_html(report, lang))
    assert title in dom.text and word in dom.text
    assert dom.find(lang=lang)


def _artefacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("S24_ARTEFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_html_renders_in_headless_chromium(tmp_path, report, lang):
    require(shutil.which("chromium"), "chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    page = write_html(report, tmp_path / f"report.{lang}.html", lang=lang)
    shown = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = _Dom(shown.stdout)
    (verdict,) = dom.find(id="verdict")
    assert verdict["data-verdict"] == "fail"
    assert ("부적합" if lang == "ko" else "FAIL") in dom.text
    failing_rows = [a["data-requirement"] for a in dom.find(**{"data-verdict": "fail"}) if "data-requirement" in a]
    assert failing_rows == [*FAILING_MUST]
    assert {a["id"] for tag, a in dom.tags if tag == "article"} == {*FAILING_MUST, "S24-DOC-055", "S24-DOC-056"}
    assert not any(tag == "script" for tag, _ in dom.tags), "injected markup became a script element"
    assert INJECTION in dom.text and CURL in dom.text
    assert "<title>pwned</title>" not in shown.stdout

    shot = _artefacts(tmp_path) / f"report-{lang}.png"
    taken = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars",
                      page.as_uri())
    assert taken.returncode == 0, taken.stderr[-2000:]
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (1280, 2000)
    print(f"screenshot: {shot}")


# ------------------------------------------------------------------------------------------------ bundle


@pytest.fixture
def bundle(tmp_path, report) -> Path:
    files = [write_json(report, tmp_path / "report.json"), write_junit(report, tmp_path / "report.xml"),
             write_html(report, tmp_path / "report.html")]
    journal = tmp_path / "exported.jsonl"
    journal.write_text('{"exchange": "x-000042", "url": "/s24/v1/documents:fetch"}\n', encoding="utf-8")
    return write_bundle(tmp_path / "evidence.zip", files, journal_jsonl=journal)


def _rewrite(src: Path, dst: Path, change=lambda name, data: data, add: dict[str, bytes] | None = None) -> Path:
    """Copy a zip entry by entry; ``change`` returns new bytes, or None to drop the entry."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info.filename, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def test_fresh_bundle_verifies_and_carries_its_manifest(bundle):
    assert verify_bundle(bundle) == []
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        manifest_raw = zf.read("MANIFEST.json")
        manifest = json.loads(manifest_raw)
        assert zf.read("MANIFEST.sha256").decode() == f"{hashlib.sha256(manifest_raw).hexdigest()}  MANIFEST.json\n"
        for entry in manifest["files"]:
            data = zf.read(entry["name"])
            assert (hashlib.sha256(data).hexdigest(), len(data)) == (entry["sha256"], entry["size"])
    assert names == ["report.json", "report.xml", "report.html", "journal.jsonl", "MANIFEST.json", "MANIFEST.sha256"]
    assert manifest["format"] == "s24kit-evidence-bundle/1" and manifest["profile"] == "kit-v1"
    assert manifest["kit_version"] == version("silson24-kit") and manifest["suite_version"] == SUITE_VERSION
    assert manifest["rule_pack_digest"] == digest()
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo is not None


def _flip(name: str, data: bytes) -> bytes:
    if name != "report.json":
        return data
    i = data.index(b"kit-v1")
    return data[:i] + b"K" + data[i + 1:]


def _edit_both(name: str, data: bytes, state: dict) -> bytes:
    """Change report.json and rewrite its manifest entry to match, leaving MANIFEST.sha256 as it was."""
    if name == "report.json":
        state["new"] = _flip(name, data)
        return state["new"]
    if name == "MANIFEST.json":
        manifest = json.loads(data)
        for entry in manifest["files"]:
            if entry["name"] == "report.json":
                entry["sha256"] = hashlib.sha256(state["new"]).hexdigest()
        return json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n"
    return data


@pytest.mark.parametrize("tamper, status, needle", [
    ("byte", {"report.json": "altered"}, "altered: report.json (SHA-256"),
    ("added", {"notes.txt": "added"}, "added: notes.txt"),
    ("removed", {"report.xml": "missing"}, "missing: report.xml"),
    ("manifest", {}, "manifest edited"),
    ("no-digest", {}, "MANIFEST.sha256 is missing"),
    ("duplicate", {}, "duplicate: report.json"),
    ("truncated", {"report.html": "altered"}, "altered: report.html ("),
])
def test_every_tampering_is_detected(tmp_path, bundle, tamper, status, needle):
    state: dict = {}
    out = tmp_path / "tampered.zip"
    if tamper == "byte":
        _rewrite(bundle, out, _flip)
    elif tamper == "added":
        _rewrite(bundle, out, add={"notes.txt": b"hello"})
    elif tamper == "removed":
        _rewrite(bundle, out, lambda n, d: None if n == "report.xml" else d)
    elif tamper == "manifest":
        _rewrite(bundle, out, lambda n, d: _edit_both(n, d, state))
    elif tamper == "no-digest":
        _rewrite(bundle, out, lambda n, d: None if n == "MANIFEST.sha256" else d)
    elif tamper == "duplicate":
        with zipfile.ZipFile(bundle) as zf:
            forged = _flip("report.json", zf.read("report.json"))
        shutil.copy(bundle, out)
        with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(out, "a") as zf:
            zf.writestr("report.json", forged)
    elif tamper == "truncated":
        _rewrite(bundle, out, lambda n, d: d[:-10] if n == "report.html" else d)
    check = check_bundle(out)
    assert check.exit_code == 1
    assert {f.name: f.status for f in check.files if f.status != "ok"} == status
    assert any(needle in p.message_en for p in check.problems), check.problems
    assert all(" / " in p and p.kind == "altered" for p in verify_bundle(out))


def test_corrupt_compressed_bytes_are_altered_not_a_crash(tmp_path, bundle):
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo("report.html")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 20, start + 60):
        raw[i] ^= 0xFF
    out = tmp_path / "corrupt.zip"
    out.write_bytes(bytes(raw))
    check = check_bundle(out)
    assert check.exit_code == 1 and [f.status for f in check.files if f.name == "report.html"] == ["altered"]


def test_a_report_from_another_rule_pack_is_flagged(tmp_path, report):
    other = copy.deepcopy(report)
    other["rule_pack_digest"] = "sha256:" + "0" * 64
    path = tmp_path / "report.json"
    path.write_text(json.dumps(other), encoding="utf-8")
    bundle = write_bundle(tmp_path / "mixed.zip", [path])
    assert any("rule_pack_digest" in p for p in verify_bundle(bundle))


def test_bundle_takes_the_masked_journal_of_a_live_journal(tmp_path, report):
    from s24kit.simulator.journal import Journal

    with Journal(tmp_path / "journal.db") as journal:
        exchange = journal.record(party="relay", method="POST", url="https://127.0.0.1:8443/s24/v1/visits:search",
                                  request_body='{"resident_number": "900101-1234567"}', status=200,
                                  response_body="{}", started_at=datetime.now(UTC))
        bundle = write_bundle(tmp_path / "b.zip", [write_json(report, tmp_path / "report.json")], journal=journal)
    assert verify_bundle(bundle) == []
    with zipfile.ZipFile(bundle) as zf:
        lines = zf.read("journal.jsonl").decode("utf-8").splitlines()
    assert len(lines) == 1 and exchange in lines[0]
    assert "1234567" not in lines[0]


def test_write_bundle_refuses_clashing_names(tmp_path, report):
    path = write_json(report, tmp_path / "MANIFEST.json")
    with pytest.raises(ValueError, match=r"MANIFEST\.json"):
        write_bundle(tmp_path / "b.zip", [path])
    journal = tmp_path / "j.jsonl"
    journal.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="journal"):
        write_bundle(tmp_path / "b.zip", [], journal=object(), journal_jsonl=journal)
    assert not (tmp_path / "b.zip").exists()


# ------------------------------------------------------------------------------------------------ CLI


def test_report_verify_exit_codes(tmp_path, bundle):
    runner = CliRunner()
    ok = runner.invoke(main, ["report", "verify", str(bundle), "--lang", "en"])
    assert ok.exit_code == 0, ok.output
    assert "bundle intact: 4 files" in ok.output and "report.json" in ok.output
    assert " KST (UTC+09:00)" in ok.output  # the bundle's time (stored in UTC) as Korean staff read it

    altered = runner.invoke(main, ["report", "verify", str(_rewrite(bundle, tmp_path / "t.zip", _flip))])
    assert altered.exit_code == 1
    assert "변경됨" in altered.output and "bundle NOT intact" in altered.output

    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("not a zip", encoding="utf-8")
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("readme.txt", "hello")
    other_format = _rewrite(bundle, tmp_path / "v2.zip",
                            lambda n, d: d.replace(b"evidence-bundle/1", b"evidence-bundle/9") if n == "MANIFEST.json"
                            else d)
    for path, needle in ((not_zip, "not a zip file"), (foreign, "no MANIFEST.json"),
                         (tmp_path / "absent.zip", "no such file"), (other_format, "format")):
        result = runner.invoke(main, ["report", "verify", str(path)])
        assert result.exit_code == 2, (path, result.output)
        assert result.output.count("\n") == 1 and needle in result.output and "오류:" in result.output
        assert "Traceback" not in result.output


def test_report_render_html_and_junit(tmp_path, report):
    source = write_json(report, tmp_path / "report.json")
    runner = CliRunner()
    html = runner.invoke(main, ["report", "render", str(source), "--format", "html", "--lang", "en",
                                "--out", str(tmp_path / "r.html")])
    assert html.exit_code == 0, html.output
    assert "Total amount" in (tmp_path / "r.html").read_text(encoding="utf-8")
    junit = runner.invoke(main, ["report", "render", str(source), "--format", "junit", "--out",
                                 str(tmp_path / "r.xml")])
    assert junit.exit_code == 0, junit.output
    _assert_junit_shape(ET.parse(tmp_path / "r.xml").getroot())


@pytest.mark.parametrize("content, needle", [
    (b"{not json", "JSON syntax error: Expecting property name enclosed in double quotes (line 1"),
    ("영수증".encode("cp949"), "not UTF-8"),
    (json.dumps({"profile": "kit-v1"}).encode(), "not a kit-v1 report"),
    (None, "no such file"),
])
def test_report_render_refuses_bad_input_in_one_line(tmp_path, content, needle):
    source = tmp_path / "report.json"
    if content is not None:
        source.write_bytes(content)
    result = CliRunner().invoke(main, ["report", "render", str(source), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and needle in result.output and "오류:" in result.output
    assert not (tmp_path / "r.html").exists()


def test_report_group_usage_errors_are_one_line():
    result = CliRunner().invoke(main, ["report", "frobnicate"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "frobnicate" in result.output


def test_report_verify_problem_lines_are_korean_then_english(tmp_path, bundle):
    altered = CliRunner().invoke(main, ["report", "verify", str(_rewrite(bundle, tmp_path / "t.zip", _flip))])
    assert altered.exit_code == 1
    lines = [line for line in altered.output.splitlines() if line.startswith("문제 / problem")]
    assert lines, altered.output
    for line in lines:
        korean, english = line.removeprefix("문제 / problem ").split(" / ", 1)
        assert any("가" <= ch <= "힣" for ch in korean) and english.isascii() and english, line

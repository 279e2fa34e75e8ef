"""The HTML report as relay staff read it, in a real headless Chromium (Selenium, tests/browser.py).

Failures first under the verdict, linked to their evidence; times in KST; a long evidence list cut with a true
count and a CSV of the whole list that the browser really downloads; skipped requirements and the environment
folded on screen and unfolded in print; one language per page. Screenshots (screen and print media) and the
printed PDF are kept in artifacts/browser/ (the path is printed).
"""

from __future__ import annotations

import base64
import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from s24kit.conformance.checks.registry import Evidence, Result, failed, passed, skipped, warned
from s24kit.conformance.reports import build_report, write_html
from s24kit.conformance.reports.html import SHOWN_EVIDENCE

from .browser import artefact_path, emulate_media, full_page_png, pdf

# 05:03:07 UTC is 14:03:07 in Korea: the page must show the Korean time, not the stored one.
STARTED = datetime(2026, 5, 11, 5, 3, 7, tzinfo=UTC)
TARGET = {"url": "https://127.0.0.1:8443", "role": "provider_pull",
          "certificate": {"subject": "CN=localhost", "issuer": "CN=s24kit test CA"}}
MANY = 25  # evidence items of S24-DOC-103
FOUND = 41  # violations its check found (it keeps the first MANY)
FAILED = ("S24-DOC-002", "S24-DOC-030", "S24-DOC-103")
HANGUL = re.compile("[\uac00-\ud7a3]")


def _results() -> list[Result]:
    many = [Evidence(f"방문 {n:02d}의 금액이 다릅니다 / visit {n:02d}: amount differs", exchange=f"x-{n:06d}",
                     pointer=f"/documents/{n}/totals/total_amount", expected=1000 + n, actual=999 + n)
            for n in range(1, MANY + 1)]
    return [
        Result("S24-DOC-001", passed("ok")),
        Result("S24-DOC-002", failed("총액이 합과 다릅니다 / total differs from the sum",
                                     Evidence("총액 / total", pointer="/totals/total_amount", expected=125000,
                                              actual=124990)), 14.7),
        Result("S24-DOC-030", failed("NFC가 아닙니다 / not NFC",
                                     Evidence("NFD 문자열 / NFD text", pointer="/provider/name")), 2.0),
        Result("S24-DOC-040", skipped("해당 서류 없음 / no such document")),
        Result("S24-DOC-055", warned("목록에 없는 코드 / code not in the list",
                                     Evidence("코드 / code", pointer="/diagnoses/0/code", actual="Z99.9"))),
        Result("S24-DOC-103", failed(f"{FOUND}건 위반 (처음 {MANY}건 기록) / {FOUND} violations (the first {MANY} "
                                     "listed)", *many, found=FOUND), 30.0),
        Result("S24-TLS-001", skipped("TLS 검사 안 함 / TLS not checked")),
    ]


@pytest.fixture(scope="module")
def report() -> dict:
    return build_report(_results(), target=TARGET, started_at=STARTED, finished_at=STARTED + timedelta(seconds=4),
                        environment={"runner": "browser test"})


def _open(chromium, tmp_path: Path, report: dict, lang: str) -> Path:
    page = write_html(report, tmp_path / f"report.{lang}.html", lang=lang)
    chromium.get(page.as_uri())
    return page


def _ids(chromium, selector: str) -> list[str]:
    return [e.get_attribute("data-requirement") for e in chromium.find_elements("css selector", selector)]


def _page_text(chromium) -> str:
    """The page's text as the browser renders it for the current media (innerText; Selenium's own text
    reading treats a closed <details> as hidden whatever the media)."""
    return chromium.execute_script("return document.body.innerText")


def _shown(element) -> bool:
    """Rendered with a size, as the browser decides it for the current media (a closed <details> hides its
    content with content-visibility, which only checkVisibility sees): what a reader or a printer gets."""
    return element.parent.execute_script(
        "const e = arguments[0], box = e.getBoundingClientRect();"
        "return e.checkVisibility({visibilityProperty: true, opacityProperty: true}) && box.height > 0", element)


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_failures_first_and_links_resolve_to_the_evidence(chromium, tmp_path, report, lang):
    _open(chromium, tmp_path, report, lang)
    failed_ids = [r["requirement"] for r in report["results"] if r["verdict"] == "fail"]
    assert tuple(failed_ids) == FAILED
    assert _ids(chromium, "#failed-requirements > li") == failed_ids
    assert _ids(chromium, "#warned-requirements > li") == ["S24-DOC-055"]
    # The summary comes right under the verdict banner, before anything else.
    order = chromium.execute_script(
        "return [...document.querySelectorAll('main > section, main > h2, main > table')].map(e => e.id || e.tagName)")
    assert order[:2] == ["verdict", "summary"], order
    for rid in failed_ids:
        link = chromium.find_element("css selector", f"#failed-requirements > li[data-requirement='{rid}'] a")
        link.click()
        assert chromium.execute_script("return location.hash") == f"#{rid}"
        target = chromium.execute_script("return document.querySelector(location.hash)")
        assert target.tag_name == "article" and target.get_attribute("data-requirement") == rid
        assert target.find_elements("css selector", ".evidence")
        top = chromium.execute_script("return arguments[0].getBoundingClientRect().top", target)
        assert -1 < top < chromium.execute_script("return innerHeight"), f"{rid} not scrolled into view"


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_times_are_korean_standard_time(chromium, tmp_path, report, lang):
    _open(chromium, tmp_path, report, lang)
    times = [e.text for e in chromium.find_elements("css selector", "dd.time")]
    assert times[0] == "2026-05-11 14:03:07 KST (UTC+09:00)"
    assert times[1].startswith("2026-05-11 14:03:11 KST (UTC+09:00)")
    header = chromium.find_element("css selector", "header.top .when").text
    assert header == "2026-05-11 14:03:11 KST (UTC+09:00)"
    assert "05:03" not in _page_text(chromium)


def test_many_violations_are_grouped_with_a_true_count_and_a_real_download(chromium, tmp_path, report):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    chromium.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    _open(chromium, tmp_path, report, "ko")
    finding = chromium.find_element("id", "S24-DOC-103")
    assert len(finding.find_elements("css selector", ".evidence")) == SHOWN_EVIDENCE
    more = finding.find_element("css selector", "p.more[data-listed]")
    rest = MANY - SHOWN_EVIDENCE
    assert f"증거 {MANY}건 중 처음 {SHOWN_EVIDENCE}건만" in more.text and f"나머지 {rest}건" in more.text
    unlisted = finding.find_element("css selector", "p.unlisted").text
    assert f"{FOUND}건" in unlisted and f"{FOUND - MANY}건은 어느 파일에도 없습니다" in unlisted
    # Findings with few pieces of evidence show them all, with no count.
    assert not chromium.find_element("id", "S24-DOC-002").find_elements("css selector", "p.more")

    link = finding.find_element("css selector", "a.download")
    name = link.get_attribute("download")
    assert name == "S24-DOC-103-evidence.csv"
    link.click()
    saved = downloads / name
    deadline = time.monotonic() + 20
    while not saved.is_file() and time.monotonic() < deadline:  # the browser writes it in the background
        time.sleep(0.1)
    assert saved.is_file(), list(downloads.iterdir())
    rows = list(csv.reader(io.StringIO(saved.read_bytes().decode("utf-8-sig"))))
    assert rows[0][:3] == ["번호", "요구사항", "내용"]
    body = rows[1:]
    assert len(body) == MANY and [r[0] for r in body] == [str(n) for n in range(1, MANY + 1)]
    assert all(r[1] == "S24-DOC-103" for r in body)
    assert body[-1][2] == f"방문 {MANY:02d}의 금액이 다릅니다" and body[-1][5:7] == [str(1000 + MANY), str(999 + MANY)]
    # The file is the same the page carries (nothing fetched: a data: link).
    href = link.get_attribute("href")
    assert href.startswith("data:text/csv;charset=utf-8;base64,")
    assert base64.b64decode(href.split(",", 1)[1]) == saved.read_bytes()


def test_folded_on_screen_unfolded_in_print_with_screenshots(chromium, tmp_path, report):
    page = _open(chromium, tmp_path, report, "ko")
    folded = {"skipped-requirements": "S24-TLS-001", "environment": "browser test"}
    for fold, inside in folded.items():
        details = chromium.find_element("id", fold)
        assert details.tag_name == "details" and details.get_attribute("open") is None
        content = details.find_element("css selector", "table, dl")
        assert not _shown(content), f"{fold} is open on screen"
        assert inside not in _page_text(chromium)
    assert _ids(chromium, "#skipped-requirements tr[data-verdict='skip']") == ["S24-DOC-040", "S24-TLS-001"]
    assert not chromium.find_elements("css selector", "table.results:not(#skipped-requirements *) tr.skip")
    assert not _shown(chromium.find_element("css selector", ".signoff"))
    full_page_png(chromium, artefact_path("report-ko-screen.png"))

    emulate_media(chromium, "print")
    for fold, inside in folded.items():
        details = chromium.find_element("id", fold)
        assert _shown(details.find_element("css selector", "table, dl")), f"{fold} is folded in print"
        assert inside in _page_text(chromium)
    assert _shown(chromium.find_element("css selector", ".signoff"))
    full_page_png(chromium, artefact_path("report-ko-print.png"))
    printed = pdf(chromium, artefact_path("report-ko.pdf"))
    assert printed.read_bytes()[:5] == b"%PDF-"
    emulate_media(chromium, "screen")
    assert not _shown(chromium.find_element("id", "environment").find_element("css selector", "dl"))
    print(f"page: {page}")


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_one_language_per_page(chromium, tmp_path, report, lang):
    _open(chromium, tmp_path, report, lang)
    emulate_media(chromium, "print")  # everything unfolded: the whole page's text
    text = _page_text(chromium)
    if lang == "en":
        korean = HANGUL.findall(text.replace("실손24", ""))  # the service's own name stays as it is spelled
        assert not korean, sorted(set(korean))
    else:
        english = ("Remedy", "Evidence", "Reason", "Skipped", "Warning", "Requirement", "MUST", "SHOULD", "Target",
                   "Download", "Inspector", "differs", "visit")
        assert not [word for word in english if word in text]
    full_page_png(chromium, artefact_path(f"report-{lang}-language.png"))

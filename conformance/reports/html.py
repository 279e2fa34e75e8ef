"""The HTML report: one self-contained page (inline CSS, no scripts, no fetches), Korean or English.

What relay staff read first: the verdict, then the failed requirements (one line each, linked to their
evidence), then warnings; every time in KST; long evidence lists cut after the first few with a count and a
CSV of the whole list carried in the page itself (a ``data:`` link); skipped requirements and the run's
environment folded; a print stylesheet that unfolds everything, so the printed page is the 검수 record.

Everything from the report goes through jinja2's autoescape; the view model below only chooses words,
orders sections and makes control characters visible.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import datetime, timedelta, timezone
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from ..language import localised
from .json_report import write_atomic
from .junit import shown, xml_text

LANGS = ("ko", "en")
KST = timezone(timedelta(hours=9), "KST")
#: Evidence items shown in full under a finding; the rest are counted and offered as a CSV list.
SHOWN_EVIDENCE = 3
#: Characters of a reason shown on its summary line.
ONE_LINE = 160

WORDS: dict[str, dict[str, str]] = {
    "ko": {
        "doc_title": "적합성 시험 보고서", "brand": "silson24-kit · 실손24 연계 적합성 시험",
        "profile_note": "kit-v1은 이 키트가 정한 참조 프로토콜이며, 공식 실손24 명세가 아닙니다.",
        "pass": "적합", "fail": "부적합", "warn": "경고", "skip": "건너뜀",
        "verdict_pass": "적합", "verdict_fail": "부적합",
        "verdict_pass_note": "필수 요구사항을 모두 충족했습니다.",
        "verdict_fail_note": "필수 요구사항 {n}건을 충족하지 못했습니다.",
        "should_note": "권고 요구사항 {n}건 실패는 판정에 영향을 주지 않지만 고치기를 권합니다.",
        "of_total": "전체 {n}건", "environment": "실행 환경", "kit_version": "키트 버전", "profile": "프로파일",
        "suite_version": "시험 묶음 버전", "digest": "규칙 묶음 다이제스트", "target_url": "대상 URL",
        "target_role": "대상 역할", "certificate": "대상 인증서", "none": "—", "started": "시작",
        "finished": "종료", "elapsed": "소요 시간", "machine": "실행 환경", "requirements": "요구사항별 결과",
        "col_id": "ID", "col_level": "수준", "col_title": "요구사항", "col_verdict": "판정", "col_time": "소요",
        "details": "실패 및 경고 상세", "no_details": "실패나 경고가 없습니다.", "reason": "사유",
        "remedy": "조치 방법", "evidence": "증거", "exchange": "교환 기록", "pointer": "위치",
        "expected": "기대값", "actual": "실제값",
        "reproduction": "재현 명령 (복사해 실행: 요청 본문은 requests/ 폴더에 가려진 채 있고, "
                        "s24kit report body가 시나리오에서 환자를 채우고 새 request_id를 붙여 다시 만듭니다)",
        "no_evidence": "기록된 증거가 없습니다.", "must": "필수", "should": "권고",
        "footer": "{kit} {version} · 프로파일 {profile} · 증거 묶음 검증: s24kit report verify 묶음.zip",
        "failures": "부적합 요구사항 {n}건", "warnings": "경고 {n}건", "no_failures": "부적합 요구사항이 없습니다.",
        "run": "시험 대상", "skipped": "건너뛴 요구사항 {n}건", "col_reason": "사유",
        "shown_of": "증거 {listed}건 중 처음 {shown}건만 보입니다. 나머지 {rest}건을 포함한 {listed}건 전체는 "
                    "내려받을 목록과 JSON 보고서(report.json, evidence.zip 안)에 있습니다.",
        "download": "증거 목록 내려받기 ({listed}건, CSV)",
        "unlisted": "검사가 찾은 문제는 {found}건이며, 그중 처음 {listed}건만 기록했습니다. 나머지 {rest}건은 "
                    "어느 파일에도 없습니다: 고친 뒤 다시 실행해 확인하세요.",
        "csv_columns": "번호,요구사항,내용,교환 기록,위치,기대값,실제값,재현 명령",
        "sign_title": "검수 확인", "sign_by": "검수자", "sign_signature": "서명", "sign_date": "일자",
        "times_note": "시각은 한국 표준시(KST, UTC+09:00)입니다.",
        "provider_pull": "요양기관 서버 (중계기관이 호출)", "provider_agent": "요양기관 에이전트 (중계기관에 폴링)",
    },
    "en": {
        "doc_title": "Conformance report", "brand": "silson24-kit · conformance kit for 실손24",
        "profile_note": "Profile kit-v1 is the kit's own reference protocol, not the official 실손24 specification.",
        "pass": "Pass", "fail": "Fail", "warn": "Warning", "skip": "Skipped",
        "verdict_pass": "PASS", "verdict_fail": "FAIL",
        "verdict_pass_note": "Every MUST requirement holds.",
        "verdict_fail_note": "{n} MUST requirement(s) failed.",
        "should_note": "{n} SHOULD requirement(s) failed: they do not fail the verdict but should be fixed.",
        "of_total": "{n} in total", "environment": "Run", "kit_version": "Kit version", "profile": "Profile",
        "suite_version": "Suite version", "digest": "Rule-pack digest", "target_url": "Target URL",
        "target_role": "Target role", "certificate": "Target certificate", "none": "—", "started": "Started",
        "finished": "Finished", "elapsed": "Duration", "machine": "Environment", "requirements": "Requirements",
        "col_id": "ID", "col_level": "Level", "col_title": "Requirement", "col_verdict": "Verdict",
        "col_time": "Time", "details": "Failures and warnings", "no_details": "No failures or warnings.",
        "reason": "Reason", "remedy": "Remedy", "evidence": "Evidence", "exchange": "Exchange",
        "pointer": "Field", "expected": "Expected", "actual": "Actual",
        "reproduction": "Reproduce (copy and run: the request body is kept masked in requests/; s24kit report body "
                        "rebuilds it with the patient from your scenario and a fresh request_id)",
        "no_evidence": "No evidence recorded.", "must": "MUST",
        "should": "SHOULD",
        "footer": "{kit} {version} · profile {profile} · verify an evidence bundle: s24kit report verify BUNDLE.zip",
        "failures": "{n} failed requirement(s)", "warnings": "{n} warning(s)", "no_failures": "No requirement failed.",
        "run": "Target", "skipped": "{n} skipped requirement(s)", "col_reason": "Reason",
        "shown_of": "The first {shown} of {listed} pieces of evidence are shown. All {listed}, including the other "
                    "{rest}, are in the list to download and in the JSON report (report.json, inside evidence.zip).",
        "download": "Download the evidence list ({listed} items, CSV)",
        "unlisted": "The check found {found} problems and recorded the first {listed}; the other {rest} are in no "
                    "file: fix and run again to see them.",
        "csv_columns": "No.,Requirement,Message,Exchange,Field,Expected,Actual,Reproduction",
        "sign_title": "Inspection sign-off", "sign_by": "Inspector", "sign_signature": "Signature", "sign_date": "Date",
        "times_note": "Times are Korea Standard Time (KST, UTC+09:00).",
        "provider_pull": "provider server (called by the relay)", "provider_agent": "provider agent (polls the relay)",
    },
}


@cache
def _template() -> jinja2.Template:
    text = resources.files(__package__).joinpath("templates", "report.html.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    return env.from_string(text)


def _text(value: Any) -> str:
    """Evidence values for people: strings as sent (control characters visible), the rest as JSON."""
    if isinstance(value, str):
        return xml_text(value)
    return xml_text(json.dumps(value, ensure_ascii=False, indent=2))


def _duration(ms: float) -> str:
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"


def in_kst(text: str) -> str:
    """A report timestamp as Korean staff read it: in KST, with the zone written out."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        return text  # the schema requires an offset; a report without one is shown as written, not guessed
    return moment.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S") + " KST (UTC+09:00)"


def _elapsed(start: str, end: str) -> str:
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (ValueError, TypeError):
        return ""
    return _duration(seconds * 1000)


def _evidence(ev: dict[str, Any], lang: str) -> dict[str, Any]:
    """Every key present (the template is strict); expected/actual may be absent, or present and null."""
    out = {key: _text(ev.get(key, "")) for key in ("exchange", "pointer", "reproduction")}
    out["message"] = _text(localised(ev.get("message", ""), lang))
    out["compare"] = "expected" in ev or "actual" in ev
    out["expected"] = _text(ev["expected"]) if "expected" in ev else None
    out["actual"] = _text(ev["actual"]) if "actual" in ev else None
    return out


def evidence_csv(item: dict[str, Any], lang: str) -> str:
    """Every piece of evidence of one result as CSV (one row each, columns in ``lang``) for a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(WORDS[lang]["csv_columns"].split(","))
    for number, ev in enumerate(item.get("evidence", []), start=1):
        cells = [localised(ev.get("message", ""), lang), *(shown(ev[k]) if k in ev else "" for k in
                                                             ("exchange", "pointer", "expected", "actual",
                                                              "reproduction"))]
        writer.writerow([number, item["requirement"], *(xml_text(c) for c in cells)])
    return buffer.getvalue()


def _data_uri(text: str) -> str:
    # A byte order mark first: spreadsheet programs then read the Korean as UTF-8.
    data = base64.b64encode(("\ufeff" + text).encode("utf-8")).decode("ascii")
    return f"data:text/csv;charset=utf-8;base64,{data}"


def _grouped(item: dict[str, Any], lang: str) -> dict[str, Any]:
    """The first evidence in full; past SHOWN_EVIDENCE a count, a CSV of all of it, and what was never kept."""
    words = WORDS[lang]
    evidence = item.get("evidence", [])
    listed = len(evidence)
    shown_items = [_evidence(ev, lang) for ev in evidence[:SHOWN_EVIDENCE]]
    more = download = name = unlisted = ""
    if listed > SHOWN_EVIDENCE:
        rest = listed - SHOWN_EVIDENCE
        more = words["shown_of"].format(shown=SHOWN_EVIDENCE, listed=listed, rest=rest)
        download, name = _data_uri(evidence_csv(item, lang)), f"{item['requirement']}-evidence.csv"
    found = item.get("found", 0)
    if found > listed:
        unlisted = words["unlisted"].format(found=found, listed=listed, rest=found - listed)
    return {"evidence": shown_items, "listed": listed, "more": more, "download": download, "download_name": name,
            "download_text": words["download"].format(listed=listed), "unlisted": unlisted}


def _one_line(text: str) -> str:
    """The first line of a reason, for the summary (the full reason is in the finding it links to)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= ONE_LINE else first[:ONE_LINE - 1] + "…"


def view(report: dict[str, Any], lang: str) -> dict[str, Any]:
    """What the template shows, in the order it shows it."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, not {lang!r}")
    words = WORDS[lang]
    results = report["results"]
    must_failed = sum(1 for r in results if r["verdict"] == "fail" and r["severity"] == "MUST")
    should_failed = sum(1 for r in results if r["verdict"] == "fail" and r["severity"] == "SHOULD")
    rows, skipped, details = [], [], []
    for r in results:
        reason = _text(localised(r.get("reason", ""), lang))
        row = {"id": r["requirement"], "level": words[r["severity"].lower()], "verdict": r["verdict"],
               "verdict_text": words[r["verdict"]], "title": r[f"title_{lang}"],
               "time": _duration(r.get("duration_ms", 0)), "anchor": r["requirement"], "line": _one_line(reason)}
        (skipped if r["verdict"] == "skip" else rows).append({**row, "reason": reason})
        if r["verdict"] in ("fail", "warn"):
            details.append({**row, "reason": reason, "remedy": r.get(f"remedy_{lang}", ""), **_grouped(r, lang)})
    # Failures first (MUST before SHOULD), then warnings; each group in catalogue order.
    details.sort(key=lambda d: (d["verdict"] != "fail", d["level"] != words["must"]))
    failures = [d for d in details if d["verdict"] == "fail"]
    warnings = [d for d in details if d["verdict"] == "warn"]
    target = report["target"]
    certificate = [(str(k), _text(v)) for k, v in target.get("certificate", {}).items()]
    environment = [(str(k), _text(v)) for k, v in report.get("environment", {}).items()]
    return {
        "lang": lang, "w": words, "report": report, "verdict": report["verdict"],
        "verdict_text": words[f"verdict_{report['verdict']}"],
        "verdict_note": (words["verdict_fail_note"].format(n=must_failed) if report["verdict"] == "fail"
                         else words["verdict_pass_note"]),
        "should_note": words["should_note"].format(n=should_failed) if should_failed else "",
        "summary": [(v, words[v], report["summary"][v]) for v in ("pass", "fail", "warn", "skip")],
        "total": words["of_total"].format(n=len(results)),
        "failures": failures, "warnings": warnings,
        "failures_title": words["failures"].format(n=len(failures)),
        "warnings_title": words["warnings"].format(n=len(warnings)),
        "skipped_title": words["skipped"].format(n=len(skipped)),
        "role_text": words.get(target["role"], ""), "certificate": certificate, "environment": environment,
        "started": in_kst(report["started_at"]), "finished": in_kst(report["finished_at"]),
        "elapsed": _elapsed(report["started_at"], report["finished_at"]),
        "rows": rows, "skipped": skipped, "details": details,
        "footer": words["footer"].format(kit="silson24-kit", version=report["kit_version"],
                                         profile=report["profile"]),
    }


def render_html(report: dict[str, Any], lang: str = "ko") -> str:
    return _template().render(**view(report, lang))


def write_html(report: dict[str, Any], path: Path, lang: str = "ko") -> Path:
    """The report as one self-contained HTML page in ``lang`` ("ko" or "en")."""
    return write_atomic(path, render_html(report, lang).encode("utf-8"))

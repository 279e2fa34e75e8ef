"""The HTML report: one self-contained page (inline CSS, no scripts, no fetches), Korean or English.

Everything from the report goes through jinja2's autoescape; the view model below only chooses words,
orders sections and makes control characters visible.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from ..language import localised
from .json_report import write_atomic
from .junit import xml_text

LANGS = ("ko", "en")

WORDS: dict[str, dict[str, str]] = {
    "ko": {
        "doc_title": "적합성 시험 보고서", "brand": "silson24-kit · 실손24 연계 적합성 시험",
        "profile_note": "kit-v1은 이 키트가 정한 참조 프로토콜이며, 공식 실손24 명세가 아닙니다.",
        "pass": "적합", "fail": "부적합", "warn": "경고", "skip": "건너뜀",
        "verdict_pass": "적합", "verdict_fail": "부적합",
        "verdict_pass_note": "필수(MUST) 요구사항을 모두 충족했습니다.",
        "verdict_fail_note": "필수(MUST) 요구사항 {n}건을 충족하지 못했습니다.",
        "should_note": "권고(SHOULD) 요구사항 {n}건 실패는 판정에 영향을 주지 않지만 고치기를 권합니다.",
        "of_total": "전체 {n}건", "environment": "시험 정보", "kit_version": "키트 버전", "profile": "프로파일",
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


def _moment(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    offset = moment.strftime("%z")
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (f" (UTC{offset[:3]}:{offset[3:]})" if offset else "")


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


def view(report: dict[str, Any], lang: str) -> dict[str, Any]:
    """What the template shows, in the order it shows it."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, not {lang!r}")
    words = WORDS[lang]
    results = report["results"]
    must_failed = sum(1 for r in results if r["verdict"] == "fail" and r["severity"] == "MUST")
    should_failed = sum(1 for r in results if r["verdict"] == "fail" and r["severity"] == "SHOULD")
    rows, details = [], []
    for r in results:
        row = {"id": r["requirement"], "level": r["severity"], "verdict": r["verdict"],
               "verdict_text": words[r["verdict"]], "title": r[f"title_{lang}"],
               "time": _duration(r.get("duration_ms", 0)), "anchor": r["requirement"]}
        rows.append(row)
        if r["verdict"] in ("fail", "warn"):
            evidence = [_evidence(ev, lang) for ev in r.get("evidence", [])]
            details.append({**row, "reason": _text(localised(r.get("reason", ""), lang)),
                            "remedy": r.get(f"remedy_{lang}", ""), "evidence": evidence})
    details.sort(key=lambda d: d["verdict"] != "fail")  # failures first, each group in catalogue order
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
        "role_text": words.get(target["role"], ""), "certificate": certificate, "environment": environment,
        "started": _moment(report["started_at"]), "finished": _moment(report["finished_at"]),
        "elapsed": _elapsed(report["started_at"], report["finished_at"]),
        "rows": rows, "details": details,
        "footer": words["footer"].format(kit="silson24-kit", version=report["kit_version"],
                                         profile=report["profile"]),
    }


def render_html(report: dict[str, Any], lang: str = "ko") -> str:
    return _template().render(**view(report, lang))


def write_html(report: dict[str, Any], path: Path, lang: str = "ko") -> Path:
    """The report as one self-contained HTML page in ``lang`` ("ko" or "en")."""
    return write_atomic(path, render_html(report, lang).encode("utf-8"))

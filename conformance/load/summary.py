"""The end of a load run: Locust's CSV statistics read back and set against the national targets.

실손24 carries about 100 million claims a year: about 3 a second on average and 20–30 a second at peak;
the kit's aim is ten times the peak. The headline is the rate of *completed* work in claims per second:
for patients a claim submitted and followed to its final state, for the relay pulling from providers one
``documents:fetch`` (one per claim). Failures are grouped by the problem code the target answered.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

#: (name, Korean, English, claims per second)
TARGETS = (("national_average", "전국 평균", "national average", 3.0),
           ("national_peak", "전국 최대", "national peak", 30.0),
           ("ten_times_peak", "최대의 10배", "ten times the peak", 300.0))
#: The stats row whose rate is the headline for each traffic, and its unit.
HEADLINE = {"patients": ("CLAIM", "submitted → final", "claims/s"),
            "relay": ("POST", "POST documents:fetch", "claims/s (one fetch per claim)"),
            "agents": ("POST", "POST /relay/v1/agent/poll", "polls/s")}
_PROBLEM = re.compile(r"problem=([A-Za-z0-9_:]+)")
_EXCEPTION = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)\(")


def problem_code(error: str) -> str:
    """``problem=forbidden …`` → ``forbidden``; a transport error → ``transport:<exception class>``."""
    if found := _PROBLEM.search(error):
        return found.group(1)
    if found := _EXCEPTION.match(error.strip()):
        return f"transport:{found.group(1).rsplit('.', 1)[-1]}"
    return f"other:{error.strip()[:60]}"


def summarise(results: Path, traffic: list[str]) -> dict[str, Any]:
    """The run's summary from Locust's final statistics (written by the kit's locustfile at exit)."""
    final = json.loads(results.read_text(encoding="utf-8"))
    rows = {(r["type"], r["name"]): r for r in final["rows"]}
    headlines = []
    for each in traffic:
        kind, name, unit = HEADLINE[each]
        row = rows.get((kind, name)) or {"requests": 0, "failures": 0, "per_second": 0.0, "p50_ms": None,
                                          "p99_ms": None}
        completed = row["requests"] - row["failures"]
        rate = row["per_second"] * completed / row["requests"] if row["requests"] else 0.0
        targets = {key: {"target": value, "met": rate >= value} for key, _, _, value in TARGETS} \
            if unit.startswith("claims/s") else {}
        headlines.append({"traffic": each, "row": name, "unit": unit, "per_second": round(rate, 2),
                          "completed": completed, "failed": row["failures"], "p50_ms": row["p50_ms"],
                          "p99_ms": row["p99_ms"], "targets": targets})
    failures: Counter[str] = Counter()
    for failure in final["failures"]:
        code = problem_code(failure["error"])
        if failure["type"] == "CLAIM" and not code.startswith("claim_"):
            continue  # a claim refused on the way: its request's failure is counted already
        failures[code] += failure["occurrences"]
    return {"headlines": headlines, "requests": final["rows"], "failures_by_problem": dict(failures.most_common()),
            "nothing_completed": [h["traffic"] for h in headlines if not h["completed"]],
            "run_errors": final.get("run_errors", [])}


def markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown: the Korean table first, then the same in English."""
    lines = ["## 목표 대비 결과", "", "| 부하 | 초당 완료 | 완료 | 실패 | p99 (ms) | "
             + " | ".join(f"{ko} {v:g}/s" for _, ko, _, v in TARGETS) + " |", "|---" * (5 + len(TARGETS)) + "|"]
    for h in summary["headlines"]:
        lines.append(f"| {h['traffic']} | {h['per_second']:,.2f} | {h['completed']:,} | {h['failed']:,} | "
                     f"{h['p99_ms'] if h['p99_ms'] is not None else '—'} | "
                     + " | ".join(_verdict(h, key, "달성", "미달") for key, *_ in TARGETS) + " |")
    lines += ["", "## Against the targets", "", "| traffic | completed/s | completed | failed | p99 (ms) | "
              + " | ".join(f"{en} {v:g}/s" for _, _, en, v in TARGETS) + " |", "|---" * (5 + len(TARGETS)) + "|"]
    for h in summary["headlines"]:
        lines.append(f"| {h['traffic']} | {h['per_second']:,.2f} | {h['completed']:,} | {h['failed']:,} | "
                     f"{h['p99_ms'] if h['p99_ms'] is not None else '—'} | "
                     + " | ".join(_verdict(h, key, "met", "not met") for key, *_ in TARGETS) + " |")
    failures = summary["failures_by_problem"]
    lines += ["", "## 실패 (문제 코드별) / failures by problem code", ""]
    lines += [f"- `{code}`: {count:,}" for code, count in failures.items()] or ["- 없음 / none"]
    lines += [f"\n**{error}**" for error in summary.get("run_errors", [])]
    if summary.get("nothing_completed"):
        lines += ["", f"**완료된 작업이 없습니다 / nothing completed**: {', '.join(summary['nothing_completed'])} — "
                      "대상, 인증서, --provider 를 확인하십시오 / check the target, the certificates and --provider"]
    return "\n".join(lines) + "\n"


def _verdict(headline: dict[str, Any], key: str, yes: str, no: str) -> str:
    target = headline["targets"].get(key)
    return "—" if target is None else (yes if target["met"] else no)

"""The JSON report: one dict shaped by schemas/kit-v1/report.schema.json, built from check results.

Verdict rule (documented in the schema too): the report fails when any MUST requirement failed. A failed
SHOULD requirement counts under ``summary.fail`` — it is a failure a reader must see — but it does not fail
the verdict; warnings and skips never do. An empty run passes: deciding whether it may be empty is the
runner's job, not the report's.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import tempfile
from collections.abc import Iterable
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ...schemas.loader import PROFILE, is_valid
from ...schemas.validation import schema_findings
from ..catalogue import SUITE_VERSION, digest, requirements
from ..checks.registry import Result

REPORT_SCHEMA = "report"
VERDICTS = ("pass", "fail", "warn", "skip")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def kit_version() -> str:
    try:
        return version("silson24-kit")
    except PackageNotFoundError:
        return "0+unknown"


def _timestamp(moment: datetime, name: str) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must carry a UTC offset (RFC 3339), got naive {moment.isoformat()}")
    return moment.isoformat(timespec="milliseconds")


def _clean(value: Any) -> Any:
    """Evidence as JSON can carry it, so one odd value never costs the whole report.

    Lone surrogates (text decoded with surrogateescape) cannot be written as UTF-8 and become U+FFFD; bytes
    are decoded with visible escapes; other objects (datetime, Path, NaN …) are written as their text.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(_clean(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "backslashreplace")
    return _clean(str(value))


def default_environment() -> dict[str, str]:
    """What every report records about the machine; the runner's own entries are added on top."""
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(terse=True), "machine": platform.machine()}


def ordered(results: Iterable[Result]) -> list[Result]:
    """Results in catalogue order; a requirement reported twice is a runner defect."""
    order = {rid: i for i, rid in enumerate(requirements())}
    seen: set[str] = set()
    for result in results:
        if result.requirement not in order:
            raise ValueError(f"{result.requirement} is not in the requirement catalogue")
        if result.requirement in seen:
            raise ValueError(f"{result.requirement} has two results; a report holds one per requirement")
        seen.add(result.requirement)
    return sorted(results, key=lambda r: order[r.requirement])


def verdict_of(items: list[dict[str, Any]]) -> str:
    """``fail`` when a MUST requirement failed, else ``pass`` (see the module docstring)."""
    return "fail" if any(i["verdict"] == "fail" and i["severity"] == "MUST" for i in items) else "pass"


def build_report(results: list[Result], *, target: dict[str, Any], started_at: datetime, finished_at: datetime,
                 environment: dict[str, Any]) -> dict[str, Any]:
    """The report of one run, checked against report.schema.json (a ValueError names what is wrong)."""
    items = [r.as_json() for r in ordered(results)]
    summary = {v: sum(1 for i in items if i["verdict"] == v) for v in VERDICTS}
    report = _clean({
        "profile": PROFILE,
        "kit_version": kit_version(),
        "suite_version": SUITE_VERSION,
        "rule_pack_digest": digest(),
        "target": dict(target),
        "started_at": _timestamp(started_at, "started_at"),
        "finished_at": _timestamp(finished_at, "finished_at"),
        "verdict": verdict_of(items),
        "summary": summary,
        "environment": {**default_environment(), **environment},
        "results": items,
    })
    problems = report_problems(report)
    if problems:
        raise ValueError("report does not match report.schema.json: " + "; ".join(problems))
    return report


def report_problems(report: Any, lang: str = "en") -> list[str]:
    """Why ``report`` is not a kit-v1 report (empty when it is): schema findings, then a verdict that lies."""
    ko = lang == "ko"
    try:
        json.dumps(report, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return [f"{'JSON으로 쓸 수 없는 값' if ko else 'not JSON-serialisable'}: {exc}"]
    if not is_valid(REPORT_SCHEMA, report):
        return [f"{f.pointer or '/'}: {f.message(lang)}" for f in schema_findings(REPORT_SCHEMA, report)]
    out = []
    should = verdict_of(report["results"])
    if report["verdict"] != should:
        out.append(f"/verdict: {report['verdict']} ≠ {should} "
                   + ("(필수 요구사항 결과와 다름)" if ko else "(the MUST results say otherwise)"))
    counted = {v: sum(1 for i in report["results"] if i["verdict"] == v) for v in VERDICTS}
    if report["summary"] != counted:
        out.append(f"/summary: {report['summary']} ≠ {counted} " + ("(결과 수와 다름)" if ko else "(the results)"))
    return out


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` next to ``path`` and rename it into place, so a reader never sees half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # mkstemp makes 0600; a report is meant to be shared
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(report: dict[str, Any], path: Path) -> Path:
    """The report as UTF-8 JSON (Korean kept readable, not \\u-escaped)."""
    return write_atomic(path, dumps(report).encode("utf-8"))

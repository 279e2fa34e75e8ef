"""JUnit XML from a report, in the shape CI tools read (GitLab, GitHub test-report actions, Jenkins).

One ``<testsuite>`` per family (DOC, API, TLS …), one ``<testcase>`` per requirement, named by its id alone
(``name="S24-DOC-002"``, ``classname="s24kit.DOC"``) so that names never change with ``--lang`` nor with a
retitled requirement; the titles, the level and the verdict are ``<property>`` items of the test case.

Verdicts: a failed requirement is a ``<failure>`` whatever its level (``type`` says MUST or SHOULD, as the
report's summary counts it); a skip is ``<skipped type="s24kit.skip">``; a warning is
``<skipped type="s24kit.warning" message="경고: …">`` with its evidence in ``<system-out>``. JUnit has no
warning state, and the viewers CI users read (GitLab's test report, the GitHub test-report actions, Jenkins)
know only passed, failed, errored and skipped: a warning shown as a pass would be unseen, shown as a
failure it would fail the job. Skipped is the one state they all show apart without failing the job — the
same choice pytest makes for a tolerated failure (``xfail`` → ``<skipped type="pytest.xfail">``).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..language import localised
from .json_report import write_atomic

# XML 1.0 cannot carry these characters at all, escaped or not; show them as \xNN so evidence stays readable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

_LABELS = {
    "ko": {"remedy": "조치 방법", "exchange": "교환 기록", "pointer": "위치", "expected": "기대값",
           "actual": "실제값", "reproduction": "재현", "warning": "경고"},
    "en": {"remedy": "Remedy", "exchange": "exchange", "pointer": "pointer", "expected": "expected",
           "actual": "actual", "reproduction": "reproduce", "warning": "warning"},
}
#: ``type`` of the ``<skipped>`` element of a warning and of a skip (stable, whatever the language).
WARNING_TYPE, SKIP_TYPE = "s24kit.warning", "s24kit.skip"


def xml_text(value: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        value)


def shown(value: Any) -> str:
    """A value from evidence as a person reads it: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def details(item: dict[str, Any], lang: str) -> str:
    """Evidence then remedy, as plain text: the body of a failure, the output of a warning."""
    words = _LABELS[lang]
    lines = []
    for ev in item.get("evidence", []):
        lines.append(f"- {localised(ev.get('message', ''), lang)}".rstrip())
        for key in ("exchange", "pointer", "expected", "actual", "reproduction"):
            if key in ev:
                lines.append(f"  {words[key]}: {shown(ev[key])}")
    remedy = item.get(f"remedy_{lang}")
    if remedy:
        lines.append(f"{words['remedy']}: {remedy}")
    return "\n".join(lines)


def _family(item: dict[str, Any]) -> str:
    return item["requirement"].split("-")[1]


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.3f}"


def junit_tree(report: dict[str, Any], lang: str = "ko") -> ET.ElementTree:
    """The XML tree of ``report`` (messages and remedies in ``lang``; names and properties the same in both)."""
    families: dict[str, list[dict[str, Any]]] = {}
    for item in report["results"]:
        families.setdefault(_family(item), []).append(item)
    root = ET.Element("testsuites", name=f"s24kit {report['profile']}")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    total_ms = 0.0
    properties = {"profile": report["profile"], "kit_version": report["kit_version"],
                  "suite_version": report.get("suite_version", ""), "rule_pack_digest": report["rule_pack_digest"],
                  "target_url": report["target"]["url"], "target_role": report["target"]["role"],
                  "verdict": report["verdict"]}
    for family, items in families.items():
        counts = {"tests": len(items), "failures": sum(i["verdict"] == "fail" for i in items), "errors": 0,
                  "skipped": sum(i["verdict"] in ("skip", "warn") for i in items)}
        ms = sum(i.get("duration_ms", 0) for i in items)
        suite = ET.SubElement(root, "testsuite", name=f"s24kit.{family}",
                              **{k: str(v) for k, v in counts.items()},
                              time=_seconds(ms), timestamp=report["started_at"])
        props = ET.SubElement(suite, "properties")
        for name, value in properties.items():
            ET.SubElement(props, "property", name=name, value=xml_text(str(value)))
        for item in items:
            case = ET.SubElement(suite, "testcase", name=item["requirement"], classname=f"s24kit.{family}",
                                 time=_seconds(item.get("duration_ms", 0)))
            case_props = ET.SubElement(case, "properties")
            for name, value in (("title_ko", item["title_ko"]), ("title_en", item["title_en"]),
                                ("level", item["severity"]), ("verdict", item["verdict"])):
                ET.SubElement(case_props, "property", name=name, value=xml_text(value))
            reason = xml_text(localised(item.get("reason", ""), lang))
            if item["verdict"] == "fail":
                failure = ET.SubElement(case, "failure", message=reason, type=item["severity"])
                failure.text = xml_text(details(item, lang))
            elif item["verdict"] == "skip":
                ET.SubElement(case, "skipped", message=reason, type=SKIP_TYPE)
            elif item["verdict"] == "warn":
                label = _LABELS[lang]["warning"]
                ET.SubElement(case, "skipped", message=f"{label}: {reason}", type=WARNING_TYPE)
                out = ET.SubElement(case, "system-out")
                out.text = xml_text(f"{label}: {localised(item.get('reason', ''), lang)}\n{details(item, lang)}")
        for key in totals:
            totals[key] += counts[key]
        total_ms += ms
    # junit-10.xsd (the shape Jenkins and GitLab read) has no "skipped" on <testsuites>, only per suite.
    root.attrib.update({k: str(v) for k, v in totals.items() if k != "skipped"}, time=_seconds(total_ms))
    ET.indent(root)
    return ET.ElementTree(root)


def junit_bytes(report: dict[str, Any], lang: str = "ko") -> bytes:
    return ET.tostring(junit_tree(report, lang).getroot(), encoding="UTF-8", xml_declaration=True) + b"\n"


def write_junit(report: dict[str, Any], path: Path, lang: str = "ko") -> Path:
    """JUnit XML (UTF-8) of ``report`` at ``path``."""
    return write_atomic(path, junit_bytes(report, lang))

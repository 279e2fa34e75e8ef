"""JUnit XML from a report, in the shape CI tools read (Jenkins / GitLab / GitHub test reporters).

One ``<testsuite>`` per family (DOC, API, TLS …), one ``<testcase>`` per requirement. A failed requirement is
a ``<failure>`` whatever its level (``type`` says MUST or SHOULD, as the report's summary counts it); a
warning passes with its text in ``<system-out>``, since JUnit has no warning state; a skip is ``<skipped>``.
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
    """The XML tree of ``report`` (titles and remedies in ``lang``)."""
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
                  "skipped": sum(i["verdict"] == "skip" for i in items)}
        ms = sum(i.get("duration_ms", 0) for i in items)
        suite = ET.SubElement(root, "testsuite", name=f"s24kit.{family}",
                              **{k: str(v) for k, v in counts.items()},
                              time=_seconds(ms), timestamp=report["started_at"])
        props = ET.SubElement(suite, "properties")
        for name, value in properties.items():
            ET.SubElement(props, "property", name=name, value=xml_text(str(value)))
        for item in items:
            title = item["title_ko"] if lang == "ko" else item["title_en"]
            case = ET.SubElement(suite, "testcase", name=xml_text(f"{item['requirement']} {title}"),
                                 classname=f"s24kit.{family}", time=_seconds(item.get("duration_ms", 0)))
            reason = xml_text(localised(item.get("reason", ""), lang))
            if item["verdict"] == "fail":
                failure = ET.SubElement(case, "failure", message=reason, type=item["severity"])
                failure.text = xml_text(details(item, lang))
            elif item["verdict"] == "skip":
                ET.SubElement(case, "skipped", message=reason)
            elif item["verdict"] == "warn":
                out = ET.SubElement(case, "system-out")
                out.text = xml_text(f"{_LABELS[lang]['warning']}: {localised(item.get('reason', ''), lang)}\n"
                                    f"{details(item, lang)}")
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

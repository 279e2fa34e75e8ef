"""Reports of a conformance run: JSON (report.schema.json), JUnit XML, one-page HTML, and the evidence bundle."""

from .bundle import BundleCheck, FileStatus, Problem, check_bundle, verify_bundle, write_bundle
from .html import render_html, write_html
from .json_report import build_report, kit_version, report_problems, write_json
from .junit import junit_bytes, write_junit

__all__ = [
    "BundleCheck", "FileStatus", "Problem", "build_report", "check_bundle", "junit_bytes", "kit_version",
    "render_html", "report_problems", "verify_bundle", "write_bundle", "write_html", "write_json", "write_junit",
]

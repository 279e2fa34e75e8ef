"""The site check: the short profile that accepts a site running a certified product version, in seconds.

A product version is certified once with the full suite; each site that runs it then needs only what differs
from site to site (docs/console.md §2): the TCP path from the relay's address (S24-NET-002), TLS and mutual TLS
(S24-TLS-001/010/012/013/018/019), health with the site's provider code (S24-API-001) and the registered,
certified product version (S24-API-017), and one smoke fetch of one visit (S24-API-003). It goes through the
suite's own :class:`~.runner.Suite` (same contexts, same checks, same reports), so a finding of the site check
reads exactly like the same finding of the full suite::

    result = run_site_check(target, out=Path("site-report"))   # target: runner.make_target(…, product=…)
    result.verdict, result.failed, result.evidence_sha256
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalogue import requirements
from .checks import Check, Outcome, Result, failed
from .checks.api import expect_ok, product_of, shown
from .runner import Planned, Suite, SuiteRun, write_reports
from .session import FETCH, Session, Target, TargetUnreachable

#: The requirements the site check judges, in the order it runs them (network, TLS, then HTTP).
SITE_PROFILE = ("S24-NET-002", "S24-TLS-001", "S24-TLS-010", "S24-TLS-012", "S24-TLS-013", "S24-TLS-018",
                "S24-TLS-019", "S24-API-001", "S24-API-017", "S24-API-003")
#: The requirement the smoke fetch reports under: one document fetch of one known visit answers 200.
SMOKE = "S24-API-003"
Progress = Callable[[Result, int, int], None]


@dataclass(frozen=True, slots=True)
class Finding:
    """One judged requirement of a site check: verdict and the reason (Korean / English)."""

    requirement: str
    verdict: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"requirement": self.requirement, "verdict": self.verdict, "reason": self.reason}


@dataclass
class SiteCheck:
    """What a site check found, where its reports are, and the digest of its evidence bundle."""

    url: str
    provider_code: str | None
    verdict: str  # "pass" or "fail" (a MUST requirement failed)
    findings: list[Finding]
    report_dir: Path
    evidence_sha256: str
    started_at: dt.datetime
    finished_at: dt.datetime
    certificate: dict[str, Any] | None = None
    product: str | None = None  # what health named, vendor/name/version
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        """Requirement ids that failed."""
        return [f.requirement for f in self.findings if f.verdict == "fail"]

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "provider_code": self.provider_code, "verdict": self.verdict,
                "findings": [f.as_json() for f in self.findings], "report_dir": str(self.report_dir),
                "evidence_sha256": self.evidence_sha256, "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat(), "certificate": self.certificate,
                "product": self.product}


def smoke_fetch(session: Session) -> Outcome:
    """One document fetch of one visit of the first patient with visits: answered 200."""
    patient, visits = session.sample()
    exchange = session.ask(FETCH, session.fetch_body(patient, visits[:1]))
    return expect_ok(session, [exchange], "smoke document fetch")


def site_plan(suite: Suite) -> list[Planned]:
    """The suite's plan for the site profile, the smoke fetch in place of S24-API-003's full sweep."""
    order = {rid: i for i, rid in enumerate(SITE_PROFILE)}
    planned = [Planned(Check(SMOKE, "http", smoke_fetch)) if p.requirement == SMOKE else p for p in suite.planned]
    return sorted(planned, key=lambda p: order[p.requirement])


def run_site_check(target: Target, out: Path, *, lang: str = "ko", progress: Progress | None = None) -> SiteCheck:
    """Run the site profile against ``target`` (role provider_pull) and write report.json/html, junit.xml and
    evidence.zip under ``out``. A target that cannot be reached is a finding (S24-NET-002 and every HTTP
    requirement fail), not an exception; :class:`~.runner.ConfigError` for a bad scenario or certificate."""
    suite = Suite(target, select=list(SITE_PROFILE), lang=lang, requests_dir=out / "requests")
    suite.planned = site_plan(suite)
    unreachable: TargetUnreachable | None = None
    try:
        suite.open()
    except TargetUnreachable as exc:  # CertificateRejected is not raised: open() keeps it as suite.rejected
        unreachable = exc
    try:
        results = []
        for index, planned in enumerate(suite.planned, start=1):
            if unreachable is not None and planned.check.kind == "http":
                result = Result(planned.requirement, failed(f"{unreachable.message_ko} / {unreachable.message_en}"))
            else:
                result = suite.run(planned)
            results.append(result)
            if progress is not None:
                progress(result, index, len(suite.planned))
        run = suite.finish(results)
    finally:
        suite.close()
    return _recorded(run, suite, out, lang)


def _recorded(run: SuiteRun, suite: Suite, out: Path, lang: str) -> SiteCheck:
    paths = write_reports(run, out, lang=lang)
    digest = hashlib.sha256(paths["bundle"].read_bytes()).hexdigest()
    reqs = requirements()
    findings = [Finding(r.requirement, r.verdict, r.outcome.reason) for r in run.results]
    must_failed = any(f.verdict == "fail" and reqs[f.requirement].level == "MUST" for f in findings)
    named = shown(product_of(suite.session.health().body)) if suite.opened and suite.rejected is None else None
    return SiteCheck(run.target.url, run.environment.get("provider_code"), "fail" if must_failed else "pass",
                     findings, out, digest, run.started_at, run.finished_at, run.certificate, named)

"""Run one claimed job: a site check (the short profile) or a product certification (the full suite).

The run's reports and evidence bundle go to ``RunSettings.reports_dir/run-<id>/``; every judged requirement
becomes a progress row as it comes (the page streams them); the outcome, its evidence digest and a summary
of the verdicts (what a later run is compared with) are stored when it ends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..checks import Result
from ..runner import ConfigError, ProviderNotInScenario, make_target, run_suite, write_reports
from ..session import TargetUnreachable
from ..sitecheck import SiteCheck, run_site_check
from .db import Database
from .jobs import Claimed, beat, finish, record_progress
from .register import CHECKED_FIELDS
from .tables import product_versions, products, runs, sites, vendors


@dataclass(frozen=True)
class RunSettings:
    """What every run needs besides its site: the kit's state (test PKI), the scenario the smoke fetch and the
    suite ask for, where reports go, and the relay's client certificate (default: the kit's test PKI)."""

    state_dir: Path
    scenario: Path | None = None
    reports_dir: Path | None = None
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    timeout: float = 5.0

    @property
    def reports(self) -> Path:
        return self.reports_dir if self.reports_dir is not None else self.state_dir / "console" / "runs"

    @property
    def site_scenario(self) -> Path:
        """The scenario given, else the one ``s24kit serve --fleet`` wrote into the same state directory."""
        return self.scenario if self.scenario is not None else self.state_dir / "fleet" / "scenario"


BEAT_SECONDS = 30.0  # well inside jobs.STALE_AFTER


class JobLost(Exception):
    """The job was taken back from this worker (its heartbeat went stale): stop without recording anything."""


def execute(database: Database, claimed: Claimed, worker: str, settings: RunSettings) -> None:
    """Run the claimed job to its end and record it (a failure to run is recorded as the run's error)."""
    with database.engine.connect() as connection:
        run = connection.execute(select(runs).where(runs.c.id == claimed.run_id)).one()
    out = settings.reports / f"run-{run.id}"
    seq = 0

    def progress(result: Result, index: int, total: int) -> None:
        nonlocal seq
        seq += 1
        if not record_progress(database, claimed, worker, seq, total, result.requirement, result.verdict,
                               result.outcome.reason):
            raise JobLost

    beating = threading.Event()
    threading.Thread(target=_beat, args=(database, claimed, worker, beating), daemon=True,
                     name=f"s24kit-beat-{claimed.job_id}").start()
    try:
        _run(database, claimed, worker, settings, run, out, progress)
    finally:
        beating.set()


def _run(database: Database, claimed: Claimed, worker: str, settings: RunSettings, run: Any, out: Path,
         progress: Any) -> None:
    try:
        if run.kind == "site_check":
            # what the check judges, read before the target: a change while it runs is then a change after it
            checked = checked_fields(database, run.site_id)
            target = site_target(database, run.site_id, settings)
            values = site_values(run_site_check(target, out, progress=progress), checked)
        else:
            values = certification_values(database, run, settings, out, progress)
    except JobLost:
        return
    except ProviderNotInScenario as exc:  # a site the console's scenario does not hold: say how to give it one
        code = exc.provider_code  # the scenario's path is the server's: not shown to the console's readers
        finish(database, claimed, worker, state="failed", values={"error": (
            f"기관 {code}: 사이트 점검 시나리오(작업자의 --scenario)에 이 기관의 방문이 없어 점검할 수 없습니다 — "
            f"점검하려면 기관의 EMR에 이 시나리오의 시험 환자가 이 기관의 요양기관기호로 들어 있어야 합니다 "
            f"(docs/console.md §3) / site {code}: the site-check scenario (the worker's --scenario) holds no visit of "
            f"this site, so it cannot be checked — the site's EMR must hold that scenario's test patients under its "
            f"own provider code (docs/console.md §3)")})
        return
    except ConfigError as exc:
        finish(database, claimed, worker, state="failed", values={"error": f"{exc.message_ko} / {exc.message_en}"})
        return
    except TargetUnreachable as exc:
        finish(database, claimed, worker, state="done",
               values={"verdict": "fail", "error": f"{exc.message_ko} / {exc.message_en}"})
        return
    except Exception as exc:  # a kit defect must close the job, never leave it running for ever
        finish(database, claimed, worker, state="failed", values={"error": f"kit error: {type(exc).__name__}: {exc}"})
        return
    finish(database, claimed, worker, state="done", values=values)


def _beat(database: Database, claimed: Claimed, worker: str, done: threading.Event) -> None:
    """Keep the job's heartbeat fresh while a long step runs without progress (e.g. waiting for an agent)."""
    while not done.wait(BEAT_SECONDS):
        if not beat(database, claimed, worker):
            return


def site_target(database: Database, site_id: int, settings: RunSettings) -> Any:
    """The suite's target for a registered site: its URL and code, its product version and the certified ones."""
    with database.engine.connect() as connection:
        site = connection.execute(select(sites).where(sites.c.id == site_id)).one()
        product = None
        if site.product_version_id is not None:
            product = connection.execute(_products().where(product_versions.c.id == site.product_version_id)).one()
        certified = connection.execute(_products().where(product_versions.c.state == "certified")).all()
    if site.mode != "pull" or not site.pull_url:
        raise ConfigError(f"기관 {site.provider_code}: 사이트 점검은 pull 방식 기관만 합니다 (pull_url 없음)",
                          f"site {site.provider_code}: the site check runs on pull-mode sites only (no pull_url)")
    return make_target(site.pull_url, settings.site_scenario, provider_code=site.provider_code, ca=settings.ca,
                       cert=settings.cert, key=settings.key, timeout=settings.timeout, state=settings.state_dir,
                       product=tuple(product) if product else None, certified=[tuple(p) for p in certified])


def _products() -> Any:
    return (select(vendors.c.name, products.c.name, product_versions.c.version)
            .select_from(product_versions.join(products, products.c.id == product_versions.c.product_id)
                         .join(vendors, vendors.c.id == products.c.vendor_id)))


def checked_fields(database: Database, site_id: int) -> dict[str, Any]:
    """The site's :data:`.register.CHECKED_FIELDS` as the register holds them now."""
    with database.engine.connect() as connection:
        return connection.execute(select(*(sites.c[name] for name in CHECKED_FIELDS))
                                  .where(sites.c.id == site_id)).one()._asdict()


def site_values(result: SiteCheck, checked: dict[str, Any]) -> dict[str, Any]:
    """The run's columns from a site check of the site as ``checked`` (:func:`checked_fields`): verdict, reports,
    digest and the summary later runs and decisions compare with."""
    pin = checked["server_cert_sha256"]
    certificate = result.certificate or {}
    # an acceptance resting on this run must find the site as it was checked
    summary = {"site": checked, "verdicts": {f.requirement: f.verdict for f in result.findings},
               "product": result.product,
               "certificate": {k: certificate[k] for k in ("sha256", "not_after", "subject") if k in certificate},
               "pin_matches": (certificate.get("sha256") == pin.lower()) if pin and certificate.get("sha256") else None}
    not_after = certificate.get("not_after")
    return {"verdict": result.verdict, "report_dir": str(result.report_dir),
            "evidence_sha256": result.evidence_sha256, "summary": summary,
            "certificate_not_after": dt.datetime.fromisoformat(not_after) if not_after else None}


def certification_values(database: Database, run: Any, settings: RunSettings, out: Path, progress: Any
                         ) -> dict[str, Any]:
    """The full suite against the vendor's installation named in the run's parameters (pull or agent role)."""
    parameters = dict(run.parameters or {})
    product = None
    if run.product_version_id is not None:
        with database.engine.connect() as connection:
            product = connection.execute(_products().where(product_versions.c.id == run.product_version_id)).one()
    scenario = Path(parameters["scenario"]) if parameters.get("scenario") else settings.site_scenario
    target = make_target(parameters.get("target_url"), scenario, role=parameters.get("role", "provider_pull"),
                         provider_code=parameters.get("provider_code"), ca=settings.ca, cert=settings.cert,
                         key=settings.key, timeout=settings.timeout, state=settings.state_dir,
                         listen=parameters.get("listen"), product=tuple(product) if product else None)
    suite_run = run_suite(target, progress=progress, requests_dir=out / "requests")
    paths = write_reports(suite_run, out)
    verdicts = {r.requirement: r.verdict for r in suite_run.results}
    return {"verdict": "fail" if suite_run.failed_must() else "pass", "report_dir": str(out),
            "evidence_sha256": hashlib.sha256(paths["bundle"].read_bytes()).hexdigest(),
            "summary": {"verdicts": verdicts, "counts": suite_run.counts(),
                        "product": "/".join(product) if product else None}}

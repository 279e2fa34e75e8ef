"""Decisions on the record: accept, reject or suspend a site; certify, reject or suspend a product version.

Each decision names who (an approver), when, why and the run it rests on, and is written to ``decisions``
with the console's Ed25519-signed record over the run's evidence digest (:mod:`..reports.record`), in the same
transaction as the state change and its audit entry. Accepting a site or certifying a version needs a passing
run of the right kind for that very subject: a site check of the site, a certification of the version.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select

from ..reports.json_report import PROFILE, kit_version
from ..reports.record import dumps, sign_record
from . import audit
from .audit import Actor
from .db import as_utc, now
from .register import CHECKED_FIELDS, change_site_state, change_version_state, get_site, get_version
from .signing import console_signing_key
from .tables import decisions, runs
from .validation import FieldError, NotFound

SITE_DECISIONS = ("accepted", "rejected", "suspended")
VERSION_DECISIONS = ("certified", "rejected", "suspended")
NEEDS_PASSING_RUN = ("accepted", "certified")
DECIDERS = ("approver", "admin")
MAX_REASON = 2_000


@dataclass(frozen=True)
class RunFacts:
    """What a decision needs to know of a run (read from console-runs' ``runs`` table)."""

    id: int
    kind: str  # certification | site_check
    subject_kind: str  # site | product_version
    subject_id: int
    verdict: str | None  # pass | fail | None while running
    evidence_sha256: str | None
    finished_at: datetime | None
    #: A site check's record of the site as it judged it (:data:`.register.CHECKED_FIELDS`); None for a run
    #: that kept none (a certification, or a site check of a kit before it kept them).
    checked_site: dict[str, Any] | None = None
    started_at: datetime | None = None
    #: Where the run's evidence.zip is served from (its digest is checked again before a decision rests on it).
    evidence_path: Path | None = None


def decide(connection: Connection, actor: Actor, role: str, state_dir: Path, *, subject_kind: str, subject_id: int,
           decision: str, reason: str, run: RunFacts | None) -> dict[str, Any]:
    """Record ``decision`` on the subject, signed; FieldError (400/403/409) names what is wrong."""
    if role not in DECIDERS:
        raise FieldError("decision", "decision: 결정은 approver 이상만 할 수 있습니다",
                         "decision: only an approver (or admin) may decide", status=403)
    allowed = SITE_DECISIONS if subject_kind == "site" else VERSION_DECISIONS
    if decision not in allowed:
        raise FieldError("decision", f"decision: 다음 중 하나여야 합니다: {', '.join(allowed)}",
                         f"decision: must be one of: {', '.join(allowed)}")
    reason = unicodedata.normalize("NFC", (reason or "").strip())
    if not reason or len(reason) > MAX_REASON:
        raise FieldError("reason", f"reason: 사유를 1–{MAX_REASON}자로 적으십시오",
                         f"reason: write why, 1–{MAX_REASON} characters")
    _check_run(subject_kind, subject_id, decision, run)
    if subject_kind == "site":
        site = get_site(connection, subject_id)
        if decision == "accepted" and run is not None:
            _check_grounds(connection, run, [("site", subject_id), ("product_version", site["product_version_id"])])
            _check_still_as_judged(site, run)
        change_site_state(connection, actor, role, subject_id, {"state": decision, "reason": reason},
                          decided=True)
        subject = {"kind": "site", "provider_code": site["provider_code"], "name": site["name"]}
        if site.get("product_version"):
            label = site["product_version"]
            subject["product"] = {"vendor": label["vendor"], "name": label["product"], "version": label["version"]}
    else:
        version = get_version(connection, subject_id)
        if decision == "certified" and run is not None:
            _check_grounds(connection, run, [("product_version", subject_id)])
        # the moves of VERSION_TRANSITIONS only (docs/console.md §9): any other is 409 naming the allowed ones
        change_version_state(connection, actor, role, subject_id, decision, None if run is None else run.id,
                             reason=reason)
        subject = {"kind": "product_version",
                   "product": {"vendor": version["vendor"], "name": version["product"], "version": version["version"]}}
    when = now()
    unsigned: dict[str, Any] = {
        "record": "s24kit-decision-record", "record_version": 1, "profile": PROFILE, "kit_version": kit_version(),
        "subject": subject, "decision": decision, "decided_by": actor.username, "decided_at": when.isoformat(),
        "reason": reason}
    if run is not None:
        unsigned["run"] = {"id": str(run.id), "kind": run.kind, "verdict": run.verdict or "fail",
                           "evidence_sha256": run.evidence_sha256}
        if run.finished_at is not None:
            unsigned["run"]["finished_at"] = as_utc(run.finished_at).isoformat()
    record = sign_record(unsigned, console_signing_key(state_dir))
    decision_id = connection.execute(insert(decisions).values(
        subject_kind=subject_kind, subject_id=subject_id, decision=decision, account_id=actor.account_id,
        decided_at=when, reason=reason, run_id=None if run is None else run.id,
        evidence_digest=None if run is None else run.evidence_sha256, signed_record=dumps(record))
    ).inserted_primary_key[0]
    audit.record(connection, actor, "decision.create", subject_kind, subject_id, after={
        "decision_id": decision_id, "decision": decision, "run_id": None if run is None else run.id,
        "key_id": record["signature"]["key_id"]})
    return get_decision(connection, decision_id)


def _check_run(subject_kind: str, subject_id: int, decision: str, run: RunFacts | None) -> None:
    wanted = "site_check" if subject_kind == "site" else "certification"
    if run is None:
        if decision in NEEDS_PASSING_RUN:
            raise FieldError("run_id", f"run_id: {decision} 결정에는 통과한 실행({wanted})이 필요합니다",
                             f"run_id: a decision {decision} rests on a passing run ({wanted})")
        return
    if (run.subject_kind, run.subject_id, run.kind) != (subject_kind, subject_id, wanted):
        raise FieldError("run_id", f"run_id: 실행 {run.id}는 이 대상의 {wanted} 실행이 아닙니다",
                         f"run_id: run {run.id} is not a {wanted} run of this subject")
    if run.verdict is None or not run.evidence_sha256:
        raise FieldError("run_id", f"run_id: 실행 {run.id}가 아직 끝나지 않았거나 증거 묶음이 없습니다",
                         f"run_id: run {run.id} has not finished or has no evidence bundle", status=409)
    if decision in NEEDS_PASSING_RUN and run.verdict != "pass":
        raise FieldError("run_id", f"run_id: 실행 {run.id}는 통과하지 못했습니다 ({run.verdict})",
                         f"run_id: run {run.id} did not pass ({run.verdict})", status=409)


def _check_grounds(connection: Connection, run: RunFacts, subjects: list[tuple[str, int | None]]) -> None:
    """What an acceptance or a certification rests on: the run's evidence unchanged, and the run made after the
    last suspension or rejection of ``subjects``."""
    _check_evidence_unchanged(run)
    _check_after_withdrawals(connection, run, subjects)


def _check_evidence_unchanged(run: RunFacts) -> None:
    """The evidence a record will name must still be the bytes the run recorded (a changed file is refused)."""
    if run.evidence_path is None:
        return  # a run that kept no reports folder: its recorded digest is all there is
    if not run.evidence_path.is_file():
        raise FieldError("run_id", f"run_id: 실행 {run.id}의 증거 묶음(evidence.zip)이 더 이상 없습니다 — 새로 "
                                   f"실행하십시오",
                         f"run_id: run {run.id}'s evidence.zip is no longer there — run it again", status=409)
    digest = hashlib.sha256()
    with run.evidence_path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != run.evidence_sha256:
        raise FieldError("run_id", f"run_id: 실행 {run.id}의 증거 묶음(evidence.zip)이 기록된 SHA-256과 다릅니다 — "
                                   f"실행 뒤에 파일이 바뀌었습니다. 새로 실행하십시오",
                         f"run_id: run {run.id}'s evidence.zip no longer has the SHA-256 it recorded — the file "
                         f"changed after the run; run it again", status=409)


def _check_after_withdrawals(connection: Connection, run: RunFacts, subjects: list[tuple[str, int | None]]) -> None:
    """A run from before a suspension or rejection (of the subject, or of a site's version) carries no new
    acceptance or certification: what was withdrawn is judged again by a new run (docs/console.md §9)."""
    kinds = [(kind, subject_id) for kind, subject_id in subjects if subject_id is not None]
    withdrawn = [connection.execute(select(func.max(decisions.c.decided_at)).where(
        decisions.c.subject_kind == kind, decisions.c.subject_id == subject_id,
        decisions.c.decision.in_(("suspended", "rejected")))).scalar() for kind, subject_id in kinds]
    latest = max((as_utc(at) for at in withdrawn if at is not None), default=None)
    if latest is None:
        return
    if run.started_at is None or as_utc(run.started_at) <= latest:
        raise FieldError("run_id", f"run_id: 실행 {run.id}는 마지막 중지·반려({latest.isoformat()}) 전에 "
                                   f"시작했습니다 — 그 뒤의 새 실행으로 결정하십시오",
                         f"run_id: run {run.id} started before the last suspension or rejection "
                         f"({latest.isoformat()}) — decide on a run made after it", status=409)


def _check_still_as_judged(site: dict[str, Any], run: RunFacts) -> None:
    """Accepting rests on the run: the site must still be what it checked, on a version certified now."""
    judged = run.checked_site
    if judged is None:
        raise FieldError("run_id", f"run_id: 실행 {run.id}는 무엇을 점검했는지(주소, 고정 지문, 제품 버전) 기록하지 "
                                   f"않았습니다 — 새 사이트 점검을 하십시오",
                         f"run_id: run {run.id} did not record what it checked (address, pins, product version) — "
                         f"run a new site check", status=409)
    changed = [name for name in CHECKED_FIELDS if judged.get(name) != site.get(name)]
    if changed:
        raise FieldError("run_id", f"run_id: 실행 {run.id} 뒤에 사이트가 바뀌었습니다 ({', '.join(changed)}) — "
                                   f"바뀐 사이트로 새 사이트 점검을 하고 그 실행으로 승인하십시오",
                         f"run_id: the site changed after run {run.id} ({', '.join(changed)}) — run a new site "
                         f"check of the site as it is and accept on that run", status=409)
    version = site.get("product_version")
    if version is None or version["state"] != "certified":
        state = version["state"] if version else "none"
        raise FieldError("product_version_id",
                         f"product_version_id: 사이트의 제품 버전이 인증 상태가 아닙니다 ({state}) — 인증된 버전의 "
                         f"사이트만 승인할 수 있습니다 (docs/console.md §9)",
                         f"product_version_id: the site's product version is not certified ({state}) — only a site "
                         f"of a certified version can be accepted (docs/console.md §9)", status=409)


def get_decision(connection: Connection, decision_id: int) -> dict[str, Any]:
    row = connection.execute(select(decisions).where(decisions.c.id == decision_id)).first()
    if row is None:
        raise NotFound("decision", decision_id)
    return _decision(row)


def list_decisions(connection: Connection, subject_kind: str | None = None,
                   subject_id: int | None = None) -> list[dict[str, Any]]:
    query = select(decisions).order_by(decisions.c.id.desc())
    if subject_kind is not None:
        query = query.where(decisions.c.subject_kind == subject_kind)
    if subject_id is not None:
        query = query.where(decisions.c.subject_id == subject_id)
    return [_decision(row) for row in connection.execute(query.limit(500))]


def _decision(row: Any) -> dict[str, Any]:
    values = dict(row._mapping)
    values["decided_at"] = as_utc(values["decided_at"]).isoformat()
    record = values.pop("signed_record")
    values["record"] = json.loads(record) if record else None
    return values


def run_facts(connection: Connection, run_id: int) -> RunFacts | None:
    """The run ``run_id`` as a decision sees it, or None when there is no such run."""
    row = connection.execute(select(runs).where(runs.c.id == run_id)).first()
    if row is None:
        return None
    subject_kind, subject_id = ("site", row.site_id) if row.site_id is not None else ("product_version",
                                                                                       row.product_version_id)
    # a run that did not finish has no verdict to rest on, whatever it recorded so far
    verdict = row.verdict if row.state == "done" else None
    checked = (row.summary or {}).get("site") if isinstance(row.summary, dict) else None
    evidence = Path(row.report_dir) / "evidence.zip" if row.report_dir else None
    return RunFacts(row.id, row.kind, subject_kind, subject_id, verdict, row.evidence_sha256, row.finished_at,
                    checked if isinstance(checked, dict) else None, row.started_at, evidence)

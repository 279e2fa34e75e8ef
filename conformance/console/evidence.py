"""Evidence bundles a vendor submits: uploaded, verified, and attached to a product version as a run.

A vendor who ran ``s24kit check`` on their own reference installation hands over its ``evidence.zip``. The
console checks every file against the bundle's manifest (:func:`..reports.bundle.check_bundle`) and the
report inside against ``report.schema.json``; an intact bundle becomes a finished *certification* run of the
product version (source: upload) whose evidence digest is the zip's SHA-256 — so an approver's
``certified`` decision can rest on it and be signed like any other. A bundle that is not intact is refused
with the first problem named, and nothing is recorded; so is one that is not of the full suite (a site check,
a ``--select`` run), not of this product version (its health answers named another), or that does not record
its product (docs/console.md §14).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import unicodedata
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from ...simulator.private import private_directory
from ..checks.api import product_of, shown
from ..reports import check_bundle, report_problems
from ..reports.bundle import JOURNAL
from ..runner import plan
from ..session import HEALTH
from ..sitecheck import SITE_PROFILE
from . import audit
from .audit import Actor
from .db import now
from .register import get_version
from .runs import get_run
from .tables import runs
from .validation import FieldError

MAX_BUNDLE = 100 * 1024 * 1024
REPORT = "report.json"
#: The requirement that judges the product version health names (judged only when the run named one).
PRODUCT_REQUIREMENT = "S24-API-017"


def attach_bundle(connection: Connection, actor: Actor, state_dir: Path, version_id: int, data: bytes,
                  filename: str) -> dict[str, Any]:
    """Verify ``data`` (an evidence.zip) and record it as a certification run of ``version_id``."""
    version = get_version(connection, version_id)
    if not data:
        raise FieldError("file", "file: 증거 묶음(evidence.zip)을 고르십시오",
                         "file: choose an evidence bundle (evidence.zip)")
    if len(data) > MAX_BUNDLE:
        raise FieldError("file", f"file: {MAX_BUNDLE // 1024 // 1024} MB를 넘습니다",
                         f"file: larger than {MAX_BUNDLE // 1024 // 1024} MB", status=413)
    digest = hashlib.sha256(data).hexdigest()
    _refuse_a_second_upload(connection, version_id, digest)
    folder = state_dir / "console" / "evidence"
    private_directory(folder)
    # Checked in a file of its own, moved to <sha256>.zip only when everything else has worked: a refused or
    # failed upload leaves nothing behind, and never takes away a file an earlier upload of the same bytes kept.
    pending = folder / f".{digest}.{secrets.token_hex(8)}.part"
    unpacked = state_dir / "console" / "runs" / f"upload-{digest[:16]}"
    unpacked_before = unpacked.exists()
    pending.write_bytes(data)
    try:
        run = _record(connection, actor, version, pending, unpacked, digest, filename)
        os.replace(pending, folder / f"{digest}.zip")
    except BaseException:
        pending.unlink(missing_ok=True)
        if not unpacked_before:
            shutil.rmtree(unpacked, ignore_errors=True)
        raise
    return run


def _refuse_a_second_upload(connection: Connection, version_id: int, digest: str) -> None:
    """The same bundle (the same bytes) for the same version a second time is 409 naming the earlier run:
    two runs with one digest would be one piece of evidence counted twice."""
    earlier = connection.execute(select(runs.c.id).where(runs.c.product_version_id == version_id,
                                                         runs.c.evidence_sha256 == digest)
                                 .order_by(runs.c.id).limit(1)).scalar()
    if earlier is not None:
        raise FieldError("file", f"file: 이 증거 묶음(SHA-256 {digest[:16]}…)은 이미 이 제품 버전의 "
                                 f"실행 {earlier}입니다 — 그 실행을 보십시오 (/runs/{earlier})",
                         f"file: this evidence bundle (SHA-256 {digest[:16]}…) is already run {earlier} of this "
                         f"product version — see that run (/runs/{earlier})", status=409)


def _record(connection: Connection, actor: Actor, version: dict[str, Any], bundle: Path, unpacked: Path,
            digest: str, filename: str) -> dict[str, Any]:
    check = check_bundle(bundle)
    if check.problems:
        first = check.problems[0]
        raise FieldError("file", _no_path(f"file: 증거 묶음이 온전하지 않습니다 — {first.message_ko}", bundle),
                         _no_path(f"file: the evidence bundle is not intact — {first.message_en}", bundle),
                         status=400)
    report = _report(bundle)
    _check_subject(report, bundle, version)
    finished = _time(report.get("finished_at"))
    version_id = version["id"]
    run_id = connection.execute(insert(runs).values(
        kind="certification", product_version_id=version_id, state="done", verdict=report["verdict"],
        parameters={"source": "upload", "filename": filename[:200], "target_url": report["target"].get("url")},
        progress_done=len(report["results"]), progress_total=len(report["results"]),
        report_dir=str(_unpacked(bundle, unpacked)),
        evidence_sha256=digest, summary={"verdicts": {r["requirement"]: r["verdict"] for r in report["results"]},
                                         "counts": report["summary"], "source": "upload",
                                         "product": f"{version['vendor']}/{version['product']}/{version['version']}"},
        created_by=actor.username, created_at=now(), started_at=_time(report.get("started_at")) or finished,
        finished_at=finished or now())).inserted_primary_key[0]
    audit.record(connection, actor, "evidence.upload", "run", run_id, after={
        "product_version_id": version_id, "sha256": digest, "verdict": report["verdict"], "filename": filename[:200]})
    return get_run(connection, run_id)


def _no_path(message: str, bundle: Path) -> str:
    """A message for the client: the server's paths (the bundle's, the state directory's) left out."""
    for path in (f"{bundle}: ", str(bundle), str(bundle.parent)):
        message = message.replace(path, "")
    return message


def _report(bundle: Path) -> dict[str, Any]:
    with zipfile.ZipFile(bundle) as zf:
        try:
            report = json.loads(zf.read(REPORT).decode("utf-8"))
        except KeyError:
            raise FieldError("file", f"file: 묶음에 {REPORT}가 없습니다 (s24kit check 의 evidence.zip 이어야 합니다)",
                             f"file: the bundle has no {REPORT} (it must be the evidence.zip of s24kit check)"
                             ) from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise FieldError("file", f"file: {REPORT}를 읽을 수 없습니다", f"file: {REPORT} cannot be read") from None
    problems = report_problems(report)
    if problems:
        raise FieldError("file", f"file: {REPORT}가 kit-v1 보고서가 아닙니다 — {problems[0]}",
                         f"file: {REPORT} is not a kit-v1 report — {problems[0]}")
    return report


def _refused(message_ko: str, message_en: str) -> FieldError:
    return FieldError("file", f"file: {message_ko}", f"file: {message_en}", status=400)


def _check_subject(report: dict[str, Any], bundle: Path, version: dict[str, Any]) -> None:
    """A certification rests on the full suite run against this very product version: refuse a bundle of
    another profile (a site check, a --select) or of another product, or one that does not record its product.
    Nothing is relabelled: the run the bundle becomes is of the product the bundle names, or there is none."""
    selection = report["environment"].get("selection")
    if not isinstance(selection, list):
        raise _refused("묶음이 어떤 시험을 돌렸는지(environment.selection) 적혀 있지 않습니다 — "
                       "s24kit check 의 전체 시험 evidence.zip 이어야 합니다",
                       "the bundle does not record what it ran (environment.selection) — it must be the evidence.zip "
                       "of the full suite of s24kit check")
    if selection:
        if sorted(selection) == sorted(SITE_PROFILE):
            ran_ko, ran_en = "사이트 점검(--profile site)", "the site profile (a site check, --profile site)"
        else:
            ran_ko = ran_en = f"--select {','.join(map(str, selection))}"
        raise _refused(f"제품 인증에는 전체 시험의 묶음이 필요합니다 — 이 묶음은 {ran_ko} 입니다",
                       f"certifying a product needs a bundle of the full suite — this one is of {ran_en}")
    reported = {result["requirement"] for result in report["results"]}
    missing = [planned.requirement for planned in plan(report["target"]["role"]) if planned.requirement not in reported]
    if missing:
        raise _refused(f"전체 시험의 묶음이 아닙니다 — {', '.join(missing[:5])} 의 결과가 없습니다",
                       f"not a bundle of the full suite — it has no result for {', '.join(missing[:5])}")
    wanted = _triple((version["vendor"], version["product"], version["version"]))
    judged = next((r["verdict"] for r in report["results"] if r["requirement"] == PRODUCT_REQUIREMENT), "skip")
    named = _health_products(bundle)
    if judged == "skip" or not named:
        raise _refused(f"묶음에 시험한 제품 버전이 적혀 있지 않습니다 — 업체가 --product \"{shown(wanted)}\" 를 주고 "
                       f"(pull 방식, 상태 확인이 product 를 알리는 설치본에서) 다시 돌려야 합니다",
                       f"the bundle does not record the product version it tested — the vendor must run it again with "
                       f"--product \"{shown(wanted)}\" (pull role, an installation whose health names its product)")
    if named != {wanted}:
        others = ", ".join(sorted(shown(n) or "" for n in named - {wanted})) or shown(wanted)
        raise _refused(f"묶음은 다른 제품 버전({others})의 것입니다 — 이 버전({shown(wanted)})에 올릴 수 없습니다",
                       f"the bundle is of another product version ({others}), not of this one ({shown(wanted)})")


def _triple(product: tuple[str, str, str]) -> tuple[str, str, str]:
    vendor, name, number = (unicodedata.normalize("NFC", part) for part in product)
    return vendor, name, number


def _health_products(bundle: Path) -> set[tuple[str, str, str]]:
    """The product versions the target's health answers named, from the bundle's (masked) journal."""
    found: set[tuple[str, str, str]] = set()
    with zipfile.ZipFile(bundle) as zf:
        if JOURNAL not in zf.namelist():
            return found
        with zf.open(JOURNAL) as lines:
            for line in io.TextIOWrapper(lines, encoding="utf-8", errors="replace"):
                try:
                    entry = json.loads(line)
                    if entry.get("route") != HEALTH or entry.get("status") != 200:
                        continue
                    named = product_of(json.loads(entry["response"]["body"]))
                except (ValueError, TypeError, KeyError, AttributeError):
                    continue
                if named is not None:
                    found.add(_triple(named))
    return found


def _unpacked(bundle: Path, folder: Path) -> Path:
    """The bundle's reports beside the other runs' (the run page shows report.html from there)."""
    private_directory(folder)
    with zipfile.ZipFile(bundle) as zf:
        for name in ("report.json", "report.html", "junit.xml"):
            if name in zf.namelist():
                (folder / name).write_bytes(zf.read(name))
    (folder / "evidence.zip").write_bytes(bundle.read_bytes())
    return folder


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None

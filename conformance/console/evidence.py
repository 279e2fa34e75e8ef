"""Evidence bundles a vendor submits: uploaded, verified, and attached to a product version as a run.

A vendor who ran ``s24kit check`` on their own reference installation hands over its ``evidence.zip``. The
console checks every file against the bundle's manifest (:func:`..reports.bundle.check_bundle`) and the
report inside against ``report.schema.json``; an intact bundle becomes a finished *certification* run of the
product version (source: upload) whose evidence digest is the zip's SHA-256 — so an approver's
``certified`` decision can rest on it and be signed like any other. A bundle that is not intact is refused
with the first problem named, and nothing is recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert

from ...simulator.private import private_directory
from ..reports import check_bundle, report_problems
from . import audit
from .audit import Actor
from .db import now
from .register import get_version
from .runs import get_run
from .tables import runs
from .validation import FieldError

MAX_BUNDLE = 100 * 1024 * 1024
REPORT = "report.json"


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


def _record(connection: Connection, actor: Actor, version: dict[str, Any], bundle: Path, unpacked: Path,
            digest: str, filename: str) -> dict[str, Any]:
    check = check_bundle(bundle)
    if check.problems:
        first = check.problems[0]
        raise FieldError("file", _no_path(f"file: 증거 묶음이 온전하지 않습니다 — {first.message_ko}", bundle),
                         _no_path(f"file: the evidence bundle is not intact — {first.message_en}", bundle),
                         status=400)
    report = _report(bundle)
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
    for shown in (f"{bundle}: ", str(bundle), str(bundle.parent)):
        message = message.replace(shown, "")
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

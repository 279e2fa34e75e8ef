"""Reproduction lines that work when pasted anywhere, and carry no person.

A failed check's evidence holds one shell line that repeats the request. The request body is not inlined: the
suite writes it, masked by meaning (:mod:`s24kit.simulator.masking`), to ``requests/<exchange-id>.json`` in the
report folder, and the line sends that file. A masked body can no longer find the patient, and a connector that
stores request ids would answer a replayed id from its store, so when a body holds a patient or a request id the
line rebuilds it first on the vendor's own machine::

    s24kit report body /abs/report/requests/x-000042.json --scenario /abs/scenario --patient P00000003 \\
        --sent-at 2026-12-06T11:50:00+09:00 | curl … --data-binary @- https://…/s24/v1/documents:fetch

``s24kit report body`` (:func:`rebuild`) fills the patient's name, birth date and identity token from the
scenario (``emr-seed/patients.jsonl``) by the patient's scenario id, gives the body a fresh ``request_id``, and
moves the consent's times by the time since the request was sent (a consent valid then is valid now, an expired
one is still expired). Certificates and files are named by absolute paths.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..simulator.masking import Scrubber

#: The patient the suite makes up to ask for someone the EMR does not know (no person: kept out of scenarios).
STRANGER = {"name": "김미등록", "birth_date": "1970-01-01", "identity_token": "itk_s24kit_nobody_0000"}
#: ``--patient`` value that stands for :data:`STRANGER`.
STRANGER_ID = "s24kit-unknown"
REQUESTS = "requests"


class RequestFiles:
    """The request bodies reproduction lines send, written once each under ``folder`` (absolute paths).

    Without a folder (a session used as a library) the files go to a fresh temporary folder.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.files: dict[str, Path] = {}  # exchange id → file
        self._lock = threading.Lock()

    def write(self, exchange_id: str, data: bytes) -> Path:
        with self._lock:
            if exchange_id in self.files:
                return self.files[exchange_id]
            if self.folder is None:
                self.folder = Path(tempfile.mkdtemp(prefix="s24kit-requests-"))
            folder = Path(self.folder).absolute()
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{exchange_id}.json"
            path.write_bytes(data)
            self.files[exchange_id] = path
            return path


def masked_body(content: bytes, privacy: Scrubber) -> tuple[bytes, Any]:
    """The bytes written for a request body (personal data masked by meaning) and the parsed body (or None)."""
    try:
        body = json.loads(content)
    except (UnicodeDecodeError, ValueError):
        text = content.decode("utf-8", "surrogateescape")
        return privacy.text(text).encode("utf-8", "surrogateescape"), None
    if not isinstance(body, dict):
        return privacy.text(content.decode("utf-8")).encode("utf-8"), body
    masked = privacy.json(body)
    if masked == body:
        return content, body  # byte for byte what was sent
    return json.dumps(masked, ensure_ascii=False).encode("utf-8"), body


def rebuild_options(body: Any, patient_id: str | None, sent_at: dt.datetime, scenario: Path) -> list[str] | None:
    """The ``s24kit report body`` options that rebuild ``body``, or None when the file can be sent as it is."""
    if not isinstance(body, dict):
        return None
    fresh_id = isinstance(body.get("request_id"), str)
    has_consent = isinstance(body.get("consent"), dict)
    if patient_id is None and not fresh_id and not has_consent:
        return None
    options = []
    if patient_id is not None:
        options += ["--scenario", str(Path(scenario).absolute()), "--patient", patient_id]
    if has_consent:
        options += ["--sent-at", sent_at.isoformat(timespec="seconds")]
    return options


def _personal_keys(parent: str) -> list[str]:
    from ..simulator.masking import personal_fields  # here: `s24kit report body --help` loads no schema

    fields = personal_fields()
    return [k for k in (*fields.always, *fields.within) if fields.kind(parent, k)]


def rebuild(body: dict[str, Any], *, patient: dict[str, Any] | None, sent_at: dt.datetime | None,
            now: dt.datetime, request_id: str) -> dict[str, Any]:
    """``body`` as it must be sent again: the patient filled in, a fresh request id, the consent moved on."""
    out = dict(body)
    if patient is not None and isinstance(out.get("patient"), dict):
        query = dict(out["patient"])
        for key in _personal_keys("patient"):
            if key in query and key in patient:
                query[key] = patient[key]
        out["patient"] = query
    if isinstance(out.get("request_id"), str):
        out["request_id"] = request_id
    consent = out.get("consent")
    if sent_at is not None and isinstance(consent, dict):
        shift = now - sent_at
        moved = dict(consent)
        for key in ("granted_at", "expires_at"):
            try:
                moved[key] = (dt.datetime.fromisoformat(consent[key]) + shift).isoformat(timespec="seconds")
            except (KeyError, TypeError, ValueError):
                continue  # a deliberately broken consent stays as broken as it was
        out["consent"] = moved
    return out


def fresh_request_id() -> str:
    """A request id no connector has seen (lowercase letters only: never mistaken for a resident number)."""
    return "s24kit-" + os.urandom(16).hex().translate(str.maketrans("0123456789", "ghijklmnop"))


def shell_line(parts: list[str]) -> str:
    return " ".join(shlex.quote(p) for p in parts)


__all__ = ["REQUESTS", "STRANGER", "STRANGER_ID", "RequestFiles", "fresh_request_id", "masked_body", "rebuild",
           "rebuild_options", "shell_line"]

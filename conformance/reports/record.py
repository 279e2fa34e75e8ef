"""Signed decision records: the console's Ed25519 signature over a decision and its run's evidence digest.

The record is JSON shaped by ``schemas/kit-v1/decision-record.schema.json``. The signature covers the canonical
JSON of every member but ``signature`` — keys sorted, no spaces, UTF-8, no ASCII escaping — so anyone can check
it offline with the public key alone (``s24kit report verify RECORD.json``); ``--key`` also pins whose key it
must be, and ``--evidence`` that the evidence.zip in hand is the one the decision rests on.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ...schemas.loader import is_valid
from ...schemas.validation import schema_findings

RECORD_SCHEMA = "decision-record"
RECORD_KIND = "s24kit-decision-record"
ALGORITHM = "Ed25519"


def canonical_bytes(record: dict[str, Any]) -> bytes:
    """What the signature covers: every member but ``signature``, as canonical JSON."""
    unsigned = {k: v for k, v in record.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(raw: bytes) -> str:
    """SHA-256 of the raw public key, hex: short enough to read out over the phone, long enough to trust."""
    return hashlib.sha256(raw).hexdigest()


def sign_record(unsigned: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The record with its signature; a ValueError names what does not match the schema."""
    raw = raw_public_key(key.public_key())
    record = {**unsigned, "signature": {
        "algorithm": ALGORITHM,
        "public_key": base64.b64encode(raw).decode("ascii"),
        "key_id": key_id(raw),
        "value": base64.b64encode(key.sign(canonical_bytes(unsigned))).decode("ascii"),
    }}
    if not is_valid(RECORD_SCHEMA, record):
        problems = [f"{f.pointer or '/'}: {f.message('en')}" for f in schema_findings(RECORD_SCHEMA, record)]
        raise ValueError("decision record does not match decision-record.schema.json: " + "; ".join(problems))
    return record


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, indent=2) + "\n"


# ---------------------------------------------------------------------------------------------- checking


@dataclass(frozen=True, slots=True)
class RecordProblem:
    kind: Literal["unusable", "tampered", "untrusted", "evidence"]
    message_ko: str
    message_en: str

    def message(self, lang: str) -> str:
        return self.message_ko if lang == "ko" else self.message_en


@dataclass(slots=True)
class RecordCheck:
    record: dict[str, Any] | None = None
    problems: list[RecordProblem] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 signature good (and key and evidence as asked); 1 tampered, another key, other evidence; 2 unusable."""
        if any(p.kind == "unusable" for p in self.problems):
            return 2
        return 1 if self.problems else 0


def check_record(value: Any, *, trusted_key: bytes | None = None, evidence_sha256: str | None = None) -> RecordCheck:
    """Check a parsed record: its shape, its signature with the embedded key, then the pins asked for."""
    check = RecordCheck()
    if not isinstance(value, dict) or value.get("record") != RECORD_KIND:
        check.problems.append(RecordProblem(
            "unusable", f"서명된 결정 기록이 아닙니다 (\"record\": \"{RECORD_KIND}\"가 없음)",
            f"not a signed decision record (no \"record\": \"{RECORD_KIND}\")"))
        return check
    check.record = value
    signature = value.get("signature")
    try:
        if not isinstance(signature, dict) or signature.get("algorithm") != ALGORITHM:
            raise ValueError("no Ed25519 signature")
        raw = base64.b64decode(signature["public_key"], validate=True)
        public = Ed25519PublicKey.from_public_bytes(raw)
        signed = base64.b64decode(signature["value"], validate=True)
    except (ValueError, KeyError, TypeError):
        check.problems.append(RecordProblem(
            "tampered", "서명 부분(signature)이 없거나 읽을 수 없습니다: 기록이 변조되었거나 잘렸습니다",
            "the signature member is missing or unreadable: the record was altered or truncated"))
        return check
    try:
        public.verify(signed, canonical_bytes(value))
    except InvalidSignature:
        check.problems.append(RecordProblem(
            "tampered", "서명이 내용과 맞지 않습니다: 서명 뒤에 기록이 바뀌었습니다. 이 기록을 믿지 마십시오",
            "the signature does not match the content: the record was changed after signing; do not trust it"))
        return check
    except ValueError:  # e.g. a value that is not JSON-serialisable the way it was signed
        check.problems.append(RecordProblem("tampered", "서명을 확인할 수 없습니다", "the signature cannot be checked"))
        return check
    if signature.get("key_id") != key_id(raw):
        check.problems.append(RecordProblem(
            "tampered", "key_id가 공개 키와 맞지 않습니다", "key_id does not match the public key"))
    if not is_valid(RECORD_SCHEMA, value):
        findings = schema_findings(RECORD_SCHEMA, value)
        ko, en = (f"{findings[0].pointer or '/'}: {findings[0].message(lang)}" for lang in ("ko", "en")) \
            if findings else ("", "")
        check.problems.append(RecordProblem("unusable", f"서명은 맞지만 기록 형식이 아닙니다 — {ko}",
                                            f"the signature holds but the record is malformed — {en}"))
    if trusted_key is not None and raw != trusted_key:
        theirs, ours = key_id(raw)[:16], key_id(trusted_key)[:16]
        check.problems.append(RecordProblem(
            "untrusted", f"다른 키로 서명되었습니다: 기록의 키 {theirs}…, 기대한 키 {ours}…",
            f"signed with another key: the record's key {theirs}…, expected {ours}…"))
    run = value.get("run") if isinstance(value.get("run"), dict) else {}
    if evidence_sha256 is not None and run.get("evidence_sha256") != evidence_sha256:
        check.problems.append(RecordProblem(
            "evidence", f"증거 묶음이 다릅니다: 기록은 {str(run.get('evidence_sha256'))[:16]}…, "
                        f"주어진 파일은 {evidence_sha256[:16]}…",
            f"other evidence: the record names {str(run.get('evidence_sha256'))[:16]}…, "
            f"the file given is {evidence_sha256[:16]}…"))
    return check


def public_key_from_file(data: bytes) -> bytes:
    """The raw public key in a PEM public key, the console's PEM private key, or one base64 line (the record's
    ``public_key``). ValueError when it is none of these."""
    text = data.strip()
    if text.startswith(b"-----BEGIN PUBLIC KEY-----"):
        public = serialization.load_pem_public_key(text)
    elif text.startswith(b"-----BEGIN PRIVATE KEY-----"):
        public = serialization.load_pem_private_key(text, password=None).public_key()
    else:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    if not isinstance(public, Ed25519PublicKey):
        raise ValueError("not an Ed25519 key")
    return raw_public_key(public)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

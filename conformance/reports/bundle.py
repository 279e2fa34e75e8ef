"""The evidence bundle: report files and the masked journal in one zip, with a SHA-256 manifest.

Layout: the given files by name, ``journal.jsonl``, the request bodies of the reproduction lines under
``requests/`` (masked), ``MANIFEST.json`` (kit version, profile, suite version,
rule-pack digest, creation time, then every file's SHA-256 and size) and ``MANIFEST.sha256`` (the manifest's
own digest, in ``sha256sum`` format, so an edited manifest shows). The digests catch accidents and naive
edits; they are not a signature — whoever rewrites both manifest files can pass off another bundle.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from ...schemas.loader import PROFILE
from ..catalogue import SUITE_VERSION, digest
from .json_report import kit_version

BUNDLE_FORMAT = "s24kit-evidence-bundle/1"
MANIFEST = "MANIFEST.json"
MANIFEST_DIGEST = "MANIFEST.sha256"
JOURNAL = "journal.jsonl"
RESERVED = (MANIFEST, MANIFEST_DIGEST)
MANIFEST_KEYS = ("format", "kit_version", "profile", "suite_version", "rule_pack_digest", "created_at", "files")
MAX_MANIFEST_BYTES = 4 << 20
_CHUNK = 1 << 16
_DIGEST_LINE = re.compile(r"^([0-9a-f]{64})  " + re.escape(MANIFEST) + r"\n?$")

# What reading a damaged, encrypted or foreign entry raises: CRC errors, bad deflate data, unknown methods.
_UNREADABLE = (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError, EOFError)

ProblemKind = Literal["altered", "unusable"]


class JournalLike(Protocol):
    def export_jsonl(self, path: Path) -> Any: ...


class Problem(str):
    """A problem found in a bundle, as ``"한국어 / English"``; ``kind`` says altered (exit 1) or unusable (2)."""

    kind: ProblemKind

    def __new__(cls, kind: ProblemKind, message_ko: str, message_en: str, name: str | None = None) -> Problem:
        self = super().__new__(cls, f"{message_ko} / {message_en}")
        self.kind, self.message_ko, self.message_en, self.name = kind, message_ko, message_en, name
        return self

    def message(self, lang: str) -> str:
        return self.message_ko if lang == "ko" else self.message_en


@dataclass(slots=True)
class FileStatus:
    """One file of the bundle as found: ``ok``, ``altered``, ``missing`` or ``added``."""

    name: str
    status: Literal["ok", "altered", "missing", "added"]
    size: int | None = None
    sha256: str | None = None


@dataclass(slots=True)
class BundleCheck:
    path: Path
    manifest: dict[str, Any] | None = None
    files: list[FileStatus] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 intact, 1 altered, 2 not a bundle this kit can read."""
        if any(p.kind == "unusable" for p in self.problems):
            return 2
        return 1 if self.problems else 0


# ---------------------------------------------------------------------------------------------- writing


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _names(files: list[Path], with_journal: bool) -> list[str]:
    names = [Path(f).name for f in files]
    taken = set(RESERVED) | ({JOURNAL} if with_journal else set())
    for name, path in zip(names, files, strict=True):
        if name in taken:
            raise ValueError(f"{path}: the name {name} is taken in an evidence bundle; rename the file")
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: not a file")
        taken.add(name)
    return names


def _add(zf: zipfile.ZipFile, name: str, source: Path, stamp: tuple[int, ...]) -> dict[str, Any]:
    """Stream ``source`` into the zip, hashing the very bytes written."""
    info = zipfile.ZipInfo(name, date_time=stamp[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    h, size = hashlib.sha256(), 0
    with open(source, "rb") as src, zf.open(info, "w") as dst:
        while chunk := src.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
            dst.write(chunk)
    return {"name": name, "sha256": h.hexdigest(), "size": size}


def _add_bytes(zf: zipfile.ZipFile, name: str, data: bytes, stamp: tuple[int, ...]) -> None:
    info = zipfile.ZipInfo(name, date_time=stamp[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _safe_name(name: str) -> bool:
    """A member name that stays inside the folder it is unpacked in: relative, no ``..``, no empty part."""
    parts = name.split("/")
    return bool(name) and "\\" not in name and all(p not in ("", ".", "..") for p in parts) and len(parts) <= 2


def write_bundle(out_zip: Path, files: list[Path], journal: JournalLike | None = None,
                 journal_jsonl: Path | None = None, extra: dict[str, Path] | None = None) -> Path:
    """Zip ``files`` (stored by name), the masked journal, ``extra`` files (name in the bundle, such as
    ``requests/x-000042.json`` → file) and the manifest into ``out_zip``.

    The journal comes either from a live ``Journal`` (``journal.export_jsonl``) or from an exported
    ``journal_jsonl`` file; either way it is stored as ``journal.jsonl``.
    """
    if journal is not None and journal_jsonl is not None:
        raise ValueError("give the journal once: journal= or journal_jsonl=, not both")
    out_zip = Path(out_zip)
    files = [Path(f) for f in files]
    names = _names(files, journal is not None or journal_jsonl is not None)
    extra = dict(extra or {})
    for name, path in extra.items():
        if not _safe_name(name) or name in RESERVED or name in names or name == JOURNAL:
            raise ValueError(f"{name}: not a name an evidence bundle can hold (a file or folder/file, not taken)")
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: not a file")
    created = _now()
    stamp = created.timetuple()
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".s24bundle-", dir=out_zip.parent) as work:
        sources = list(zip(names, files, strict=True)) + [(name, Path(path)) for name, path in extra.items()]
        if journal is not None:
            exported = Path(work) / JOURNAL
            journal.export_jsonl(exported)
            sources.append((JOURNAL, exported))
        elif journal_jsonl is not None:
            if not Path(journal_jsonl).is_file():
                raise FileNotFoundError(f"{journal_jsonl}: not a file")
            sources.append((JOURNAL, Path(journal_jsonl)))
        partial = Path(work) / "bundle.zip"
        with zipfile.ZipFile(partial, "w") as zf:
            entries = [_add(zf, name, source, stamp) for name, source in sources]
            manifest = {"format": BUNDLE_FORMAT, "kit_version": kit_version(), "profile": PROFILE,
                        "suite_version": SUITE_VERSION, "rule_pack_digest": digest(),
                        "created_at": created.isoformat(), "files": entries}
            data = manifest_bytes(manifest)
            _add_bytes(zf, MANIFEST, data, stamp)
            _add_bytes(zf, MANIFEST_DIGEST, f"{hashlib.sha256(data).hexdigest()}  {MANIFEST}\n".encode(), stamp)
        partial.chmod(0o644)
        shutil.move(partial, out_zip)
    return out_zip


# ---------------------------------------------------------------------------------------------- checking


def _unusable(check: BundleCheck, ko: str, en: str) -> BundleCheck:
    check.problems.append(Problem("unusable", f"{check.path}: {ko}", f"{check.path}: {en}"))
    return check


def _altered(check: BundleCheck, ko: str, en: str, name: str | None = None) -> None:
    check.problems.append(Problem("altered", ko, en, name))


def _hash_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> tuple[str, int] | None:
    """SHA-256 and size of an entry, reading at most ``limit`` + 1 bytes (a bomb stops there); None if unreadable."""
    h, size = hashlib.sha256(), 0
    try:
        with zf.open(info) as src:
            while chunk := src.read(min(_CHUNK, limit + 1 - size)):
                h.update(chunk)
                size += len(chunk)
                if size > limit:
                    break
    except _UNREADABLE:
        return None  # CRC error, encryption, unknown compression: not the bytes we wrote
    return h.hexdigest(), size


def _read_small(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes | None:
    """An entry's bytes when it reads cleanly within ``limit`` bytes, else None."""
    try:
        with zf.open(info) as src:
            data = src.read(limit + 1)
    except _UNREADABLE:
        return None
    return data if len(data) <= limit else None


def _read_manifest(check: BundleCheck, zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo]) -> dict | None:
    data = _read_small(zf, infos[MANIFEST], MAX_MANIFEST_BYTES)
    if data is None:
        _unusable(check, "MANIFEST.json을 읽을 수 없습니다 (손상되었거나 너무 큼)",
                  "cannot read MANIFEST.json (corrupt or too large)")
        return None
    actual = hashlib.sha256(data).hexdigest()
    if MANIFEST_DIGEST not in infos:
        _altered(check, "MANIFEST.sha256이 없습니다 (목록을 검증할 수 없음)",
                 "MANIFEST.sha256 is missing (the manifest cannot be checked)", MANIFEST_DIGEST)
    else:
        line = _read_small(zf, infos[MANIFEST_DIGEST], 200)
        found = _DIGEST_LINE.match(line.decode("utf-8", "replace")) if line else None
        if found is None:
            _altered(check, "MANIFEST.sha256의 형식이 바뀌었습니다", "MANIFEST.sha256 is malformed", MANIFEST_DIGEST)
        elif found.group(1) != actual:
            _altered(check, "목록 변경됨: MANIFEST.json의 SHA-256이 MANIFEST.sha256과 다릅니다",
                     "manifest edited: the SHA-256 of MANIFEST.json does not match MANIFEST.sha256", MANIFEST)
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        shown = manifest.get("format") if isinstance(manifest, dict) else None
        _unusable(check, f"이 키트가 읽는 증거 묶음 형식({BUNDLE_FORMAT})이 아닙니다 (format: {shown!r})",
                  f"not an evidence bundle format this kit reads ({BUNDLE_FORMAT}; format: {shown!r})")
        return None
    if missing := [k for k in MANIFEST_KEYS if k not in manifest]:
        _unusable(check, f"MANIFEST.json에 {', '.join(missing)} 항목이 없습니다",
                  f"MANIFEST.json lacks {', '.join(missing)}")
        return None
    listed = manifest["files"]
    if not isinstance(listed, list) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("sha256"), str)
            and isinstance(e.get("size"), int) and e["size"] >= 0 and _safe_name(e["name"])
            and e["name"] not in RESERVED
            for e in listed):
        _unusable(check, "MANIFEST.json의 files 항목 형식이 잘못되었습니다",
                  "MANIFEST.json files entries are malformed (name, sha256, size)")
        return None
    return manifest


def _check_reports(check: BundleCheck, zf: zipfile.ZipFile, intact: list[str]) -> None:
    """A report inside must name the profile and rule pack the manifest names (no mixing of runs)."""
    for name in intact:
        if not name.endswith(".json"):
            continue
        try:
            report = json.loads(zf.read(name).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, zipfile.BadZipFile):
            continue
        if not isinstance(report, dict) or "rule_pack_digest" not in report:
            continue
        for key in ("profile", "rule_pack_digest"):
            if report.get(key) != check.manifest.get(key):
                _altered(check, f"{name}의 {key}({report.get(key)})가 목록({check.manifest.get(key)})과 다릅니다",
                         f"{name} names {key} {report.get(key)} but the manifest says {check.manifest.get(key)}",
                         name)


def check_bundle(path: Path) -> BundleCheck:
    """Every file of the bundle against its manifest, and the manifest against its digest."""
    path = Path(path)
    check = BundleCheck(path)
    if not path.is_file():
        return _unusable(check, "파일이 없습니다", "no such file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return _unusable(check, f"zip 파일이 아닙니다 ({exc})", f"not a zip file ({exc})")
    with zf:
        infos: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            if info.filename in infos:
                _altered(check, f"중복: {info.filename} 항목이 두 번 들어 있습니다",
                         f"duplicate: {info.filename} appears twice in the zip", info.filename)
            infos.setdefault(info.filename, info)
        if MANIFEST not in infos:
            return _unusable(check, "s24kit 증거 묶음이 아닙니다 (MANIFEST.json 없음)",
                             "not an s24kit evidence bundle (no MANIFEST.json)")
        check.manifest = _read_manifest(check, zf, infos)
        if check.manifest is None:
            return check
        listed = {e["name"]: e for e in check.manifest["files"]}
        intact = []
        for name, entry in listed.items():
            if name not in infos:
                check.files.append(FileStatus(name, "missing"))
                _altered(check, f"빠짐: {name} (목록에는 있으나 묶음에 없음)",
                         f"missing: {name} (listed in the manifest, not in the bundle)", name)
                continue
            hashed = _hash_entry(zf, infos[name], entry["size"])
            if hashed is None:
                check.files.append(FileStatus(name, "altered"))
                _altered(check, f"변경됨: {name} (압축 데이터가 손상됨)", f"altered: {name} (corrupt zip data)", name)
            elif hashed[1] != entry["size"]:
                shown = f"{hashed[1]}" if hashed[1] <= entry["size"] else f"> {entry['size']}"
                check.files.append(FileStatus(name, "altered", hashed[1], hashed[0]))
                _altered(check, f"변경됨: {name} (크기 {shown}바이트, 목록은 {entry['size']}바이트)",
                         f"altered: {name} ({shown} bytes, the manifest says {entry['size']})", name)
            elif hashed[0] != entry["sha256"]:
                check.files.append(FileStatus(name, "altered", hashed[1], hashed[0]))
                _altered(check, f"변경됨: {name} (SHA-256이 목록과 다름)",
                         f"altered: {name} (SHA-256 differs from the manifest)", name)
            else:
                check.files.append(FileStatus(name, "ok", hashed[1], hashed[0]))
                intact.append(name)
        for name, info in infos.items():
            if name not in listed and name not in RESERVED:
                check.files.append(FileStatus(name, "added", info.file_size))
                _altered(check, f"추가됨: {name} (목록에 없는 파일)", f"added: {name} (not in the manifest)", name)
        _check_reports(check, zf, intact)
    return check


def verify_bundle(path: Path) -> list[str]:
    """Problems of the bundle at ``path`` (each a :class:`Problem`, "한국어 / English"); empty when intact."""
    return list(check_bundle(path).problems)

"""Careful reading of the files a command is given, and checks of the places it will write to.

Every refusal is a :class:`FileProblem` in Korean and English saying what is wrong and how to fix it; the
caller adds which option or argument named the file. Nothing here trusts the file: it must be a regular file
(a FIFO or a device would block or never end), within :data:`MAX_INPUT_BYTES`, text where text is expected,
and JSON / TOML no deeper than :data:`MAX_NESTING` — the parsers and everything after them recurse.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any

MAX_INPUT_BYTES = 50 * 1024 * 1024
#: Kit-v1 documents, reports, policies and configurations nest fewer than ten levels.
MAX_NESTING = 64
_SNIFF = 8192  # a NUL byte in the first 8 KiB means binary, as git and grep decide


class FileProblem(Exception):
    """Why a file cannot be used, in both languages (without the option's name)."""

    def __init__(self, message_ko: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_ko, self.message_en = message_ko, message_en


def _stat(path: Path, *, folder: bool) -> os.stat_result:
    """``os.stat`` of an existing path, or the reason it cannot be reached."""
    what_ko, what_en = ("폴더가", "folder") if folder else ("파일이", "file")
    try:
        return path.stat()
    except FileNotFoundError:
        raise FileProblem(f"{what_ko} 없습니다: 경로를 확인하십시오",
                          f"no such {what_en}: check the path") from None
    except NotADirectoryError:
        raise FileProblem(f"{what_ko} 없습니다: 경로 중간에 폴더가 아닌 파일이 있습니다",
                          f"no such {what_en}: a part of the path is a file, not a folder") from None
    except OSError as exc:
        raise FileProblem(f"읽을 수 없습니다 ({exc.strerror}): 권한과 경로를 확인하십시오",
                          f"cannot be read ({exc.strerror}): check permissions and the path") from None


def check_file(path: Path, *, max_bytes: int | None = MAX_INPUT_BYTES) -> int:
    """The size of ``path`` when it is a regular, non-empty file within ``max_bytes``."""
    info = _stat(path, folder=False)
    if stat.S_ISDIR(info.st_mode):
        raise FileProblem("폴더입니다: 파일 하나를 주십시오", "is a folder: give one file")
    if not stat.S_ISREG(info.st_mode):
        raise FileProblem("일반 파일이 아닙니다 (파이프나 장치): 파일로 저장해 주십시오",
                          "not a regular file (a pipe or a device): save it to a file first")
    if max_bytes is not None and info.st_size > max_bytes:
        raise FileProblem(f"파일이 너무 큽니다 ({info.st_size:,} 바이트, 한도 {max_bytes:,}): 나누어 주십시오",
                          f"file too large ({info.st_size:,} bytes, limit {max_bytes:,}): split it")
    if info.st_size == 0:
        raise FileProblem("빈 파일입니다: 내용이 있는 파일을 주십시오", "empty file: give a file with content")
    return info.st_size


def read_bytes(path: Path, *, max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular, non-empty file of at most ``max_bytes`` (checked again while reading)."""
    check_file(path, max_bytes=max_bytes)
    try:
        with path.open("rb") as stream:
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise FileProblem(f"읽을 수 없습니다 ({exc.strerror}): 권한과 경로를 확인하십시오",
                          f"cannot be read ({exc.strerror}): check permissions and the path") from None
    if len(data) > max_bytes:  # it grew since stat
        raise FileProblem(f"파일이 너무 큽니다 (한도 {max_bytes:,} 바이트): 나누어 주십시오",
                          f"file too large (limit {max_bytes:,} bytes): split it")
    return data


def read_text(path: Path, *, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text (a BOM is allowed) of ``path``; binary files and other encodings are refused."""
    return decode_text(read_bytes(path, max_bytes=max_bytes))


def decode_text(data: bytes) -> str:
    """``data`` as UTF-8 text, or why it is not text."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileProblem("UTF-16 텍스트입니다: UTF-8로 저장하십시오", "UTF-16 text: save the file as UTF-8")
    if b"\0" in data[:_SNIFF]:
        raise FileProblem("텍스트가 아닌 바이너리 파일입니다: 올바른 파일인지 확인하십시오",
                          "a binary file, not text: check that this is the right file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"UTF-8이 아닙니다 ({exc.start}번째 바이트): 파일을 UTF-8로 저장하십시오 (EUC-KR/CP949 아님)",
                          f"not UTF-8 (byte {exc.start}): save the file as UTF-8, not EUC-KR/CP949") from None
    if not text.strip():
        raise FileProblem("내용이 공백뿐입니다: 내용이 있는 파일을 주십시오",
                          "only white space: give a file with content")
    return text


def parse_json(text: str) -> Any:
    """One JSON value under the kit's strict reader (:mod:`s24kit.simulator.safe_json`): syntax errors, duplicate
    keys, over-long numbers, NaN, lone surrogates and deep nesting are refused; a file may be as large as
    :data:`MAX_INPUT_BYTES` allows."""
    from ...simulator.safe_json import JsonRefused, parse_body  # only the commands that read JSON pay for it

    try:
        return parse_body(text.encode("utf-8"), _file_limits())
    except JsonRefused as refused:
        raise FileProblem(f"JSON으로 쓸 수 없습니다: {refused.ko} — 고쳐 주십시오",
                          f"unusable JSON: {refused.en} — fix it") from None


def _file_limits() -> Any:
    """The body limits, but as many members and values as a file within its size may hold."""
    from ...simulator.safe_json import JsonLimits

    return JsonLimits(max_depth=MAX_NESTING, max_members=MAX_INPUT_BYTES, max_values=MAX_INPUT_BYTES)


def parse_toml(text: str) -> dict[str, Any]:
    """A TOML document, with the same limits as :func:`parse_json`."""
    import tomllib  # only the commands that take TOML pay for it

    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FileProblem(f"TOML 문법 오류 ({exc}): 문법을 고치십시오", f"TOML syntax error ({exc}): fix the syntax"
                          ) from None
    except RecursionError:
        raise _too_deep("TOML") from None
    except ValueError:  # an integer beyond Python's digit limit
        raise FileProblem("TOML 숫자가 너무 깁니다 (4,300자리 초과): 값을 고치십시오",
                          "a TOML number is too long (over 4,300 digits): fix the value") from None
    check_tree(value, "TOML")
    return value


def _too_deep(kind: str) -> FileProblem:
    return FileProblem(f"{kind} 중첩이 너무 깊습니다 (한도 {MAX_NESTING}단계): 구조를 확인하십시오",
                       f"{kind} nested too deeply (limit {MAX_NESTING} levels): check the structure")


def check_tree(value: Any, kind: str) -> None:
    """Refuse nesting deeper than :data:`MAX_NESTING` and strings that are not Unicode text (lone surrogates)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _text_only(node, kind)
        elif isinstance(node, dict | list):
            if depth > MAX_NESTING:
                raise _too_deep(kind)
            children = [*node, *node.values()] if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def _text_only(value: str, kind: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FileProblem(f"{kind}에 짝이 없는 서로게이트(\\ud800 등)가 있습니다: 올바른 유니코드로 고치십시오",
                          f"{kind} holds a lone surrogate (\\ud800 …), not Unicode text: fix the string") from None


def check_folder(path: Path) -> None:
    """``path`` is an existing folder (an input such as a scenario)."""
    info = _stat(path, folder=True)
    if not stat.S_ISDIR(info.st_mode):
        raise FileProblem("폴더가 아니라 파일입니다: 폴더를 주십시오", "a file, not a folder: give a folder")


def check_writable_folder(path: Path) -> None:
    """``path`` is a folder that exists and can be written, or can be created (nothing is created here)."""
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing != path and not existing.is_dir():
        raise FileProblem(f"쓸 수 없습니다: {existing}은(는) 폴더가 아니라 파일입니다 — 다른 경로를 고르십시오",
                          f"cannot write here: {existing} is a file, not a folder — choose another path")
    if existing == path and not path.is_dir():
        raise FileProblem("쓸 수 없습니다: 폴더가 아니라 파일입니다 — 폴더 경로를 주십시오",
                          "cannot write here: it is a file, not a folder — give a folder path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FileProblem(f"쓸 수 없습니다: {existing}에 쓰기 권한이 없습니다 — 권한을 주거나 다른 폴더를 고르십시오",
                          f"cannot write here: no permission to write in {existing} — grant it or choose another "
                          "folder")
    # Permission bits do not stop root, and say nothing of read-only mounts or pseudo file systems (/proc):
    # only making something there tells. The probe folder is removed at once.
    try:
        tempfile.TemporaryDirectory(dir=existing, prefix=".s24kit-probe-").cleanup()
    except OSError as exc:
        raise FileProblem(f"쓸 수 없습니다: {existing}에 폴더를 만들 수 없습니다 ({exc.strerror}) — "
                          "다른 폴더를 고르십시오",
                          f"cannot write here: cannot create a folder in {existing} ({exc.strerror}) — choose another "
                          "folder") from None


def check_writable_file(path: Path) -> None:
    """``path`` can be written as a file: not a folder, in a folder that is (or can be made) writable."""
    if path.is_dir():
        raise FileProblem("쓸 수 없습니다: 폴더입니다 — 파일 이름을 주십시오",
                          "cannot write here: it is a folder — give a file name")
    check_writable_folder(path.parent)

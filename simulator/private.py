"""Private state on disk: the simulator's files hold (synthetic) personal data and unencrypted test keys,
so only the user running the kit may read them (docs/security.md)."""

from __future__ import annotations

import logging
from pathlib import Path

DIRECTORY_MODE, FILE_MODE = 0o700, 0o600
log = logging.getLogger("s24kit")


def private_directory(path: Path) -> bool:
    """Create ``path`` (and its parents) for its owner only, or tighten it when others may enter it.
    Returns True when an existing directory had to be tightened."""
    existed = path.is_dir()
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    loose = existed and bool(path.stat().st_mode & 0o077)
    if loose or not existed:
        path.chmod(DIRECTORY_MODE)  # mkdir's mode is subject to the umask; an existing one keeps its mode
    return loose


def private_state_directory(path: Path) -> None:
    """:func:`private_directory` for a state directory, with a notice when an earlier state was open to others."""
    earlier = path.is_dir() and (any(path.glob("*.sqlite")) or (path / "pki").is_dir())
    if private_directory(path) and earlier:
        log.warning("알림: 상태 폴더 %s 를 다른 사용자가 읽을 수 있어 0700 으로 바꿨습니다 / notice: the state folder "
                    "%s was readable by other users; it is now 0700 (owner only)", path, path)


def private_file(path: Path | str) -> None:
    """Create (or tighten) a file for its owner only before anything is written into it. For SQLite this
    covers the -wal and -shm files too: SQLite gives them the database file's permissions."""
    if str(path) == ":memory:" or str(path).startswith("file:"):
        return
    file = Path(path)
    file.touch(mode=FILE_MODE, exist_ok=True)
    for each in (file, file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")):
        if each.exists():
            each.chmod(FILE_MODE)

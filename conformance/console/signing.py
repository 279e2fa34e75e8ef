"""The console's own Ed25519 key: made on first use in the state directory (0600), never leaves it.

Several processes (the console, its workers) may ask for the key at the same moment: the first writes a new
key to a private temporary file and links it into place, which fails for all but one, so every process signs
with the same key. Beside it, the public key in PEM (``console-signing-key.pub.pem``) is what relay staff hand
to whoever checks records (``s24kit report verify RECORD.json --key console-signing-key.pub.pem``).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ...simulator.private import private_directory

KEY_FILE = "console-signing-key.pem"
PUBLIC_KEY_FILE = "console-signing-key.pub.pem"


class SigningKeyError(Exception):
    """The key file exists but cannot be used; Korean and English, with the fix."""

    def __init__(self, message_ko: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_ko, self.message_en = message_ko, message_en


def console_signing_key(state_dir: Path) -> Ed25519PrivateKey:
    """The console's key in ``state_dir``, created (0600) when there is none yet."""
    private_directory(state_dir)
    path = state_dir / KEY_FILE
    if not path.exists():
        _create(path)
    key = _load(path)
    public = state_dir / PUBLIC_KEY_FILE
    if not public.exists():
        public.write_bytes(public_key_pem(key))
    return key


def public_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _create(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor, temporary = tempfile.mkstemp(prefix=".signing-key-", dir=path.parent)  # mkstemp: mode 0600
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process made the key meanwhile: keep theirs
            os.link(temporary, path)  # atomic, and never replaces an existing key
    finally:
        os.unlink(temporary)


def _load(path: Path) -> Ed25519PrivateKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SigningKeyError(
            f"{path}: 서명 키를 다른 사용자가 읽을 수 있습니다 (모드 {mode:o}). chmod 600 후 다시 시작하고, "
            "이미 새어 나갔을 수 있다면 키를 새로 만드십시오",
            f"{path}: the signing key is readable by other users (mode {mode:o}); chmod 600 and start again, and "
            "make a new key if it may have leaked")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise SigningKeyError(f"{path}: 서명 키(PEM, Ed25519)를 읽을 수 없습니다. 파일을 옮기면 새 키가 만들어집니다",
                              f"{path}: cannot read the signing key (PEM, Ed25519); move the file away and a new "
                              "key is made") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: Ed25519 키가 아닙니다", f"{path}: not an Ed25519 key")
    return key


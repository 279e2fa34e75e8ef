"""Whether a certificate and its key can be presented together: asked once, before anything connects."""

from __future__ import annotations

import ssl
from pathlib import Path


def pair_refusal(cert: Path | str, key: Path | str | None) -> tuple[str, str] | None:
    """Why TLS cannot present ``cert`` with ``key`` (Korean, English), or None when it can."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(str(cert), str(key) if key else None)
    except (ssl.SSLError, OSError, ValueError) as exc:
        if getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH":
            return "키가 이 인증서의 것이 아닙니다", "the key is not this certificate's"
        return "PEM 인증서나 PEM 개인 키로 읽을 수 없습니다", "not readable as a PEM certificate and key"
    return None

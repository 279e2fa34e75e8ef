"""One TLS endpoint as the relay sees it: address, name, trust anchors, client certificate and policy.

The bottom of the TLS package: handshakes, probes, facts and checks all take a :class:`TlsEndpoint`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .hello import sni_name
from .policy import DEFAULT_POLICY, TlsPolicy


@dataclass(frozen=True)
class TlsEndpoint:
    """A provider's TLS endpoint and what the relay brings to it.

    `client_ca_cert`/`client_ca_key` (optional) are the CA that issued `client_cert`: with them the kit
    mints an expired client certificate and one without clientAuth from the same CA, so the server's
    refusal can only come from the defect under test (S24-TLS-021, S24-TLS-022 skip without them).
    """

    host: str  # address to connect to (IP or name)
    port: int
    server_name: str | None = None  # SNI and the name to verify (default: host)
    anchors: Path | None = None  # CA bundle the relay trusts (None = system store)
    client_cert: Path | None = None  # the relay's client certificate (+ key), for the mTLS checks
    client_key: Path | None = None
    policy: TlsPolicy = DEFAULT_POLICY
    timeout: float = 3.0
    client_ca_cert: Path | None = None
    client_ca_key: Path | None = None
    # Probe results shared by every check run on this object (see facts.py); never part of equality.
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        for name in ("anchors", "client_cert", "client_key", "client_ca_cert", "client_ca_key"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    @property
    def name(self) -> str:
        """The name the relay verifies (and sends as SNI unless it is an IP address)."""
        return self.server_name or self.host

    def refresh(self) -> None:
        """Forget shared probe results, so the next check probes the server again."""
        self._cache.clear()

    def s_client(self, *extra: str, cert: Path | str | bool | None = True, key: Path | str | None = None) -> str:
        """A one-line ``openssl s_client`` reproduction for evidence, with absolute paths.

        It presents the relay's client certificate (a server that requires mutual TLS refuses any line
        without one) unless ``cert`` names another or is False (the connection without a certificate). A ``str``
        path is written as given (the kit's throwaway certificates, named by a comment), a ``Path`` absolute.
        """
        parts = ["openssl", "s_client", "-connect", f"{_host_port(self.host)}:{self.port}"]
        sni = sni_name(self.name)
        if sni:
            parts += ["-servername", sni]
        if self.anchors:
            parts += ["-CAfile", str(self.anchors.absolute())]
        parts += list(extra)
        if cert is True:
            cert, key = self.client_cert, self.client_key
        if cert:
            key = key or cert
            parts += ["-cert", str(cert.absolute() if isinstance(cert, Path) else cert),
                      "-key", str(key.absolute() if isinstance(key, Path) else key)]
        return " ".join(shlex.quote(p) for p in parts) + " </dev/null"


def _host_port(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host

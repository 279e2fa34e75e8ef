"""Probe results shared by the TLS checks of one endpoint: each probe runs once, on first use.

Every check asks `facts_of(endpoint)` for what it needs (the version scan, the suites, the chain, the
mTLS handshakes …); the first asker runs the probe, the others wait for it and reuse it. `prefetch`
starts the probes a set of checks needs in parallel, so the whole TLS family costs about as much as its
slowest probe.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ...simulator.certfactory import CertFactory, Issued
from ...simulator.pki import Credential
from .certs import load_bundle
from .ciphers import TlsVersion
from .handshake import HandshakeOutcome, Mode, TlsError, handshake
from .probe import SpeaksTls, SpeaksTlsResult, SuiteScan, Timeouts, VersionScan, enumerate_suites, probe_versions
from .probe import speaks_tls as _speaks_tls
from .target import TlsEndpoint

T = TypeVar("T")
_CACHE_KEY = "facts"
_CACHE_LOCK = threading.Lock()

#: Client certificates the mTLS checks present, besides the relay's own.
MTLS_VARIANTS = ("none", "relay", "foreign", "expired", "no_client_auth")


class TlsFacts:
    """Lazily probed, thread-safe facts about one endpoint."""

    def __init__(self, endpoint: TlsEndpoint) -> None:
        self.endpoint = endpoint
        self._values: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._tmp: Path | None = None

    def _once(self, name: str, compute: Callable[[], T]) -> T:
        with self._guard:
            if name in self._values:
                return self._values[name]
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._values:
                self._values[name] = compute()
            return self._values[name]

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts(connect=self.endpoint.timeout, read=self.endpoint.timeout)

    # ---------------------------------------------------------------- raw probes

    @property
    def speech(self) -> SpeaksTlsResult:
        e = self.endpoint
        return self._once("speech", lambda: _speaks_tls(e.host, e.port, e.server_name, self.timeouts))

    @property
    def speaks_tls(self) -> bool:
        return self.speech.outcome is SpeaksTls.TLS

    @property
    def versions(self) -> VersionScan:
        e = self.endpoint
        return self._once("versions", lambda: probe_versions(e.host, e.port, e.server_name, timeout=self.timeouts))

    def suites(self, version: TlsVersion) -> SuiteScan | None:
        """Suites accepted for `version` (None when the server does not accept that version at all)."""
        if version not in self.versions.accepted:
            return None
        e = self.endpoint
        return self._once(f"suites:{version.label}",
                          lambda: enumerate_suites(e.host, e.port, version, e.server_name, self.timeouts))

    def legacy_suites(self) -> dict[TlsVersion, SuiteScan]:
        """Suite scans of every accepted version up to TLS 1.2, probed in parallel."""
        wanted = [v for v in self.versions.accepted if v <= TlsVersion.TLS1_2]
        with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
            scans = list(pool.map(self.suites, wanted))
        return {v: s for v, s in zip(wanted, scans, strict=True) if s is not None}

    # ---------------------------------------------------------------- handshakes

    @property
    def chain(self) -> HandshakeOutcome:
        """An unverified handshake (with the relay's certificate when configured) that collects the chain."""
        return self._once("chain", lambda: self._server_side(Mode.NONE))

    @property
    def trust(self) -> HandshakeOutcome:
        """OpenSSL's verdict on the chain alone: the anchors, no name, no dates, any key size."""
        return self._once("trust", lambda: self._server_side(Mode.CHAIN))

    def _server_side(self, mode: Mode) -> HandshakeOutcome:
        # The server's certificate comes before client authentication, so no request is needed; a broken
        # relay certificate (S24-TLS-019 reports it) must not hide the server's chain.
        with_cert = self.endpoint.client_cert is not None
        outcome = handshake(self.endpoint, with_client_cert=with_cert, verify=False, mode=mode, confirm=False)
        if with_cert and outcome.error is TlsError.CLIENT_CONFIG:
            outcome = handshake(self.endpoint, with_client_cert=False, verify=False, mode=mode, confirm=False)
        return outcome

    @property
    def anchors(self) -> list[x509.Certificate]:
        return self._once("anchors", lambda: load_bundle(self.endpoint.anchors))

    def mtls(self, variant: str) -> HandshakeOutcome | None:
        """The handshake with `variant`'s client certificate; None when that certificate cannot be made."""
        if variant == "none":
            return self._once("mtls:none", lambda: handshake(self.endpoint, with_client_cert=False, verify=False))
        if variant == "relay":
            if self.endpoint.client_cert is None:
                return None
            return self._once("mtls:relay", lambda: handshake(self.endpoint, with_client_cert=True, verify=False))
        cred = self.minted().get(variant)
        if cred is None:
            return None
        return self._once(f"mtls:{variant}", lambda: handshake(self.endpoint, with_client_cert=True, verify=False,
                                                               client=(cred.cert, cred.key)))

    def minted(self) -> dict[str, Credential]:
        """Kit-made client certificates: a foreign CA's, and (given the client CA's key) expired / no clientAuth."""
        return self._once("minted", self._mint)

    def _mint(self) -> dict[str, Credential]:
        folder = Path(tempfile.mkdtemp(prefix="s24kit-mtls-"))
        weakref.finalize(self, shutil.rmtree, folder, True)
        factory = CertFactory()
        out = {"foreign": factory.leaf(factory.ca("s24kit foreign test CA"), "s24kit-foreign-client",
                                       server=False, client=True).write(folder, "foreign-client")}
        issuer = self._client_issuer()
        if issuer is not None:
            out["expired"] = factory.leaf(issuer, "s24kit-expired-client", server=False, client=True,
                                          days_left=-1).write(folder, "expired-client")
            out["no_client_auth"] = factory.leaf(issuer, "s24kit-server-only", server=True,
                                                 client=False).write(folder, "no-client-auth")
        return out

    def _client_issuer(self) -> Issued | None:
        e = self.endpoint
        if e.client_ca_cert is None or e.client_ca_key is None:
            return None
        try:
            cert = x509.load_pem_x509_certificate(e.client_ca_cert.read_bytes())
            key = serialization.load_pem_private_key(e.client_ca_key.read_bytes(), password=None)
        except (OSError, ValueError, TypeError):
            return None
        return Issued(cert, key)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- prefetch

    def fetch(self, need: str) -> None:
        """Compute one named fact (see NEEDS in checks.py)."""
        if need == "versions":
            _ = self.versions
        elif need == "suites":
            self.legacy_suites()
        elif need in ("chain", "trust", "anchors"):
            getattr(self, need)
        elif need.startswith("mtls:"):
            self.mtls(need.split(":", 1)[1])
        elif need == "speech":
            _ = self.speech


def facts_of(endpoint: TlsEndpoint) -> TlsFacts:
    """The facts shared by every check run on this endpoint object."""
    with _CACHE_LOCK:
        facts = endpoint._cache.get(_CACHE_KEY)
        if facts is None:
            facts = endpoint._cache[_CACHE_KEY] = TlsFacts(endpoint)
        return facts


def prefetch(facts: TlsFacts, needs: Iterable[str], max_workers: int = 8) -> None:
    """Probe everything in `needs` concurrently, after the speaks-TLS gate (nothing else when it fails)."""
    if not facts.speaks_tls:
        return
    wanted = sorted(set(needs) - {"speech"})
    if not wanted:
        return
    with ThreadPoolExecutor(max_workers=min(max_workers, len(wanted))) as pool:
        list(pool.map(facts.fetch, wanted))

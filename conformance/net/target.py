"""The context of the network checks and of ``s24kit doctor``: one endpoint, probed once, judged many times.

``NetTarget`` holds where to connect and what the relay registered; its probe results (DNS, TCP, whoami)
are computed on first use and shared by every check and every layer of the doctor. The ``*_problem``
functions turn those results into a diagnosis code and the facts its texts need (None: no problem).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ...simulator.net_echo import WHOAMI_PATH
from ..tls.endpoint import HandshakeOutcome, TlsEndpoint, TlsError, handshake
from ..tls.probe import SpeaksTls, Timeouts, speaks_tls
from .fetch import HttpAnswer, client_context, https_get
from .probes import DnsResult, DnsStatus, TcpResult, TcpStatus, resolve, source_address_toward, tcp_probe

Problem = tuple[str, dict[str, Any]]

_DNS_CODES = {DnsStatus.NXDOMAIN: "dns_nxdomain", DnsStatus.NO_ADDRESS: "dns_no_address",
              DnsStatus.NO_ANSWER: "dns_no_answer", DnsStatus.TIMEOUT: "dns_timeout", DnsStatus.ERROR: "dns_error"}
_TCP_CODES = {TcpStatus.REFUSED: "refused", TcpStatus.PORT_UNREACHABLE: "port_unreachable",
              TcpStatus.ADMIN_PROHIBITED: "admin_prohibited", TcpStatus.HOST_UNREACHABLE: "host_unreachable",
              TcpStatus.NET_UNREACHABLE: "net_unreachable", TcpStatus.NO_ROUTE: "no_route",
              TcpStatus.FILTERED: "filtered", TcpStatus.LOCAL_BLOCKED: "local_blocked",
              TcpStatus.ERROR: "connect_error"}


@dataclass(frozen=True)
class NetTarget:
    """An endpoint as seen from one side: the relay connecting in (default) or the clinic connecting out."""

    host: str
    port: int
    timeout: float = 3.0
    registered: tuple[str, ...] = ()  # addresses registered with the relay for this name (S24-NET-001)
    outbound: bool = False  # True: this is the relay's endpoint, probed from the clinic's side
    server_name: str | None = None  # the name to verify in TLS (default: host)
    anchors: Path | None = None  # CA bundle that must verify the endpoint's certificate
    client_cert: Path | None = None
    client_key: Path | None = None
    whoami_path: str = WHOAMI_PATH
    expect_source: str | None = None  # the clinic's registered source address (S24-NET-003)
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> NetTarget:
        """``https://host:port/…`` or ``host:port`` (port 443 when absent); ValueError when unusable."""
        parts = urlsplit(url if "://" in url else f"https://{url}")
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(url)
        return cls(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), **options)

    @property
    def name(self) -> str:
        return self.server_name or self.host

    def _memo(self, key: str, compute: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def dns(self) -> DnsResult:
        return self._memo("dns", lambda: resolve(self.host, self.port, self.timeout))

    def tcp(self) -> tuple[TcpResult, ...]:
        """One connection attempt per resolved address (none when DNS failed)."""
        return self._memo("tcp", lambda: tcp_probe(self.dns().addresses, self.port, self.timeout))

    def reached(self) -> TcpResult | None:
        """The first address that accepted a connection."""
        return next((r for r in self.tcp() if r.ok), None)

    def get(self, path: str, *, with_cert: bool = True) -> HttpAnswer | None:
        """``GET path`` on the first reachable address, once per path and certificate use (None: no TCP)."""
        with_cert = with_cert and self.client_cert is not None

        def fetch() -> HttpAnswer | None:
            reached = self.reached()
            if reached is None:
                return None
            cert, key = (self.client_cert, self.client_key) if with_cert else (None, None)
            try:
                context = client_context(self.anchors, cert, key)
            except (OSError, ValueError) as exc:  # unreadable or mismatched files (the CLI checks them first)
                return HttpAnswer(None, "", b"", f"client configuration: {exc}", 0.0)
            return https_get(reached.address, self.port, self.name, path, context, self.timeout)
        return self._memo(f"get:{with_cert}:{path}", fetch)

    def whoami(self) -> HttpAnswer | None:
        """The relay's whoami answer, asked with the client certificate (None: no TCP connection)."""
        return self.get(self.whoami_path)

    def local_address(self) -> str | None:
        """This machine's source address toward the endpoint (what a NAT would then translate)."""
        first = self.reached() or next(iter(self.tcp()), None)
        if first is not None and first.local_address:
            return first.local_address
        addresses = self.dns().addresses
        return source_address_toward(addresses[0], self.port) if addresses else None


def dns_problem(target: NetTarget) -> Problem | None:
    """Why the name does not resolve (or resolves outside the registered addresses)."""
    dns = target.dns()
    facts: dict[str, Any] = {"name": target.host, "timeout": target.timeout, "detail": dns.error}
    if not dns.ok:
        return _DNS_CODES[dns.status], facts
    if target.registered and not set(dns.addresses) & set(target.registered):
        return "dns_unregistered", {**facts, "seen": dns.addresses, "expected": target.registered}
    return None


def tcp_problem(target: NetTarget) -> Problem | None:
    """Why no address accepted a TCP connection: the diagnosis of the resolver's first choice."""
    results = target.tcp()
    if not results or target.reached() is not None:
        return None
    first = results[0]
    facts = {"name": target.host, "address": first.address, "port": first.port, "endpoint": first.endpoint,
             "timeout": target.timeout, "detail": first.describe(),
             "offender": first.icmp.offender if first.icmp and first.icmp.offender else first.address,
             "local": target.local_address()}
    return _TCP_CODES.get(first.status, "connect_error"), facts


def source_address(answer: HttpAnswer) -> str | None:
    """The address a whoami answer reports, when it is a well-formed IP."""
    try:
        value = answer.json().get("address")
        return str(ipaddress.ip_address(value))
    except (ValueError, AttributeError, TypeError):
        return None


def source_problem(target: NetTarget) -> Problem | None:
    """Whether the relay's whoami sees the registered source address (needs ``expect_source``)."""
    answer = target.whoami()
    if answer is None or target.expect_source is None:
        return None
    facts: dict[str, Any] = {"path": target.whoami_path, "expected": target.expect_source,
                             "detail": answer.error or f"HTTP {answer.status}"}
    seen = source_address(answer) if answer.status == 200 else None
    if seen is None:
        return "whoami_invalid", facts
    if ipaddress.ip_address(seen) != ipaddress.ip_address(target.expect_source):
        return "source_mismatch", {**facts, "seen": seen}
    return None


_TLS_CODES = {
    TlsError.NOT_TLS: "not_tls", TlsError.TLS_HANDSHAKE_TIMEOUT: "tls_silent",
    TlsError.RESET_DURING_HANDSHAKE: "tls_reset", TlsError.CLOSED_DURING_HANDSHAKE: "tls_closed",
    TlsError.PROTOCOL_VERSION: "tls_version", TlsError.HANDSHAKE_FAILURE: "tls_handshake_failure",
    TlsError.TLS_ERROR: "tls_error", TlsError.CLIENT_CERT_REQUIRED: "client_cert_required",
    TlsError.CLIENT_CERT_REJECTED: "client_cert_refused", TlsError.CERT_EXPIRED: "cert_expired",
    TlsError.CERT_NOT_YET_VALID: "cert_not_yet_valid", TlsError.CERT_UNTRUSTED: "cert_untrusted",
    TlsError.CERT_NAME_MISMATCH: "cert_name_mismatch", TlsError.CERT_WEAK: "cert_weak",
    TlsError.CERT_INVALID: "cert_invalid", TlsError.CLIENT_CONFIG: "client_config",
    TlsError.DNS_FAILURE: "dns_error", TlsError.CONNECTION_REFUSED: "refused", TlsError.CONNECT_TIMEOUT: "filtered",
    TlsError.UNREACHABLE: "connect_error",
}


def tls_endpoint(target: NetTarget) -> TlsEndpoint:
    """The TLS endpoint behind the first reachable address (the TLS checks' context), made once."""
    def make() -> TlsEndpoint:
        reached = target.reached()
        return TlsEndpoint(reached.address if reached else target.host, target.port, server_name=target.name,
                           anchors=target.anchors, client_cert=target.client_cert, client_key=target.client_key,
                           timeout=target.timeout)
    return target._memo("tls_endpoint", make)


def handshake_once(target: NetTarget, *, with_client_cert: bool, verify: bool, path: str) -> HandshakeOutcome:
    """One classified handshake (and request) per combination, shared by the checks and the doctor."""
    with_client_cert = with_client_cert and target.client_cert is not None
    key = f"handshake:{with_client_cert}:{verify}:{path}"
    return target._memo(key, lambda: handshake(tls_endpoint(target), with_client_cert=with_client_cert,
                                               verify=verify, path=path))


def tls_problem(target: NetTarget, outcome: HandshakeOutcome) -> Problem | None:
    """The diagnosis of a failed handshake; "not TLS" is told apart into plain HTTP by the raw probe."""
    if outcome.ok or outcome.error is None:
        return None
    endpoint = tls_endpoint(target)
    code = _TLS_CODES.get(outcome.error, "tls_error")
    if code == "not_tls":
        probe = speaks_tls(endpoint.host, endpoint.port, sni=target.name,
                           timeout=Timeouts(connect=target.timeout, read=target.timeout))
        if probe.outcome is SpeaksTls.PLAIN_HTTP:
            code = "plain_http"
    facts = {"name": target.name, "address": endpoint.host, "port": target.port, "timeout": target.timeout,
             "alert": outcome.alert, "anchors": target.anchors or "system", "detail": outcome.describe(),
             "endpoint": f"{endpoint.host}:{target.port}", "offender": endpoint.host,
             "local": target.local_address()}
    return code, facts


def http_problem(answer: HttpAnswer | None, path: str, timeout: float) -> Problem | None:
    """Why a GET did not get a 2xx answer (None when it did)."""
    status = answer.status if answer else None
    facts: dict[str, Any] = {"status": status, "path": path, "timeout": timeout,
                             "detail": (answer.error if answer else "no connection") or f"HTTP {status}"}
    if status is None:
        return "http_no_answer", facts
    if 200 <= status < 300:
        return None
    if status in (401, 403):
        return "http_forbidden", facts
    return ("http_not_found" if status == 404 else "http_server_error" if status >= 500 else "http_status"), facts


def relay_problem(target: NetTarget, answer: HttpAnswer, outcome: HandshakeOutcome) -> Problem | None:
    """Why a reachable relay refused us: TLS, the client certificate, or HTTP 401/403 (None: it answered)."""
    problem = tls_problem(target, outcome)
    if problem is not None:
        return problem
    if answer.status is None and answer.closed_early:
        code = "client_cert_refused" if target.client_cert else "client_cert_required"
        return code, {"detail": answer.error}
    if answer.status is not None and answer.status not in (401, 403):
        return None
    return http_problem(answer, target.whoami_path, target.timeout)

"""Network probes built on the raw ClientHello: does it speak TLS, which versions, which suites.

Every function connects only to the host and port it is given, reads only the server's first
flight and closes; results are frozen dataclasses with the evidence behind each verdict.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from .ciphers import TLS13_SUITES, CipherSuite, TlsVersion, by_code, offered_suites, version_label
from .hello import ReplyKind, ReplyReader, ServerReply, build_client_hello


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-stage limits in seconds; `read` bounds the whole wait for the server's answer."""

    connect: float = 3.0
    read: float = 3.0


DEFAULT_TIMEOUTS = Timeouts()
ALL_VERSIONS: tuple[TlsVersion, ...] = tuple(TlsVersion)


class ConnectStatus(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"  # connect timeout, no route, DNS failure, other OSError


@dataclass(frozen=True, slots=True)
class Exchange:
    """One connection: TCP outcome, then the server's reply to the payload."""

    connect: ConnectStatus
    reply: ServerReply | None
    error: str | None
    connect_ms: float
    elapsed_ms: float


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)


def exchange(host: str, port: int, payload: bytes, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> Exchange:
    """Connect, send `payload`, read until the reply is classified, the peer ends, or `read` expires."""
    start = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=timeouts.connect)
    except ConnectionRefusedError as exc:
        return Exchange(ConnectStatus.REFUSED, None, _describe(exc), _ms(start), _ms(start))
    except OSError as exc:  # timeout, no route, DNS failure
        return Exchange(ConnectStatus.UNREACHABLE, None, _describe(exc), _ms(start), _ms(start))
    connect_ms = _ms(start)
    with sock:
        reply = _converse(sock, payload, timeouts.read)
    return Exchange(ConnectStatus.OK, reply, None, connect_ms, _ms(start))


def _converse(sock: socket.socket, payload: bytes, read_timeout: float) -> ServerReply:
    reader = ReplyReader()
    deadline = time.monotonic() + read_timeout
    try:
        sock.settimeout(read_timeout)
        sock.sendall(payload)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return reader.finish(ReplyKind.TIMEOUT)
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                return reader.finish(ReplyKind.CLOSED)
            reply = reader.feed(chunk)
            if reply is not None:
                return reply
    except TimeoutError:
        return reader.finish(ReplyKind.TIMEOUT)
    except OSError:  # ECONNRESET, EPIPE, ECONNABORTED: the peer tore the connection down
        return reader.finish(ReplyKind.RESET)


def _sni(host: str, sni: str | None) -> str | None:
    """SNI defaults to the host name (nothing for IP literals); pass "" to send none."""
    return host if sni is None else (sni or None)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"dns: {exc}"
    if isinstance(exc, TimeoutError):
        return "connect timeout"
    return f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------- speaks_tls


class SpeaksTls(StrEnum):
    TLS = "tls"
    PLAIN_HTTP = "plain_http"
    SILENT = "silent"  # TCP accepted, no byte before the read timeout
    RESET = "reset"
    CLOSED = "closed"
    REFUSED = "refused"
    NOT_TLS = "not_tls"
    UNREACHABLE = "unreachable"  # TCP never established (timeout, no route, DNS)


@dataclass(frozen=True, slots=True)
class SpeaksTlsResult:
    outcome: SpeaksTls
    first_bytes_hex: str
    elapsed_ms: float
    connect_ms: float
    reply: ServerReply | None
    error: str | None = None


_REPLY_TO_SPEECH = {
    ReplyKind.PLAIN_HTTP: SpeaksTls.PLAIN_HTTP,
    ReplyKind.NOT_TLS: SpeaksTls.NOT_TLS,
    ReplyKind.CLOSED: SpeaksTls.CLOSED,
    ReplyKind.RESET: SpeaksTls.RESET,
    ReplyKind.TIMEOUT: SpeaksTls.SILENT,
}


def speaks_tls(
    host: str, port: int, sni: str | None = None, timeout: Timeouts = DEFAULT_TIMEOUTS
) -> SpeaksTlsResult:
    """Send a broad ClientHello (TLS 1.0-1.3, every suite) and classify the first answer."""
    suites = (*TLS13_SUITES, *offered_suites(TlsVersion.TLS1_2))
    versions = (TlsVersion.TLS1_0, TlsVersion.TLS1_1, TlsVersion.TLS1_2, TlsVersion.TLS1_3)
    result = exchange(host, port, build_client_hello(versions, suites, _sni(host, sni)), timeout)
    reply = result.reply
    if result.connect is not ConnectStatus.OK or reply is None:
        outcome = SpeaksTls.REFUSED if result.connect is ConnectStatus.REFUSED else SpeaksTls.UNREACHABLE
    elif reply.tls_framed or reply.kind is ReplyKind.SSLV2:
        outcome = SpeaksTls.TLS
    else:
        outcome = _REPLY_TO_SPEECH[reply.kind]
    first = reply.first_bytes.hex() if reply else ""
    return SpeaksTlsResult(outcome, first, result.elapsed_ms, result.connect_ms, reply, result.error)


# ---------------------------------------------------------------- versions


class ProbeStatus(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"  # alert, a lower version, or the connection closed/reset
    ERROR = "error"  # no usable answer: timeout, not TLS, malformed, TCP failure


@dataclass(frozen=True, slots=True)
class VersionProbe:
    version: TlsVersion
    status: ProbeStatus
    negotiated: int | None
    cipher: int | None
    alert: str | None
    reply_kind: ReplyKind | None
    detail: str
    elapsed_ms: float

    @property
    def suite(self) -> CipherSuite | None:
        return None if self.cipher is None else by_code(self.cipher)

    @property
    def negotiated_label(self) -> str | None:
        return None if self.negotiated is None else version_label(self.negotiated)


@dataclass(frozen=True, slots=True)
class VersionScan:
    probes: tuple[VersionProbe, ...]
    elapsed_ms: float

    @property
    def accepted(self) -> tuple[TlsVersion, ...]:
        return tuple(p.version for p in self.probes if p.status is ProbeStatus.ACCEPTED)

    def get(self, version: TlsVersion) -> VersionProbe | None:
        return next((p for p in self.probes if p.version is version), None)


def probe_version(
    host: str,
    port: int,
    version: TlsVersion,
    sni: str | None = None,
    timeout: Timeouts = DEFAULT_TIMEOUTS,
) -> VersionProbe:
    """Offer only `version` (with every suite usable there) and report whether the server takes it."""
    return _probe(host, port, version, offered_suites(version), sni, timeout)


def _probe(
    host: str,
    port: int,
    version: TlsVersion,
    suites: Sequence[CipherSuite],
    sni: str | None,
    timeout: Timeouts,
) -> VersionProbe:
    result = exchange(host, port, build_client_hello((version,), suites, _sni(host, sni)), timeout)
    reply = result.reply
    if result.connect is not ConnectStatus.OK or reply is None:
        detail = f"connect {result.connect.value}: {result.error}"
        return VersionProbe(version, ProbeStatus.ERROR, None, None, None, None, detail, result.elapsed_ms)
    status, detail = _judge(version, reply, {s.code for s in suites})
    return VersionProbe(
        version, status, reply.version, reply.cipher, reply.alert, reply.kind, detail, result.elapsed_ms
    )


def _judge(version: TlsVersion, reply: ServerReply, offered: set[int]) -> tuple[ProbeStatus, str]:
    kind = reply.kind
    if kind is ReplyKind.ALERT:
        return ProbeStatus.REFUSED, f"alert {reply.alert}"
    if kind in (ReplyKind.CLOSED, ReplyKind.RESET):
        return ProbeStatus.REFUSED, f"connection {kind.value} without an answer"
    if kind is ReplyKind.HELLO_RETRY:
        if version is TlsVersion.TLS1_3 and reply.version == version:
            return ProbeStatus.ACCEPTED, f"HelloRetryRequest for group 0x{reply.selected_group or 0:04x}"
        return ProbeStatus.ERROR, "HelloRetryRequest outside TLS 1.3"
    if kind is not ReplyKind.SERVER_HELLO:
        return ProbeStatus.ERROR, f"{kind.value}: {reply.detail}"
    if reply.version != version:
        if reply.version is not None and reply.version < version:
            return ProbeStatus.REFUSED, f"server answered {reply.version_label} instead"
        return ProbeStatus.ERROR, f"server answered {reply.version_label}, which was not offered"
    if reply.cipher not in offered:
        return ProbeStatus.ACCEPTED, f"server chose suite 0x{reply.cipher or 0:04X}, which was not offered"
    return ProbeStatus.ACCEPTED, reply.detail


def probe_versions(
    host: str,
    port: int,
    sni: str | None = None,
    versions: Sequence[TlsVersion] = ALL_VERSIONS,
    timeout: Timeouts = DEFAULT_TIMEOUTS,
    max_workers: int = 5,
) -> VersionScan:
    """Probe each version on its own connection, concurrently; results in `versions` order."""
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(versions)))) as pool:
        probes = tuple(pool.map(lambda v: probe_version(host, port, v, sni, timeout), versions))
    return VersionScan(probes, _ms(start))


# ---------------------------------------------------------------- cipher suites


@dataclass(frozen=True, slots=True)
class SuiteScan:
    """Suites accepted for one version.

    For TLS <= 1.2 `accepted` is in the server's selection order; `server_order` says whether the
    server enforced its own order (None when fewer than two suites were accepted). TLS 1.3 suites
    are probed one by one, so their order is the catalogue's and `server_order` is None.
    """

    version: TlsVersion
    accepted: tuple[CipherSuite, ...]
    server_order: bool | None
    complete: bool  # False when a probe errored and the list may be missing suites
    stop_reason: str
    connections: int
    elapsed_ms: float


def enumerate_suites(
    host: str,
    port: int,
    version: TlsVersion = TlsVersion.TLS1_2,
    sni: str | None = None,
    timeout: Timeouts = DEFAULT_TIMEOUTS,
    max_workers: int = 5,
) -> SuiteScan:
    """List the suites the server accepts for `version`."""
    if version is TlsVersion.TLS1_3:
        return _enumerate_tls13(host, port, sni, timeout, max_workers)
    return _enumerate_by_elimination(host, port, version, sni, timeout)


def _enumerate_by_elimination(
    host: str, port: int, version: TlsVersion, sni: str | None, timeout: Timeouts
) -> SuiteScan:
    # Offer everything, note the server's choice, drop it, repeat: the choices come out in the
    # server's preference order. Bounded by the number of suites offered.
    start = time.monotonic()
    remaining = list(offered_suites(version))
    accepted: list[CipherSuite] = []
    complete, stop_reason, connections = True, "all offered suites were accepted", 0
    for _ in range(len(remaining) + 1):
        if not remaining:
            break
        probe = _probe(host, port, version, remaining, sni, timeout)
        connections += 1
        chosen = next((s for s in remaining if s.code == probe.cipher), None)
        if probe.status is ProbeStatus.ACCEPTED and chosen is not None:
            accepted.append(chosen)
            remaining.remove(chosen)
            continue
        complete = probe.status is ProbeStatus.REFUSED
        stop_reason = probe.detail
        break
    server_order = None
    if len(accepted) >= 2:
        server_order = _server_enforces_order(host, port, version, accepted[:2], sni, timeout)
        connections += 1
    return SuiteScan(version, tuple(accepted), server_order, complete, stop_reason, connections, _ms(start))


def _server_enforces_order(
    host: str, port: int, version: TlsVersion, top_two: list[CipherSuite], sni: str | None, timeout: Timeouts
) -> bool | None:
    """Offer the server's first two choices reversed: a server-preference server still picks the first."""
    probe = _probe(host, port, version, top_two[::-1], sni, timeout)
    if probe.status is not ProbeStatus.ACCEPTED:
        return None
    return probe.cipher == top_two[0].code


def _enumerate_tls13(host: str, port: int, sni: str | None, timeout: Timeouts, max_workers: int) -> SuiteScan:
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(TLS13_SUITES)))) as pool:
        probes = list(
            pool.map(lambda s: _probe(host, port, TlsVersion.TLS1_3, (s,), sni, timeout), TLS13_SUITES)
        )
    accepted = tuple(
        suite for suite, p in zip(TLS13_SUITES, probes, strict=True)
        if p.status is ProbeStatus.ACCEPTED and p.cipher == suite.code
    )
    errors = [p for p in probes if p.status is ProbeStatus.ERROR]
    stop_reason = errors[0].detail if errors else "each TLS 1.3 suite offered on its own"
    return SuiteScan(
        TlsVersion.TLS1_3, accepted, None, not errors, stop_reason, len(probes), _ms(start)
    )

"""One real TLS handshake through the local OpenSSL, classified: what the relay's own client would see.

The raw probe (probe.py) answers "what does the server accept"; this module answers "does a handshake
complete, and if not, why": refused, silent, reset, not TLS, version, client certificate, trust, name,
expiry. After the handshake it writes one HTTP request and reads the answer, because on TLS 1.3 a server
rejects a missing or bad client certificate only *after* the client's side of the handshake is done.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509

from .target import TlsEndpoint

# Pinned so a verdict does not change with Python's defaults (3.13 adds STRICT and PARTIAL_CHAIN).
VERIFY_FLAGS = ssl.VERIFY_X509_TRUSTED_FIRST
NO_CHECK_TIME = 0x200000  # X509_V_FLAG_NO_CHECK_TIME: judge the chain, leave dates to the validity check
LENIENT_CIPHERS = "ALL:@SECLEVEL=0"  # reach any server and see its certificate, however weak
CONFIRM_WAIT = 1.0  # seconds to wait for an answer (or a late TLS 1.3 alert) after the handshake


class TlsError(StrEnum):
    """Why a handshake did not lead to a usable connection (codes shared with `s24kit doctor`)."""

    DNS_FAILURE = "DNS_FAILURE"
    CONNECTION_REFUSED = "CONNECTION_REFUSED"
    CONNECT_TIMEOUT = "CONNECT_TIMEOUT"
    UNREACHABLE = "UNREACHABLE"
    NOT_TLS = "NOT_TLS"  # plain HTTP or another protocol on the port
    TLS_HANDSHAKE_TIMEOUT = "TLS_HANDSHAKE_TIMEOUT"  # TCP accepted, no answer to the ClientHello
    RESET_DURING_HANDSHAKE = "RESET_DURING_HANDSHAKE"  # IPS, SSL inspection, port forward to the wrong service
    CLOSED_DURING_HANDSHAKE = "CLOSED_DURING_HANDSHAKE"
    PROTOCOL_VERSION = "PROTOCOL_VERSION"  # no TLS version in common
    HANDSHAKE_FAILURE = "HANDSHAKE_FAILURE"  # no suite in common, or (TLS 1.2) a client certificate was required
    CLIENT_CERT_REQUIRED = "CLIENT_CERT_REQUIRED"
    CLIENT_CERT_REJECTED = "CLIENT_CERT_REJECTED"
    CERT_EXPIRED = "CERT_EXPIRED"
    CERT_NOT_YET_VALID = "CERT_NOT_YET_VALID"
    CERT_UNTRUSTED = "CERT_UNTRUSTED"
    CERT_NAME_MISMATCH = "CERT_NAME_MISMATCH"
    CERT_WEAK = "CERT_WEAK"  # key too small or signature digest too weak for the client's security level
    CERT_INVALID = "CERT_INVALID"
    CLIENT_CONFIG = "CLIENT_CONFIG"  # the relay's own certificate or CA bundle could not be loaded
    TLS_ERROR = "TLS_ERROR"


#: Server alerts about the client's certificate (RFC 8446 §6.2).
CLIENT_CERT_ALERTS = frozenset({
    "bad_certificate", "unsupported_certificate", "certificate_revoked", "certificate_expired",
    "certificate_unknown", "unknown_ca", "access_denied",
})
#: Outcomes that name a refusal of the client's certificate. A TLS 1.2 server that requires a certificate
#: and gets none usually answers handshake_failure (HANDSHAKE_FAILURE), which also means "no suite in
#: common": the mTLS checks count it as a refusal only when the relay's own certificate gets through.
CLIENT_REFUSALS = frozenset({TlsError.CLIENT_CERT_REQUIRED, TlsError.CLIENT_CERT_REJECTED})
CERT_ERRORS = frozenset({TlsError.CERT_EXPIRED, TlsError.CERT_NOT_YET_VALID, TlsError.CERT_UNTRUSTED,
                         TlsError.CERT_NAME_MISMATCH, TlsError.CERT_WEAK, TlsError.CERT_INVALID})

_VERIFY_CODES = {
    9: TlsError.CERT_NOT_YET_VALID, 10: TlsError.CERT_EXPIRED,
    2: TlsError.CERT_UNTRUSTED, 18: TlsError.CERT_UNTRUSTED, 19: TlsError.CERT_UNTRUSTED,
    20: TlsError.CERT_UNTRUSTED, 21: TlsError.CERT_UNTRUSTED, 27: TlsError.CERT_UNTRUSTED,
    62: TlsError.CERT_NAME_MISMATCH, 64: TlsError.CERT_NAME_MISMATCH,
    66: TlsError.CERT_WEAK, 67: TlsError.CERT_WEAK, 68: TlsError.CERT_WEAK,
}
_ALERT_REASON = re.compile(r"^(?:SSLV3|TLSV1|TLSV13)_ALERT_([A-Z_]+)$")
_VERSION_REASONS = {"UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE", "WRONG_SSL_VERSION"}
_NOT_TLS_REASONS = {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "PACKET_LENGTH_TOO_LONG",
                    "RECORD_LAYER_FAILURE", "UNKNOWN_PROTOCOL"}
_CIPHER_REASONS = {"NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "INSUFFICIENT_SECURITY"}


class Mode(StrEnum):
    """How the client judges the server: not at all, chain only (trust check), or like the relay."""

    NONE = "none"
    CHAIN = "chain"
    FULL = "full"


@dataclass(frozen=True)
class HandshakeOutcome:
    """A handshake, then one request/answer. `ok` means the server accepted the connection."""

    ok: bool
    error: TlsError | None
    detail: str
    alert: str | None = None
    verify_code: int | None = None
    version: str | None = None  # "TLSv1.3"
    cipher: str | None = None  # OpenSSL name
    peer_chain: tuple[x509.Certificate, ...] = ()  # as the server sent it, leaf first
    client_cert_sent: bool = False
    answered: bool = False  # the server sent application data after the handshake
    http_status: int | None = None
    closed: bool = False  # the server closed the connection after the handshake without answering or alerting
    stage: str = "tcp"  # where it ended: tcp, handshake, confirm, done
    elapsed_ms: float = 0.0

    @property
    def leaf(self) -> x509.Certificate | None:
        return self.peer_chain[0] if self.peer_chain else None

    def describe(self) -> str:
        """One line for evidence: the outcome, the alert or verify code, the version."""
        if self.ok:
            what = f"accepted ({self.version}, {self.cipher})"
            return what + (f", HTTP {self.http_status}" if self.http_status else "")
        parts = [self.error.value if self.error else "error", self.detail]
        if self.alert:
            parts.append(f"alert {self.alert}")
        return ": ".join(p for p in parts if p)


def handshake(
    endpoint: TlsEndpoint,
    *,
    with_client_cert: bool,
    verify: bool,
    client: tuple[Path, Path] | None = None,
    mode: Mode | None = None,
    path: str = "/",
    confirm: bool = True,
) -> HandshakeOutcome:
    """Connect to `endpoint`, handshake, send ``GET path`` and read the first answer.

    `verify=True` verifies like the relay (anchors, name, dates, security level 2); `verify=False` reaches
    any server (no verification, security level 0) so its chain can be inspected. `with_client_cert`
    presents the endpoint's client certificate, or `client` (cert, key) when given. `confirm=False`
    skips the request (enough for the chain; not for a TLS 1.3 server's verdict on the client).
    """
    start = time.monotonic()
    mode = mode or (Mode.FULL if verify else Mode.NONE)
    cert_pair = client or ((endpoint.client_cert, endpoint.client_key) if with_client_cert else None)
    sending = bool(with_client_cert and cert_pair and cert_pair[0])
    try:
        context = _context(endpoint, mode, cert_pair if sending else None)
    except (OSError, ssl.SSLError, ValueError) as exc:
        return HandshakeOutcome(False, TlsError.CLIENT_CONFIG, f"{type(exc).__name__}: {exc}", stage="setup")
    try:
        raw = socket.create_connection((endpoint.host, endpoint.port), timeout=endpoint.timeout)
    except OSError as exc:
        return HandshakeOutcome(False, _connect_error(exc), _text(exc), stage="tcp", elapsed_ms=_ms(start))
    with raw:
        name = endpoint.name if mode is Mode.FULL else _sni(endpoint.name)
        tls = context.wrap_socket(raw, server_hostname=name, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (OSError, ssl.SSLError) as exc:
            return _failure(exc, "handshake", tls, sending, start)
        chain, version, cipher = _peer_chain(tls), tls.version(), (tls.cipher() or (None,))[0]
        answer = _confirm(tls, endpoint, path) if confirm else (False, None, False)
        elapsed = _ms(start)
        with contextlib.suppress(OSError):
            tls.close()
    if isinstance(answer, BaseException):
        failure = _failure(answer, "confirm", None, sending, start)
        return HandshakeOutcome(False, failure.error, failure.detail, failure.alert, version=version, cipher=cipher,
                                peer_chain=chain, client_cert_sent=sending, stage="confirm", elapsed_ms=elapsed)
    answered, status, closed = answer
    return HandshakeOutcome(True, None, "", version=version, cipher=cipher, peer_chain=chain, client_cert_sent=sending,
                            answered=answered, http_status=status, closed=closed, stage="done", elapsed_ms=elapsed)


def _context(endpoint: TlsEndpoint, mode: Mode, cert_pair: tuple[Path | None, Path | None] | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if mode is Mode.FULL:
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        context.verify_flags = VERIFY_FLAGS
    else:
        context.set_ciphers(LENIENT_CIPHERS)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED if mode is Mode.CHAIN else ssl.CERT_NONE
        context.verify_flags = VERIFY_FLAGS | (NO_CHECK_TIME if mode is Mode.CHAIN else 0)
    if mode is not Mode.NONE:
        if endpoint.anchors:
            context.load_verify_locations(cafile=str(endpoint.anchors))
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if cert_pair and cert_pair[0]:
        cert, key = cert_pair
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def _confirm(tls: ssl.SSLSocket, endpoint: TlsEndpoint, path: str) -> tuple[bool, int | None, bool] | BaseException:
    """Wait for the server's verdict on the client, then write one request and read the answer.

    On TLS 1.3 the server judges the client certificate after the client's Finished and answers with
    session tickets (accepted) or an alert (refused). Reading *before* writing matters: a server that
    closes while our request sits unread in its buffer sends a TCP reset, and the reset destroys the
    alert in our receive buffer.
    """
    wait = min(endpoint.timeout, CONFIRM_WAIT)
    request = (f"GET {path} HTTP/1.1\r\nHost: {endpoint.name}\r\nUser-Agent: s24kit-tls-check\r\n"
               "Connection: close\r\n\r\n").encode("ascii", "replace")
    data = b""
    try:
        if tls.version() == "TLSv1.3":
            readable, _, _ = select.select([tls], [], [], wait)
            if readable:
                tls.setblocking(False)
                try:
                    data = tls.recv(1024)
                except ssl.SSLWantReadError:
                    pass  # only session tickets: the client was accepted
                else:
                    if not data:
                        return False, None, True
        if not data:
            tls.settimeout(wait)
            tls.sendall(request)
            data = tls.recv(1024)
    except TimeoutError:
        return False, None, False  # accepted, but the service does not answer HTTP (or is slow)
    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
        return False, None, True  # closed without an alert (asyncio servers such as uvicorn do this)
    except (OSError, ssl.SSLError) as exc:  # a late alert (TLS 1.3 client certificate) or a reset
        return exc
    if not data:
        return False, None, True
    match = re.match(rb"HTTP/\d(?:\.\d)? (\d{3})", data)
    return True, int(match.group(1)) if match else None, False


def _failure(exc: BaseException, stage: str, tls: ssl.SSLSocket | None, sending: bool,
             start: float) -> HandshakeOutcome:
    chain = _peer_chain(tls) if tls is not None else ()
    alert = _alert_of(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        error = _VERIFY_CODES.get(code, TlsError.CERT_INVALID)
        return HandshakeOutcome(False, error, f"verify error {code}: {exc.verify_message}", None, code,
                                peer_chain=chain, client_cert_sent=sending, stage=stage, elapsed_ms=_ms(start))
    error = _classify(exc, alert, stage)
    return HandshakeOutcome(False, error, _text(exc), alert, peer_chain=chain, client_cert_sent=sending,
                            stage=stage, elapsed_ms=_ms(start))


def _classify(exc: BaseException, alert: str | None, stage: str) -> TlsError:
    reason = getattr(exc, "reason", None) or ""
    if alert == "certificate_required":
        return TlsError.CLIENT_CERT_REQUIRED
    if alert in CLIENT_CERT_ALERTS:
        return TlsError.CLIENT_CERT_REJECTED
    if alert == "protocol_version" or reason in _VERSION_REASONS:
        return TlsError.PROTOCOL_VERSION
    if alert in ("handshake_failure", "insufficient_security") or reason in _CIPHER_REASONS:
        return TlsError.HANDSHAKE_FAILURE
    if reason in _NOT_TLS_REASONS:
        return TlsError.NOT_TLS
    if isinstance(exc, TimeoutError):
        return TlsError.TLS_HANDSHAKE_TIMEOUT if stage == "handshake" else TlsError.TLS_ERROR
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return TlsError.RESET_DURING_HANDSHAKE
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return TlsError.CLOSED_DURING_HANDSHAKE
    return TlsError.TLS_ERROR


def _alert_of(exc: BaseException) -> str | None:
    match = _ALERT_REASON.match(getattr(exc, "reason", None) or "")
    return match.group(1).lower() if match else None


def _connect_error(exc: OSError) -> TlsError:
    if isinstance(exc, socket.gaierror):
        return TlsError.DNS_FAILURE
    if isinstance(exc, ConnectionRefusedError):
        return TlsError.CONNECTION_REFUSED
    if isinstance(exc, TimeoutError):
        return TlsError.CONNECT_TIMEOUT
    return TlsError.UNREACHABLE


def _peer_chain(tls: ssl.SSLSocket) -> tuple[x509.Certificate, ...]:
    """The chain as sent. Public API from Python 3.13; the private one works on 3.10-3.12."""
    try:
        getter = getattr(tls, "get_unverified_chain", None) or tls._sslobj.get_unverified_chain  # type: ignore[union-attr]
        items = getter() or []
    except (AttributeError, ValueError, ssl.SSLError):
        items = []
    out = []
    for item in items:
        der = item if isinstance(item, bytes) else item.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
        try:
            out.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    if not out:
        try:
            der = tls.getpeercert(binary_form=True)
        except (ValueError, ssl.SSLError):
            der = None
        if der:
            out.append(x509.load_der_x509_certificate(der))
    return tuple(out)


def _sni(name: str) -> str | None:
    # The SSL module refuses an empty name; IP literals are sent without SNI by OpenSSL itself.
    return name or None


def _text(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError) and getattr(exc, "reason", None):
        return f"{exc.reason} ({exc.library or 'ssl'})"
    return f"{type(exc).__name__}: {exc}"


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)

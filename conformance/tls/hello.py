"""Build a raw ClientHello and classify whatever the server sends back.

Nothing here touches the network or the local OpenSSL: the hello is assembled byte by byte,
so the kit can offer SSLv3, TLS 1.0 and RC4/3DES suites that the local library refuses.
The parser never raises on server input; every outcome is a `ServerReply`.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .ciphers import CipherSuite, TlsVersion, by_code, version_label

CONTENT_CCS, CONTENT_ALERT, CONTENT_HANDSHAKE, CONTENT_APPDATA = 20, 21, 22, 23
HANDSHAKE_CLIENT_HELLO, HANDSHAKE_SERVER_HELLO = 1, 2
SCSV_RENEGOTIATION = 0x00FF

EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A
EXT_EC_POINT_FORMATS = 0x000B
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_PADDING = 0x0015
EXT_EXTENDED_MASTER_SECRET = 0x0017
EXT_SUPPORTED_VERSIONS = 0x002B
EXT_PSK_KEY_EXCHANGE_MODES = 0x002D
EXT_KEY_SHARE = 0x0033

GROUP_X25519 = 0x001D
# x25519 first (we send its key share); the rest let TLS 1.2 servers pick their curve/FFDHE group.
SUPPORTED_GROUPS = (0x001D, 0x0017, 0x0018, 0x0019, 0x001E, 0x001A, 0x001B, 0x001C, 0x0100, 0x0101, 0x0102)
# Brainpool's TLS 1.2 code points are forbidden in TLS 1.3; strict servers reject a 1.3-only hello with them.
TLS12_ONLY_GROUPS = frozenset({0x001A, 0x001B, 0x001C})
# TLS 1.3 schemes first (RSA-PSS is mandatory for RSA certs there), then TLS 1.2 PKCS#1 and SHA-1 ones
# so that legacy servers with SHA-1-only keys still answer.
SIGNATURE_ALGORITHMS = (
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808,
    0x0804, 0x0805, 0x0806, 0x0809, 0x080A, 0x080B,
    0x0401, 0x0501, 0x0601,
    0x0303, 0x0301, 0x0402, 0x0502, 0x0602, 0x0302,
    0x0203, 0x0201, 0x0202,
)

HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")
_DOWNGRADE_MARKERS = {b"DOWNGRD\x01": "TLSv1.2", b"DOWNGRD\x00": "TLSv1.1 or lower"}
_MAX_RECORD = 2**14 + 2048
_MAX_SERVER_HELLO = 2**16
EVIDENCE_BYTES = 64

ALERT_NAMES = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
    42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
    45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
    49: "access_denied", 50: "decode_error", 51: "decrypt_error", 60: "export_restriction",
    70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
    86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation",
    109: "missing_extension", 110: "unsupported_extension", 111: "certificate_unobtainable",
    112: "unrecognized_name", 113: "bad_certificate_status_response",
    114: "bad_certificate_hash_value", 115: "unknown_psk_identity", 116: "certificate_required",
    120: "no_application_protocol",
}


def alert_name(description: int) -> str:
    return ALERT_NAMES.get(description, f"alert_{description}")


# ---------------------------------------------------------------- ClientHello


def _u8(data: bytes) -> bytes:
    return struct.pack("!B", len(data)) + data


def _u16(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _u16s(values: Sequence[int]) -> bytes:
    return b"".join(struct.pack("!H", v) for v in values)


def _ext(ext_type: int, body: bytes) -> bytes:
    return struct.pack("!H", ext_type) + _u16(body)


def sni_name(host: str | None) -> str | None:
    """The name to put in SNI: None for IP literals (RFC 6066 forbids them) and empty input."""
    if not host:
        return None
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.rstrip(".")
    return None


def x25519_key_share() -> bytes:
    """A fresh, real x25519 public key: strict TLS 1.3 servers validate the point."""
    return X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _session_id() -> bytes:
    # Ends in CRLF CRLF so a line-based plain-HTTP server sees a complete (bad) request and answers
    # "400" at once instead of waiting for a newline; TLS servers treat it as an unknown session.
    return os.urandom(28) + b"\r\n\r\n"


def build_client_hello(
    versions: Sequence[TlsVersion],
    suites: Sequence[int | CipherSuite],
    server_name: str | None = None,
) -> bytes:
    """One TLS record holding a ClientHello that offers exactly `versions` and `suites`.

    With TLS 1.3 among `versions` the hello uses supported_versions and an x25519 key share;
    otherwise client_version is the highest version asked for. SSLv3 hellos carry no extensions.
    """
    if not versions:
        raise ValueError("at least one version is required")
    codes = [s.code if isinstance(s, CipherSuite) else int(s) for s in suites]
    if not codes:
        raise ValueError("at least one cipher suite is required")
    top = max(versions)
    tls13 = TlsVersion.TLS1_3 in versions
    legacy_version = TlsVersion.TLS1_2 if tls13 else top
    if min(versions) < TlsVersion.TLS1_3 and SCSV_RENEGOTIATION not in codes:
        codes.append(SCSV_RENEGOTIATION)  # RFC 5746 signal; also valid in SSLv3, which has no extensions

    extensions = b""
    if top > TlsVersion.SSL3:
        extensions = _extensions(versions, server_name, tls13)
    body = (
        struct.pack("!H", legacy_version)
        + os.urandom(32)
        + _u8(_session_id())
        + _u16(_u16s(codes))
        + _u8(b"\x00")
    )
    if extensions:
        body += _u16(_with_padding(body, extensions))
    handshake = struct.pack("!B", HANDSHAKE_CLIENT_HELLO) + len(body).to_bytes(3, "big") + body
    # Record version 3.1 at most: some stacks reject a first record above TLS 1.0.
    record_version = min(legacy_version, TlsVersion.TLS1_0)
    return struct.pack("!BHH", CONTENT_HANDSHAKE, record_version, len(handshake)) + handshake


def _extensions(versions: Sequence[TlsVersion], server_name: str | None, tls13: bool) -> bytes:
    out = b""
    name = sni_name(server_name)
    if name:
        try:
            encoded = name.encode("idna")
        except UnicodeError:  # not a valid DNS name; send it as given rather than fail the probe
            encoded = name.encode("utf-8", "replace")
        out += _ext(EXT_SERVER_NAME, _u16(b"\x00" + _u16(encoded)))
    only13 = min(versions) >= TlsVersion.TLS1_3
    groups = [g for g in SUPPORTED_GROUPS if not (only13 and g in TLS12_ONLY_GROUPS)]
    out += _ext(EXT_SUPPORTED_GROUPS, _u16(_u16s(groups)))
    out += _ext(EXT_EC_POINT_FORMATS, _u8(b"\x00"))
    if max(versions) >= TlsVersion.TLS1_2:
        # RFC 5246 7.4.1.4.1: not offered with older versions only.
        out += _ext(EXT_SIGNATURE_ALGORITHMS, _u16(_u16s(SIGNATURE_ALGORITHMS)))
    out += _ext(EXT_EXTENDED_MASTER_SECRET, b"")
    if tls13:
        offered = sorted(versions, reverse=True)
        out += _ext(EXT_SUPPORTED_VERSIONS, _u8(_u16s(offered)))
        out += _ext(EXT_PSK_KEY_EXCHANGE_MODES, _u8(b"\x01"))
        share = struct.pack("!H", GROUP_X25519) + _u16(x25519_key_share())
        out += _ext(EXT_KEY_SHARE, _u16(share))
    return out


def _with_padding(body: bytes, extensions: bytes) -> bytes:
    # RFC 7685: some middleboxes hang on ClientHellos of 256-511 bytes, so pad those to 512.
    length = 4 + len(body) + 2 + len(extensions)
    if not 256 <= length < 512:
        return extensions
    pad = 512 - length
    pad = pad - 4 if pad >= 5 else 1
    return extensions + _ext(EXT_PADDING, b"\x00" * pad)


# ---------------------------------------------------------------- server reply


class ReplyKind(StrEnum):
    """What the server's first bytes (or their absence) amount to."""

    SERVER_HELLO = "server_hello"
    HELLO_RETRY = "hello_retry_request"
    ALERT = "alert"
    SSLV2 = "sslv2"
    PLAIN_HTTP = "plain_http"
    NOT_TLS = "not_tls"
    MALFORMED = "malformed"  # TLS framing, but content we cannot accept as a ServerHello
    TRUNCATED = "truncated"  # TLS framing, connection ended before the message was complete
    CLOSED = "closed"  # orderly EOF before any byte
    RESET = "reset"  # ECONNRESET before any byte
    TIMEOUT = "timeout"  # no byte before the read deadline


TLS_FRAMED = frozenset(
    {ReplyKind.SERVER_HELLO, ReplyKind.HELLO_RETRY, ReplyKind.ALERT, ReplyKind.MALFORMED, ReplyKind.TRUNCATED}
)


@dataclass(frozen=True, slots=True)
class ServerReply:
    """Typed outcome of one ClientHello; fields not relevant to `kind` stay None."""

    kind: ReplyKind
    first_bytes: bytes = b""
    received: int = 0
    detail: str = ""
    version: int | None = None  # negotiated: supported_versions if present, else legacy version
    legacy_version: int | None = None
    cipher: int | None = None
    compression: int | None = None
    selected_group: int | None = None
    extensions: tuple[int, ...] = ()
    downgrade_marker: str | None = None
    alert_level: int | None = None
    alert_description: int | None = None

    @property
    def alert(self) -> str | None:
        return None if self.alert_description is None else alert_name(self.alert_description)

    @property
    def suite(self) -> CipherSuite | None:
        return None if self.cipher is None else by_code(self.cipher)

    @property
    def version_label(self) -> str | None:
        return None if self.version is None else version_label(self.version)

    @property
    def tls_framed(self) -> bool:
        return self.kind in TLS_FRAMED


class _Short(Exception):
    """A length field points past the available bytes."""


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _Short
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def parse_reply(data: bytes, *, eof: bool = False) -> ServerReply | None:
    """Classify the bytes received so far; None means "undecided, read more".

    With `eof=True` (connection over, or read budget spent) the answer is never None.
    """
    data = bytes(data)
    if not data:
        return ServerReply(ReplyKind.CLOSED) if eof else None
    first = data[0]
    if first in (CONTENT_CCS, CONTENT_ALERT, CONTENT_HANDSHAKE, CONTENT_APPDATA):
        return _parse_records(data, eof)
    if first & 0x80:
        return _parse_sslv2(data, eof)
    return _parse_text(data, eof)


def _reply(kind: ReplyKind, data: bytes, detail: str = "", **fields: Any) -> ServerReply:
    return ServerReply(kind=kind, first_bytes=data[:EVIDENCE_BYTES], received=len(data), detail=detail, **fields)


# A status line, or an HTML error page sent HTTP/0.9-style (Python's http.server does that for garbage).
_HTTP_PREFIXES = (b"http/", b"<!doctype html", b"<html")


def _parse_text(data: bytes, eof: bool) -> ServerReply | None:
    head = data[:16].lower()
    if head.startswith(_HTTP_PREFIXES):
        if b"\n" not in data and len(data) < 256 and not eof:
            return None
        first_line = data.split(b"\n", 1)[0].strip().decode("latin-1")[:120]
        return _reply(ReplyKind.PLAIN_HTTP, data, first_line)
    if not eof and any(prefix.startswith(head) for prefix in _HTTP_PREFIXES):
        return None
    text = data.split(b"\n", 1)[0][:80]
    printable = all(32 <= b < 127 or b in (9, 13) for b in text)
    detail = repr(text.decode("latin-1")) if printable else f"unexpected first byte 0x{data[0]:02x}"
    return _reply(ReplyKind.NOT_TLS, data, detail)


def _parse_sslv2(data: bytes, eof: bool) -> ServerReply | None:
    # 2-byte header (high bit set), then the message type: 0 = ERROR (3 bytes), 4 = SERVER-HELLO.
    if len(data) < 3:
        return None if not eof else _parse_text(data, eof)
    length, msg_type = ((data[0] & 0x7F) << 8) | data[1], data[2]
    if msg_type == 0 and length == 3:
        if len(data) < 5:
            return None if not eof else _parse_text(data, eof)
        return _reply(ReplyKind.SSLV2, data, f"SSLv2 ERROR 0x{data[3]:02x}{data[4]:02x}")
    if msg_type == 4:
        if len(data) < 7:
            return None if not eof else _parse_text(data, eof)
        if data[5:7] == b"\x00\x02":
            return _reply(ReplyKind.SSLV2, data, "SSLv2 SERVER-HELLO")
    return _parse_text(data, eof)


def _parse_records(data: bytes, eof: bool) -> ServerReply | None:
    cursor = _Cursor(data)
    handshake = b""
    while cursor.left >= 5:
        content_type, major, minor, length = struct.unpack("!BBBH", cursor.take(5))
        if content_type not in (CONTENT_CCS, CONTENT_ALERT, CONTENT_HANDSHAKE, CONTENT_APPDATA) or major != 3:
            return _reply(ReplyKind.MALFORMED, data, f"invalid record header at byte {cursor.pos - 5}")
        if length > _MAX_RECORD:
            return _reply(ReplyKind.MALFORMED, data, f"record length {length} exceeds the TLS maximum")
        if cursor.left < length:
            break
        fragment = cursor.take(length)
        if content_type == CONTENT_ALERT:
            if len(fragment) < 2:
                return _reply(ReplyKind.MALFORMED, data, "alert record shorter than 2 bytes")
            level, description = fragment[0], fragment[1]
            return _reply(
                ReplyKind.ALERT, data, f"{'fatal' if level == 2 else 'warning'} {alert_name(description)}",
                alert_level=level, alert_description=description, legacy_version=(major << 8) | minor,
            )
        if content_type != CONTENT_HANDSHAKE:
            kind = "ChangeCipherSpec" if content_type == CONTENT_CCS else "application data"
            return _reply(ReplyKind.MALFORMED, data, f"{kind} record before ServerHello")
        handshake += fragment
        decided = _try_server_hello(handshake, data)
        if decided is not None:
            return decided
    if not eof:
        return None
    if len(data) < 5:
        return _reply(ReplyKind.NOT_TLS, data, f"only {len(data)} bytes, too short for a TLS record")
    return _reply(ReplyKind.TRUNCATED, data, f"connection ended after {len(data)} bytes, mid-message")


def _try_server_hello(handshake: bytes, data: bytes) -> ServerReply | None:
    if len(handshake) < 4:
        return None
    msg_type, length = handshake[0], int.from_bytes(handshake[1:4], "big")
    if msg_type != HANDSHAKE_SERVER_HELLO:
        return _reply(ReplyKind.MALFORMED, data, f"first handshake message has type {msg_type}, not ServerHello")
    if length > _MAX_SERVER_HELLO:
        return _reply(ReplyKind.MALFORMED, data, f"ServerHello length {length} is implausible")
    if len(handshake) < 4 + length:
        return None
    try:
        return _server_hello_fields(handshake[4 : 4 + length], data)
    except _Short:
        return _reply(ReplyKind.MALFORMED, data, "ServerHello fields overrun its length")


def _server_hello_fields(body: bytes, data: bytes) -> ServerReply:
    cur = _Cursor(body)
    legacy_version = cur.int(2)
    random = cur.take(32)
    cur.take(cur.int(1))  # session id
    cipher = cur.int(2)
    compression = cur.int(1)
    extensions: list[int] = []
    version, group = legacy_version, None
    if cur.left:
        ext_block = _Cursor(cur.take(cur.int(2)))
        while ext_block.left:
            ext_type, ext_body = ext_block.int(2), ext_block.take(ext_block.int(2))
            extensions.append(ext_type)
            if ext_type == EXT_SUPPORTED_VERSIONS and len(ext_body) == 2:
                version = int.from_bytes(ext_body, "big")
            elif ext_type == EXT_KEY_SHARE and len(ext_body) >= 2:
                group = int.from_bytes(ext_body[:2], "big")
    if cur.left:
        return _reply(ReplyKind.MALFORMED, data, f"{cur.left} trailing bytes after ServerHello extensions")
    hrr = random == HRR_RANDOM
    kind = ReplyKind.HELLO_RETRY if hrr else ReplyKind.SERVER_HELLO
    return _reply(
        kind, data, f"{version_label(version)} cipher 0x{cipher:04X}",
        version=version, legacy_version=legacy_version, cipher=cipher, compression=compression,
        selected_group=group, extensions=tuple(extensions),
        downgrade_marker=None if hrr else _DOWNGRADE_MARKERS.get(random[-8:]),
    )


class ReplyReader:
    """Accumulates bytes from a socket until `parse_reply` can decide."""

    def __init__(self, limit: int = 4 * _MAX_RECORD) -> None:
        self._buffer = bytearray()
        self._limit = limit

    @property
    def received(self) -> bytes:
        return bytes(self._buffer)

    def feed(self, chunk: bytes) -> ServerReply | None:
        self._buffer += chunk
        if len(self._buffer) >= self._limit:
            return parse_reply(self._buffer, eof=True)
        return parse_reply(self._buffer)

    def finish(self, ending: ReplyKind) -> ServerReply:
        """Outcome when the stream ends by `ending` (CLOSED, RESET or TIMEOUT)."""
        if not self._buffer:
            return ServerReply(ending)
        reply = parse_reply(self._buffer, eof=True) or ServerReply(ReplyKind.TRUNCATED)
        if reply.kind is ReplyKind.TRUNCATED and ending is not ReplyKind.CLOSED:
            return ServerReply(
                ReplyKind.TRUNCATED, reply.first_bytes, reply.received,
                f"{ending.value} after {reply.received} bytes, mid-message",
            )
        return reply

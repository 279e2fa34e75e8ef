"""Raw TLS probing against real servers on 127.0.0.1, plus parser tests on crafted bytes."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from s24kit.conformance.tls import ciphers
from s24kit.conformance.tls.ciphers import TlsVersion, Weakness, by_code, by_name
from s24kit.conformance.tls.hello import (
    HRR_RANDOM,
    ReplyKind,
    ReplyReader,
    build_client_hello,
    parse_reply,
)
from s24kit.conformance.tls.probe import (
    ProbeStatus,
    SpeaksTls,
    Timeouts,
    enumerate_suites,
    probe_version,
    probe_versions,
    speaks_tls,
)
from s24kit.simulator.pki import Credential

from . import tls_servers
from .tls_servers import (
    LOCAL,
    TcpServer,
    _reset,
    _silent,
    legacy_server,
    openssl_server,
    plain_http_server,
    server_context,
)

FAST = Timeouts(connect=2.0, read=2.0)
SHORT = Timeouts(connect=1.0, read=0.5)
LEGACY = {TlsVersion.SSL3, TlsVersion.TLS1_0, TlsVersion.TLS1_1}


# ---------------------------------------------------------------- local servers (tests/tls_servers.py)


def _read_client_hello(conn: socket.socket) -> bytes:
    """Read one whole TLS record so closing afterwards sends FIN, not RST."""
    data = b""
    while len(data) < 5 or len(data) < 5 + struct.unpack("!H", data[3:5])[0]:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Credential:
    """An RSA leaf from a trustme CA (RSA for tlslite-ng), written as certificate chain + key."""
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    leaf = ca.issue_cert("localhost", "clinic.test", LOCAL, key_type=trustme.KeyType.RSA)
    folder = tmp_path_factory.mktemp("pki")
    cred = Credential(folder / "server.pem", folder / "server.key")
    cred.cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(cred.key))
    return cred


def _stdlib_server(pki: Credential, maximum: ssl.TLSVersion, seen_sni: list[str | None] | None = None) -> TcpServer:
    """Handshake only, with OpenSSL's default suites; `seen_sni` collects the server name of every ClientHello."""
    ctx = server_context(pki, maximum=maximum, ciphers=None)
    if seen_sni is not None:
        ctx.sni_callback = lambda _sock, name, _ctx: seen_sni.append(name)

    def handle(conn: socket.socket, _stop: threading.Event) -> None:
        with ctx.wrap_socket(conn, server_side=True):
            pass

    return TcpServer(handle)


@pytest.fixture
def stdlib_tls13(pki: Credential) -> Iterator[TcpServer]:
    with _stdlib_server(pki, ssl.TLSVersion.TLSv1_3) as server:
        yield server


@pytest.fixture
def stdlib_tls12(pki: Credential) -> Iterator[TcpServer]:
    with _stdlib_server(pki, ssl.TLSVersion.TLSv1_2) as server:
        yield server


@pytest.fixture
def tlslite_legacy(pki: Credential) -> Iterator[TcpServer]:
    with legacy_server(pki) as server:
        yield server


@pytest.fixture
def plain_http() -> Iterator[int]:
    with plain_http_server() as port:
        yield port


def _close(conn: socket.socket, _stop: threading.Event) -> None:
    _read_client_hello(conn)
    conn.shutdown(socket.SHUT_RDWR)


def _nginx_like(conn: socket.socket, _stop: threading.Event) -> None:
    _read_client_hello(conn)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nConnection: close\r\n\r\n")


def _banner(conn: socket.socket, _stop: threading.Event) -> None:
    _read_client_hello(conn)
    conn.sendall(b"SSH-2.0-OpenSSH_9.2p1\r\n")


@pytest.fixture
def closed_port() -> Iterator[int]:
    with tls_servers.closed_port() as port:
        yield port


# ---------------------------------------------------------------- speaks_tls


def test_speaks_tls_on_a_tls_server(stdlib_tls13: TcpServer) -> None:
    result = speaks_tls(LOCAL, stdlib_tls13.port, timeout=FAST)
    assert result.outcome is SpeaksTls.TLS
    assert result.reply is not None and result.reply.kind is ReplyKind.SERVER_HELLO
    assert result.reply.version == TlsVersion.TLS1_3
    assert result.first_bytes_hex.startswith("16")


def test_plain_http_port(plain_http: int) -> None:
    result = speaks_tls(LOCAL, plain_http, timeout=FAST)
    assert result.outcome is SpeaksTls.PLAIN_HTTP
    # http.server answers a garbage request line with a bare HTML 400 page (HTTP/0.9 style).
    assert bytes.fromhex(result.first_bytes_hex).startswith(b"<!DOCTYPE HTML>")


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (_silent, SpeaksTls.SILENT),
        (_reset, SpeaksTls.RESET),
        (_close, SpeaksTls.CLOSED),
        (_banner, SpeaksTls.NOT_TLS),
        (_nginx_like, SpeaksTls.PLAIN_HTTP),
    ],
    ids=["silent", "reset", "closed", "not_tls", "http_status_line"],
)
def test_speaks_tls_on_broken_listeners(handler: Callable[..., None], expected: SpeaksTls) -> None:
    with TcpServer(handler) as server:
        result = speaks_tls(LOCAL, server.port, timeout=SHORT)
    assert result.outcome is expected
    if expected is SpeaksTls.SILENT:
        assert result.first_bytes_hex == ""
        assert 400 <= result.elapsed_ms < 2000  # read timeout 0.5 s, not the OS default
    if expected is SpeaksTls.NOT_TLS:
        assert bytes.fromhex(result.first_bytes_hex).startswith(b"SSH-2.0")
    if expected is SpeaksTls.PLAIN_HTTP:
        assert result.reply is not None and result.reply.detail == "HTTP/1.1 400 Bad Request"


def test_closed_port_is_refused(closed_port: int) -> None:
    result = speaks_tls(LOCAL, closed_port, timeout=SHORT)
    assert result.outcome is SpeaksTls.REFUSED
    assert result.reply is None and result.error


def test_sni_is_sent_for_names_and_omitted_for_ip_addresses(pki: Credential) -> None:
    seen: list[str | None] = []
    with _stdlib_server(pki, ssl.TLSVersion.TLSv1_3, seen) as server:
        assert speaks_tls(LOCAL, server.port, sni="clinic.test", timeout=FAST).outcome is SpeaksTls.TLS
        assert speaks_tls(LOCAL, server.port, timeout=FAST).outcome is SpeaksTls.TLS
        deadline = time.monotonic() + 2
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert seen == ["clinic.test", None]


# ---------------------------------------------------------------- versions


def test_modern_server_accepts_only_tls12_and_tls13(stdlib_tls13: TcpServer) -> None:
    scan = probe_versions(LOCAL, stdlib_tls13.port, timeout=FAST)
    assert set(scan.accepted) == {TlsVersion.TLS1_2, TlsVersion.TLS1_3}
    for version in LEGACY:
        probe = scan.get(version)
        assert probe is not None and probe.status is ProbeStatus.REFUSED, probe
        assert probe.alert or "instead" in probe.detail or "connection" in probe.detail
    tls13 = scan.get(TlsVersion.TLS1_3)
    assert tls13 is not None and tls13.negotiated == TlsVersion.TLS1_3
    assert tls13.suite is not None and tls13.suite.tls13


def test_tls12_only_server_refuses_tls13(stdlib_tls12: TcpServer) -> None:
    scan = probe_versions(LOCAL, stdlib_tls12.port, timeout=FAST)
    assert scan.accepted == (TlsVersion.TLS1_2,)
    tls13 = scan.get(TlsVersion.TLS1_3)
    assert tls13 is not None and tls13.status is ProbeStatus.REFUSED


def test_probe_version_on_closed_port_is_an_error(closed_port: int) -> None:
    probe = probe_version(LOCAL, closed_port, TlsVersion.TLS1_2, timeout=SHORT)
    assert probe.status is ProbeStatus.ERROR and "refused" in probe.detail


def test_legacy_server_is_caught_with_weak_suites(tlslite_legacy: TcpServer) -> None:
    scan = probe_versions(LOCAL, tlslite_legacy.port, timeout=FAST)
    assert set(scan.accepted) == {TlsVersion.SSL3, TlsVersion.TLS1_0}
    tls12 = scan.get(TlsVersion.TLS1_2)
    assert tls12 is not None and tls12.status is ProbeStatus.REFUSED
    assert tls12.negotiated == TlsVersion.TLS1_0  # the server fell back instead of alerting

    suites = enumerate_suites(LOCAL, tlslite_legacy.port, TlsVersion.TLS1_0, timeout=FAST)
    assert {s.openssl_name for s in suites.accepted} == {"DES-CBC3-SHA", "RC4-SHA"}
    assert all(s.weak for s in suites.accepted)
    assert {w for s in suites.accepted for w in s.weaknesses} == {Weakness.TRIPLE_DES, Weakness.RC4}
    assert suites.complete


def test_modern_server_offers_no_weak_suite(stdlib_tls12: TcpServer) -> None:
    suites = enumerate_suites(LOCAL, stdlib_tls12.port, TlsVersion.TLS1_2, timeout=FAST)
    assert suites.complete and suites.accepted
    assert not any(s.weak for s in suites.accepted)


# ---------------------------------------------------------------- cipher suites (openssl s_server)


def test_enumerate_exact_tls12_suites(pki: Credential) -> None:
    with openssl_server(pki, "-no_tls1_3", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA") as port:
        scan = enumerate_suites(LOCAL, port, TlsVersion.TLS1_2, timeout=FAST)
    assert [s.openssl_name for s in scan.accepted] == ["ECDHE-RSA-AES128-GCM-SHA256", "AES128-SHA"]
    modern, legacy = scan.accepted
    assert modern.aead and modern.forward_secrecy and modern.in_default_policy
    assert not legacy.forward_secrecy and legacy.cbc and legacy.legacy and not legacy.in_default_policy
    assert scan.complete and scan.server_order is False  # s_server follows the client's order by default


def test_enumerate_follows_server_preference(pki: Credential) -> None:
    args = ("-no_tls1_3", "-serverpref", "-cipher", "AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256")
    with openssl_server(pki, *args) as port:
        scan = enumerate_suites(LOCAL, port, TlsVersion.TLS1_2, timeout=FAST)
    assert [s.openssl_name for s in scan.accepted] == ["AES128-SHA", "ECDHE-RSA-AES128-GCM-SHA256"]
    assert scan.server_order is True


def test_enumerate_single_tls13_suite(pki: Credential) -> None:
    with openssl_server(pki, "-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256") as port:
        scan = enumerate_suites(LOCAL, port, TlsVersion.TLS1_3, timeout=FAST)
        versions = probe_versions(LOCAL, port, timeout=FAST)
    assert [s.name for s in scan.accepted] == ["TLS_CHACHA20_POLY1305_SHA256"]
    assert scan.complete and scan.connections == 5
    assert versions.accepted == (TlsVersion.TLS1_3,)


def test_tls13_server_without_x25519_answers_hello_retry_request(pki: Credential) -> None:
    with openssl_server(pki, "-tls1_3", "-groups", "P-256") as port:
        probe = probe_version(LOCAL, port, TlsVersion.TLS1_3, timeout=FAST)
    assert probe.status is ProbeStatus.ACCEPTED and probe.reply_kind is ReplyKind.HELLO_RETRY
    assert probe.negotiated == TlsVersion.TLS1_3 and "0x0017" in probe.detail


def test_enumerate_tls13_on_tls12_only_server(stdlib_tls12: TcpServer) -> None:
    scan = enumerate_suites(LOCAL, stdlib_tls12.port, TlsVersion.TLS1_3, timeout=FAST)
    assert scan.accepted == () and scan.complete


# ---------------------------------------------------------------- ClientHello bytes


def _hello_extensions(record: bytes) -> tuple[int, dict[int, bytes]]:
    """(client_version, {extension type: body}) from one ClientHello record."""
    assert record[0] == 22
    assert struct.unpack("!H", record[3:5])[0] == len(record) - 5
    body = record[9:]
    assert record[5] == 1 and int.from_bytes(record[6:9], "big") == len(body)
    pos = 2 + 32
    pos += 1 + body[pos]
    pos += 2 + struct.unpack("!H", body[pos : pos + 2])[0]
    pos += 1 + body[pos]
    extensions: dict[int, bytes] = {}
    if pos < len(body):
        end = pos + 2 + struct.unpack("!H", body[pos : pos + 2])[0]
        assert end == len(body)
        pos += 2
        while pos < end:
            ext_type, length = struct.unpack("!HH", body[pos : pos + 4])
            extensions[ext_type] = body[pos + 4 : pos + 4 + length]
            pos += 4 + length
    return struct.unpack("!H", body[:2])[0], extensions


def test_tls13_hello_has_supported_versions_and_x25519_share() -> None:
    version, ext = _hello_extensions(build_client_hello((TlsVersion.TLS1_3,), ciphers.TLS13_SUITES, "clinic.test"))
    assert version == 0x0303
    assert ext[0x002B] == b"\x02\x03\x04"
    assert ext[0x0033][2:4] == b"\x00\x1d" and len(ext[0x0033]) == 2 + 4 + 32
    assert b"clinic.test" in ext[0x0000]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", None])
def test_no_sni_for_ip_addresses(host: str | None) -> None:
    _, ext = _hello_extensions(build_client_hello((TlsVersion.TLS1_2,), [0xC02F], host))
    assert 0x0000 not in ext and 0x000D in ext


def test_sslv3_hello_has_no_extensions() -> None:
    version, ext = _hello_extensions(build_client_hello((TlsVersion.SSL3,), [0x000A], "clinic.test"))
    assert version == 0x0300 and ext == {}


@pytest.mark.parametrize("version", list(TlsVersion))
def test_hello_sizes_avoid_the_256_to_511_byte_range(version: TlsVersion) -> None:
    record = build_client_hello((version,), ciphers.offered_suites(version), "clinic.test")
    assert not 256 <= len(record) - 5 < 512


# ---------------------------------------------------------------- reply parser on crafted bytes


def _record(content_type: int, payload: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", content_type, version, len(payload)) + payload


def _server_hello(
    version: int = 0x0303, cipher: int = 0xC02F, random: bytes | None = None, extensions: bytes | None = None
) -> bytes:
    body = struct.pack("!H", version) + (random or bytes(range(32))) + b"\x00" + struct.pack("!HB", cipher, 0)
    if extensions is not None:
        body += struct.pack("!H", len(extensions)) + extensions
    return b"\x02" + len(body).to_bytes(3, "big") + body


def _ext(ext_type: int, body: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(body)) + body


def test_server_hello_tls12() -> None:
    reply = parse_reply(_record(22, _server_hello()))
    assert reply is not None and reply.kind is ReplyKind.SERVER_HELLO
    assert (reply.version, reply.cipher, reply.compression) == (0x0303, 0xC02F, 0)
    assert reply.suite is by_name("ECDHE-RSA-AES128-GCM-SHA256")


def test_server_hello_tls13_reads_supported_versions() -> None:
    exts = _ext(0x002B, b"\x03\x04") + _ext(0x0033, b"\x00\x1d\x00\x20" + bytes(32))
    reply = parse_reply(_record(22, _server_hello(cipher=0x1301, extensions=exts)))
    assert reply is not None and reply.kind is ReplyKind.SERVER_HELLO
    assert (reply.version, reply.legacy_version, reply.selected_group) == (0x0304, 0x0303, 0x001D)


def test_hello_retry_request() -> None:
    exts = _ext(0x002B, b"\x03\x04") + _ext(0x0033, b"\x00\x17")
    reply = parse_reply(_record(22, _server_hello(cipher=0x1302, random=HRR_RANDOM, extensions=exts)))
    assert reply is not None and reply.kind is ReplyKind.HELLO_RETRY
    assert (reply.version, reply.cipher, reply.selected_group) == (0x0304, 0x1302, 0x0017)


def test_downgrade_marker_is_reported() -> None:
    random = bytes(24) + b"DOWNGRD\x01"
    reply = parse_reply(_record(22, _server_hello(random=random)))
    assert reply is not None and reply.downgrade_marker == "TLSv1.2"


def test_byte_by_byte_feeding_decides_only_at_the_end() -> None:
    data = _record(22, _server_hello(extensions=_ext(0xFF01, b"\x00")))
    reader = ReplyReader()
    results = [reader.feed(data[i : i + 1]) for i in range(len(data))]
    assert all(r is None for r in results[:-1])
    assert results[-1] is not None and results[-1].kind is ReplyKind.SERVER_HELLO


def test_server_hello_fragmented_across_records() -> None:
    message = _server_hello()
    data = _record(22, message[:10]) + _record(22, message[10:])
    assert parse_reply(data[:-1]) is None
    reply = parse_reply(data)
    assert reply is not None and reply.kind is ReplyKind.SERVER_HELLO and reply.cipher == 0xC02F


def test_truncated_server_hello() -> None:
    data = _record(22, _server_hello())[:-3]
    assert parse_reply(data) is None
    reply = parse_reply(data, eof=True)
    assert reply is not None and reply.kind is ReplyKind.TRUNCATED
    reader = ReplyReader()
    assert reader.feed(data) is None
    reset = reader.finish(ReplyKind.RESET)
    assert reset.kind is ReplyKind.TRUNCATED and "reset" in reset.detail


def test_server_hello_with_lying_lengths_is_malformed() -> None:
    message = bytearray(_server_hello(extensions=_ext(0x002B, b"\x03\x04")))
    message[4 + 2 + 32] = 200  # session id length far beyond the message
    reply = parse_reply(_record(22, bytes(message)))
    assert reply is not None and reply.kind is ReplyKind.MALFORMED


@pytest.mark.parametrize(
    ("level", "description", "name"),
    [(2, 70, "protocol_version"), (2, 40, "handshake_failure"), (1, 112, "unrecognized_name"), (2, 250, "alert_250")],
)
def test_alert_parsing(level: int, description: int, name: str) -> None:
    reply = parse_reply(_record(21, bytes([level, description]), version=0x0300))
    assert reply is not None and reply.kind is ReplyKind.ALERT
    assert (reply.alert_level, reply.alert, reply.legacy_version) == (level, name, 0x0300)


@pytest.mark.parametrize(
    ("data", "eof", "kind"),
    [
        (b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n", False, ReplyKind.PLAIN_HTTP),
        (b"<!DOCTYPE HTML>\n<html lang=en>", False, ReplyKind.PLAIN_HTTP),
        (b"<!DOC", False, None),
        (b"HTT", False, None),
        (b"HTT", True, ReplyKind.NOT_TLS),
        (b"SSH-2.0-OpenSSH_9.2\r\n", False, ReplyKind.NOT_TLS),
        (b"\x80\x2e\x04\x00\x01\x00\x02\x00\x00", False, ReplyKind.SSLV2),
        (b"\x80\x03\x00\x00\x01", False, ReplyKind.SSLV2),
        (b"\x16\x03", False, None),
        (b"\x16\x03", True, ReplyKind.NOT_TLS),
        (b"\x16\x07\x01\x00\x05hello", False, ReplyKind.MALFORMED),
        (_record(23, b"data"), False, ReplyKind.MALFORMED),
        (_record(22, b"\x0b\x00\x00\x00"), False, ReplyKind.MALFORMED),
        (b"", True, ReplyKind.CLOSED),
        (b"", False, None),
    ],
)
def test_non_server_hello_answers(data: bytes, eof: bool, kind: ReplyKind | None) -> None:
    reply = parse_reply(data, eof=eof)
    assert (reply.kind if reply else None) is kind


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(min_value=1, max_value=64), max_size=20))
def test_garbage_never_raises(data: bytes, cuts: list[int]) -> None:
    final = parse_reply(data, eof=True)
    assert final is not None
    reader, pos, decided = ReplyReader(), 0, None
    for cut in [*cuts, len(data)]:
        if decided is None and pos < len(data):
            decided = reader.feed(data[pos : pos + cut])
            pos += cut
    outcome = decided or reader.finish(ReplyKind.CLOSED)
    assert outcome.kind is final.kind


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_garbage_after_tls_header_never_raises(tail: bytes) -> None:
    for prefix in (b"\x16\x03\x03", b"\x16\x03\x03\x00\x40\x02\x00\x00", b"\x15\x03\x01"):
        assert parse_reply(prefix + tail, eof=True) is not None
        parse_reply(prefix + tail)


# ---------------------------------------------------------------- catalogue


def test_catalogue_is_consistent() -> None:
    codes = [s.code for s in ciphers.CIPHER_SUITES]
    assert len(codes) == len(set(codes)) >= 80
    assert {s.code for s in ciphers.TLS13_SUITES} == {0x1301, 0x1302, 0x1303, 0x1304, 0x1305}
    policy = {s.openssl_name or s.name for s in ciphers.CIPHER_SUITES if s.in_default_policy}
    assert "ECDHE-ECDSA-CHACHA20-POLY1305" in policy and "DHE-RSA-AES256-GCM-SHA384" in policy
    assert all(s.aead and s.forward_secrecy for s in ciphers.CIPHER_SUITES if s.in_default_policy)
    assert by_code(0xFFFF) is None


@pytest.mark.parametrize(
    ("name", "weaknesses"),
    [
        ("EXP-RC4-MD5", {Weakness.EXPORT, Weakness.RC4}),
        ("DES-CBC3-SHA", {Weakness.TRIPLE_DES}),
        ("ADH-AES128-SHA", {Weakness.ANON}),
        ("NULL-SHA256", {Weakness.NULL}),
        ("EDH-RSA-DES-CBC-SHA", {Weakness.DES}),
        ("ECDHE-RSA-AES128-SHA", set()),
    ],
)
def test_weakness_flags(name: str, weaknesses: set[Weakness]) -> None:
    suite = by_name(name)
    assert suite is not None and set(suite.weaknesses) == weaknesses
    assert suite.legacy is (name == "ECDHE-RSA-AES128-SHA")

"""The test PKI issues certificates that strict X.509 verification accepts, and mutual TLS works with them."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from s24kit.simulator.pki import ROLES, ensure_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return ensure_pki(tmp_path_factory.mktemp("pki"))


def _handshake(pki, server_role: str, client_role: str | None) -> str:
    """Run one TLS handshake over a socket pair; return "ok" or the error class the client saw."""
    server_ctx = pki.server_context(server_role)
    client_ctx = pki.client_context(client_role)
    left, right = socket.socketpair()
    outcome: dict[str, str] = {}

    def serve():
        try:
            with server_ctx.wrap_socket(left, server_side=True) as tls:
                tls.recv(1)
                tls.sendall(b"k")
        except (ssl.SSLError, OSError) as exc:
            outcome["server"] = type(exc).__name__

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with client_ctx.wrap_socket(right, server_hostname="localhost") as tls:
            tls.sendall(b"x")
            # TLS 1.3 reports a refused client certificate only on the first read.
            return "ok" if tls.recv(1) == b"k" else "closed"
    except (ssl.SSLError, OSError) as exc:
        return type(exc).__name__
    finally:
        thread.join(5)


def test_every_role_has_the_right_key_usage(pki):
    for role, (server, client) in ROLES.items():
        cert = x509.load_pem_x509_certificate(pki[role].cert.read_bytes())
        usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        assert (ExtendedKeyUsageOID.SERVER_AUTH in usages) == server
        assert (ExtendedKeyUsageOID.CLIENT_AUTH in usages) == client
        assert oct(pki[role].key.stat().st_mode)[-3:] == "600"


def test_mutual_tls_with_strict_verification(pki):
    assert _handshake(pki, "provider-server", "relay-client") == "ok"


def test_server_refuses_a_client_without_certificate(pki):
    assert _handshake(pki, "provider-server", None) != "ok"


def test_server_certificate_cannot_act_as_client(pki):
    assert _handshake(pki, "provider-server", "relay-server") != "ok"


def test_reused_while_valid_and_reissued_when_damaged(tmp_path):
    first = ensure_pki(tmp_path)
    ca_before = first.ca_cert.read_bytes()
    assert ensure_pki(tmp_path).ca_cert.read_bytes() == ca_before
    first["relay-client"].cert.write_text("garbage")
    again = ensure_pki(tmp_path)
    assert again.ca_cert.read_bytes() == ca_before
    x509.load_pem_x509_certificate(again["relay-client"].cert.read_bytes())

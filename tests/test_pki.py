"""The test PKI issues certificates that strict X.509 verification accepts, and mutual TLS works with them."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import subprocess
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from s24kit.simulator.pki import ROLES, certificate_insurer, certificate_role, ensure_pki, issue


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
    for role, (_, server, client) in ROLES.items():
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


def test_each_certificate_carries_its_role_and_insurers_their_code(pki):
    for name, (role, _, _) in ROLES.items():
        pem = pki[name].cert.read_text()
        assert certificate_role(pem) == role and certificate_insurer(pem) is None
    assert certificate_role(pki["relay-client"].cert.read_text()) == "relay"
    insa = pki.insurer_client("INSA").cert.read_text()
    assert (certificate_role(insa), certificate_insurer(insa)) == ("insurer", "INSA")
    assert pki["insurer-client-INSB"].cert.name == "insurer-client-INSB.pem"  # issued on demand by name too
    assert certificate_role(pki.ca_cert.read_text()) is None and certificate_role(None) is None
    with pytest.raises(ValueError, match="insurer code"):
        pki.insurer_client("../x")


def test_leaves_come_through_an_intermediate_and_pass_openssl_strict(pki):
    root = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    for name in [*ROLES, "insurer-client-INSA"]:
        chain = x509.load_pem_x509_certificates(pki[name].cert.read_bytes())
        assert len(chain) == 2 and chain[1].subject != root.subject and chain[1].issuer == root.subject
        done = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(pki.ca_cert), "-untrusted",
                               str(pki[name].cert), str(pki[name].cert)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    subject = ["openssl", "x509", "-noout", "-subject", "-in", str(pki["relay-client"].cert)]
    assert "OU = relay," in subprocess.run(subject, capture_output=True, text=True).stdout


def _old_layout(folder):
    """A state directory as kits before roles wrote it: a root allowing no CA below it, leaves without OU."""
    folder.mkdir()
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old CA")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=700))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(ski, critical=False).sign(key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "ca.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    for stem in ROLES:
        cert, leaf_key = issue(ca, key, f"{stem}.s24kit.test", hosts=(), server=True, client=True, now=now)
        (folder / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / f"{stem}.key").write_bytes(leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def test_an_old_state_directory_without_roles_is_reissued(tmp_path):
    _old_layout(tmp_path / "pki")
    assert certificate_role((tmp_path / "pki" / "relay-client.pem").read_text()) is None
    pki = ensure_pki(tmp_path / "pki")
    for name, (role, _, _) in ROLES.items():
        assert certificate_role(pki[name].cert.read_text()) == role
    assert _handshake(pki, "provider-server", "relay-client") == "ok"

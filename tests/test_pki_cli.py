"""``s24kit pki``: server certificates for a vendor's own host (EC or RSA), the inventory, the exported files a
connector's server loads (PEM, PKCS#12, Java trust store) — and that a server built from them accepts the relay's
client certificate and refuses others. ``s24kit check`` names the CA and certificate it uses and warns about a
PKI it has just created."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from s24kit.conformance.cli import main
from s24kit.simulator.pki import certificate_role, ensure_pki

from .conftest import generated_scenario


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> str:
    """One TLS exchange over a socket pair: "ok", or the error class the client saw."""
    left, right = socket.socketpair()

    def serve() -> None:
        try:
            with server.wrap_socket(left, server_side=True) as tls:
                tls.recv(1)
                tls.sendall(b"k")
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with client.wrap_socket(right, server_hostname=hostname) as tls:
            tls.sendall(b"x")
            return "ok" if tls.recv(1) == b"k" else "closed"  # TLS 1.3: a refused client certificate shows here
    except (ssl.SSLError, OSError) as exc:
        return type(exc).__name__
    finally:
        thread.join(5)


def _vendor_server(certs: Path) -> ssl.SSLContext:
    """A server configured only from the exported folder, as a vendor's connector would be."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "server.pem", certs / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(certs / "ca.pem")
    return context


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_issue_writes_a_server_certificate_for_the_hosts_given(state: Path, key_type: str) -> None:
    code, out, err = _run("pki", "issue", "clinic-test.lan", "192.168.0.10", "--key-type", key_type,
                          "--state", str(state))
    assert code == 0, err
    pem = state / "pki" / "issued" / "clinic-test.lan.pem"
    assert str(pem.resolve()) in out
    leaf, intermediate = x509.load_pem_x509_certificates(pem.read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["clinic-test.lan"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["192.168.0.10"]
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey if key_type == "rsa" else ec.EllipticCurvePublicKey)
    assert certificate_role(pem.read_text()) == "provider-server"
    assert leaf.fingerprint(hashes.SHA256()).hex() in out
    assert intermediate.subject == x509.load_pem_x509_certificate((state / "pki/intermediate.pem").read_bytes()).subject
    assert oct((state / "pki/issued/clinic-test.lan.key").stat().st_mode)[-3:] == "600"


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_a_server_built_from_the_export_accepts_the_relay_and_refuses_a_stranger(state: Path, tmp_path: Path,
                                                                                 key_type: str) -> None:
    assert _run("pki", "issue", "clinic-test.lan", "--key-type", key_type, "--state", str(state))[0] == 0
    code, _, err = _run("pki", "export", "--server", "clinic-test.lan", "--out", str(tmp_path / "certs"),
                          "--state", str(state))
    assert code == 0, err
    kit = ensure_pki(state / "pki")
    relay = kit.client_context("relay-client")
    assert _handshake(_vendor_server(tmp_path / "certs"), relay, "clinic-test.lan") == "ok"
    stranger = ensure_pki(tmp_path / "other-pki")  # another CA's client certificate, trusting our server
    client = ssl.create_default_context(cafile=str(kit.ca_cert))
    client.load_cert_chain(stranger["relay-client"].cert, stranger["relay-client"].key)
    assert _handshake(_vendor_server(tmp_path / "certs"), client, "clinic-test.lan") != "ok"
    assert _handshake(_vendor_server(tmp_path / "certs"), relay, "other-name.lan") != "ok"  # name is checked


def test_the_pkcs12_files_hold_the_chain_and_key_under_the_password(state: Path, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    code, _, err = _run("pki", "export", "--agent", "--password", "s3cret!", "--out", str(certs),
                          "--state", str(state))
    assert code == 0, err
    kit = ensure_pki(state / "pki")
    bundle = pkcs12.load_pkcs12((certs / "server.p12").read_bytes(), b"s3cret!")
    assert bundle.cert is not None and bundle.key is not None
    assert bundle.cert.certificate == x509.load_pem_x509_certificates(kit["provider-server"].cert.read_bytes())[0]
    assert bundle.cert.friendly_name == b"server"
    assert [c.certificate.subject.rfc4514_string() for c in bundle.additional_certs] == [
        "CN=silson24-kit test intermediate CA,O=silson24-kit TEST ONLY"]
    assert bundle.key.public_key() == bundle.cert.certificate.public_key()
    agent = pkcs12.load_pkcs12((certs / "agent.p12").read_bytes(), b"s3cret!")
    assert agent.cert is not None
    assert certificate_role(agent.cert.certificate.public_bytes(Encoding.PEM).decode()) == "provider-agent"
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12((certs / "server.p12").read_bytes(), b"changeit")
    trust = pkcs12.load_pkcs12((certs / "truststore.p12").read_bytes(), b"s3cret!")
    assert trust.key is None
    assert [c.certificate for c in trust.additional_certs] == [x509.load_pem_x509_certificate(kit.ca_cert.read_bytes())]
    info = subprocess.run(["openssl", "pkcs12", "-in", str(certs / "truststore.p12"), "-passin", "pass:s3cret!",
                           "-nokeys", "-info"], capture_output=True, text=True, check=True)
    assert "2.16.840.1.113894.746875.1.1" in info.stdout  # Java's "trusted certificate" bag attribute
    assert (certs / "ca.pem").read_bytes() == kit.ca_cert.read_bytes()


@pytest.mark.skipif(shutil.which("keytool") is None, reason="no Java keytool on this machine (optional cross-check)")
def test_java_reads_the_trust_store_and_the_keystore(state: Path, tmp_path: Path) -> None:
    assert _run("pki", "export", "--out", str(tmp_path / "c"), "--state", str(state))[0] == 0
    trust = subprocess.run(["keytool", "-list", "-keystore", str(tmp_path / "c/truststore.p12"), "-storepass",
                            "changeit"], capture_output=True, text=True)
    keys = subprocess.run(["keytool", "-list", "-keystore", str(tmp_path / "c/server.p12"), "-storepass",
                           "changeit"], capture_output=True, text=True)
    assert "trustedCertEntry" in trust.stdout, trust.stdout + trust.stderr
    assert "PrivateKeyEntry" in keys.stdout, keys.stdout + keys.stderr


def test_show_lists_every_certificate_with_path_fingerprint_and_expiry(state: Path) -> None:
    assert _run("pki", "issue", "192.168.0.10", "--name", "lab", "--state", str(state))[0] == 0
    code, out, err = _run("pki", "show", "--format", "json", "--state", str(state))
    assert code == 0, err
    listed = {entry["name"]: entry for entry in json.loads(out)}
    assert list(listed) == ["ca", "intermediate", "relay-client", "provider-agent", "provider-server", "lab"]
    kit = ensure_pki(state / "pki")
    assert listed["relay-client"]["sha256"] == kit["relay-client"].sha256()
    assert listed["relay-client"]["path"] == str(kit["relay-client"].cert.resolve())
    assert listed["lab"]["hosts"] == ["192.168.0.10"] and listed["lab"]["issued"] and listed["lab"]["current"]
    assert listed["ca"]["kind"] == "root" and listed["ca"]["not_after"] > listed["relay-client"]["not_after"][:4]
    code, table, _ = _run("pki", "show", "--state", str(state))
    assert code == 0 and "시험 PKI" in table and "만료" in table and kit["relay-client"].sha256()[:20] in table
    assert "Test PKI" in _run("pki", "show", "--lang", "en", "--state", str(state))[1]


def test_show_flags_a_certificate_the_current_ca_did_not_issue(state: Path) -> None:
    assert _run("pki", "issue", "old-host.lan", "--state", str(state))[0] == 0
    for name in ("ca", "intermediate"):  # a new CA, as after deleting the old one; the issued file stays
        (state / "pki" / f"{name}.pem").unlink()
    listed = {e["name"]: e for e in json.loads(_run("pki", "show", "--format", "json", "--state", str(state))[1])}
    assert listed["old-host.lan"]["current"] is False and listed["relay-client"]["current"] is True
    assert "다시 발급" in _run("pki", "show", "--state", str(state))[1]


@pytest.mark.parametrize("argv, names", [
    (("pki", "issue", "bad host"), ("HOST",)),
    (("pki", "issue", "a.lan", "--name", "../escape"), ("--name",)),
    (("pki", "issue", "a.lan", "--name", "relay-client"), ("--name",)),
    (("pki", "export", "--server", "nobody", "--out", "x"), ("--server", "provider-server")),
    (("pki", "export", "--password", "", "--out", "x"), ("--password",)),
])
def test_bad_pki_arguments_get_one_line(state: Path, tmp_path: Path, argv: tuple[str, ...],
                                        names: tuple[str, ...]) -> None:
    argv = tuple(str(tmp_path / a) if a == "x" else a for a in argv)
    code, out, err = _run(*argv, "--state", str(state))
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1 and "오류:" in err and "error:" in err
    assert all(name in err for name in names)


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", "3")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_check_names_its_ca_and_certificate_and_warns_about_a_new_pki(scenario_dir: Path, state: Path,
                                                                      tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{_closed_port()}"
    argv = ("check", "--target", url, "--scenario", str(scenario_dir), "--state", str(state), "--quiet",
            "--out", str(tmp_path / "r"))
    first = CliRunner().invoke(main, [*argv, "--lang", "en"])
    assert first.exit_code == 3
    kit = ensure_pki(state / "pki")
    assert f"trusted CA (verifies your connector's server certificate): {kit.ca_cert.resolve()}" in first.stdout
    assert kit["relay-client"].sha256() in first.stdout
    assert "warning: a new test PKI was just created" in first.stdout and "s24kit pki export" in first.stdout
    again = CliRunner().invoke(main, list(argv))
    assert "신뢰하는 CA" in again.stdout and "경고" not in again.stdout
    given = CliRunner().invoke(main, [*argv, "--lang", "en", "--ca", str(kit.ca_cert)])
    assert f"{kit.ca_cert.resolve()} — option --ca" in given.stdout


def test_check_in_agent_mode_names_the_relay_server_certificate_and_the_agents_ca(scenario_dir: Path, state: Path,
                                                                                 tmp_path: Path) -> None:
    listen = f"127.0.0.1:{_closed_port()}"
    result = CliRunner().invoke(main, ["check", "--role", "provider_agent", "--listen", listen, "--agent-wait", "0.2",
                                       "--scenario", str(scenario_dir), "--state", str(state), "--quiet",
                                       "--lang", "en", "--out", str(tmp_path / "r")])
    assert result.exit_code == 3  # no agent polled
    kit = ensure_pki(state / "pki")
    assert f"trusted CA (verifies the agent's client certificate): {kit.ca_cert.resolve()}" in result.stdout
    assert f"relay server certificate: {kit['relay-server'].cert.resolve()}" in result.stdout
    assert "warning: a new test PKI was just created" in result.stdout

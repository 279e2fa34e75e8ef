"""The kit's test PKI: a CA and the certificates every simulated party needs, kept in a state directory.

Certificates are EC P-256 / ECDSA-SHA256, carry SAN, key usage, extended key usage, subject and authority
key identifiers, and pass OpenSSL's strict X.509 checks (``VERIFY_X509_STRICT``). They are reused while
valid for at least ``RENEW_BEFORE`` and reissued otherwise. Nothing here is fit for production use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
LIFETIME = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
ORG = "silson24-kit TEST ONLY"

#: Name of each credential in the state directory, and what it may be used for.
ROLES: dict[str, tuple[bool, bool]] = {  # name: (serverAuth, clientAuth)
    "relay-client": (False, True),
    "relay-server": (True, False),
    "provider-server": (True, False),
    "provider-agent": (False, True),
    "insurer-server": (True, False),
}


@dataclass(frozen=True, slots=True)
class Credential:
    """A certificate and its private key on disk (PEM)."""

    cert: Path
    key: Path

    def sha256(self) -> str:
        """Hex SHA-256 of the certificate's DER: what the relay registers to pin it."""
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(self.cert.read_text())).hexdigest()


@dataclass(frozen=True, slots=True)
class TestPKI:
    """Paths of the CA bundle and every role's credential."""

    directory: Path
    ca_cert: Path
    credentials: dict[str, Credential]

    def __getitem__(self, role: str) -> Credential:
        return self.credentials[role]

    def server_context(self, role: str, *, require_client_cert: bool = True,
                       ask_client_cert: bool = False) -> ssl.SSLContext:
        """TLS 1.2+ server context; with ``require_client_cert`` it demands a certificate from the kit's CA,
        with ``ask_client_cert`` it verifies one when offered but lets clients without one in."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")  # TLS 1.2: Mozilla intermediate 6.0, AEAD only
        context.load_cert_chain(self[role].cert, self[role].key)
        if require_client_cert or ask_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
            context.load_verify_locations(self.ca_cert)
        return context

    def client_context(self, role: str | None = "relay-client") -> ssl.SSLContext:
        """TLS 1.2+ client context trusting the kit's CA, presenting ``role``'s certificate if given."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_flags |= ssl.VERIFY_X509_STRICT
        if role is not None:
            context.load_cert_chain(self[role].cert, self[role].key)
        return context


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def general_names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    """Subject alternative names for host names and IP addresses (an IP is never written as a DNS name)."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _make_ca(directory: Path, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("silson24-kit test CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + LIFETIME * 2)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256()))
    (directory / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, directory / "ca.key")
    return cert, key


def issue(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, common_name: str, *,
          hosts: tuple[str, ...], server: bool, client: bool, now: dt.datetime,
          lifetime: dt.timedelta = LIFETIME) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf certificate signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    wanted = ((ExtendedKeyUsageOID.SERVER_AUTH, server), (ExtendedKeyUsageOID.CLIENT_AUTH, client))
    usages = [oid for oid, use in wanted if use]
    builder = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + lifetime)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names(hosts)), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _usable(path: Path, now: dt.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - now > RENEW_BEFORE


class PkiError(RuntimeError):
    """A certificate or key in the state directory cannot be used; says which file and how to recover."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.message_ko = (f"{path}: 인증서 또는 키 파일을 쓸 수 없습니다 (손상되었거나 짝이 맞지 않음). "
                           f"{path.parent} 폴더를 지우면 새로 만듭니다")
        self.message_en = (f"{path}: unusable certificate or key (damaged or not a pair); delete {path.parent} "
                           "and the kit makes new ones")
        super().__init__(f"{self.message_ko} / {self.message_en}")


def ensure_pki(directory: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> TestPKI:
    """Create (or reuse) the CA and every role's credential under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = _now()
    ca_path, ca_key_path = directory / "ca.pem", directory / "ca.key"
    if _usable(ca_path, now) and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        try:
            ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        except (ValueError, TypeError):
            raise PkiError(ca_key_path) from None
        fresh = False
    else:
        ca_cert, ca_key = _make_ca(directory, now)
        fresh = True
    credentials = {}
    for role, (server, client) in ROLES.items():
        cred = Credential(directory / f"{role}.pem", directory / f"{role}.key")
        if fresh or not (_usable(cred.cert, now) and cred.key.exists()):
            cert, key = issue(ca_cert, ca_key, f"{role}.s24kit.test", hosts=hosts if server else (),
                              server=server, client=client, now=now)
            cred.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            _write_key(key, cred.key)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cred.cert, cred.key)
        except (ssl.SSLError, OSError):
            raise PkiError(cred.key) from None
        credentials[role] = cred
    return TestPKI(directory, ca_path, credentials)

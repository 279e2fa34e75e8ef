"""What the test PKI holds, described for people, and what a vendor's server needs, exported in its formats.

:func:`inventory` lists the root, the intermediate, the relay's client certificate, the provider agent's and
the provider server certificates (the kit's own and those issued for vendors' hosts) with their files, SHA-256
fingerprints, expiry and names. :func:`export` writes what a connector needs into one folder: the CA bundle
that verifies the relay's client certificate, the server certificate chain and key as PEM and PKCS#12 (Java's
keystores, .NET's ``X509Certificate2``), the CA as a Java trust store, optionally the agent's client
certificate. Nothing here is fit for production use.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from .pki import Credential, TestPKI, issued_by
from .private import FILE_MODE, private_directory

#: (what, file name in the state's pki/ folder) of the kit's own certificates a vendor meets, in table order.
KIT_CERTIFICATES = (("ca", "ca.pem"), ("intermediate", "intermediate.pem"), ("relay-client", "relay-client.pem"),
                    ("provider-agent", "provider-agent.pem"), ("provider-server", "provider-server.pem"))


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """One certificate of the test PKI as ``s24kit pki show`` lists it."""

    name: str  # ca, intermediate, relay-client, provider-agent, provider-server, or an issued certificate's name
    kind: str  # root, intermediate, client, server
    issued: bool  # issued for a vendor's host (``s24kit pki issue``)
    path: Path
    key: Path | None
    sha256: str
    not_after: dt.datetime
    subject: str
    hosts: tuple[str, ...]
    key_type: str  # "EC P-256", "RSA 2048"
    current: bool  # issued by the current intermediate (or the root itself): the suite's CA trusts it

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "issued": self.issued, "path": str(self.path.resolve()),
                "key": str(self.key.resolve()) if self.key else None, "sha256": self.sha256,
                "not_after": self.not_after.isoformat(), "subject": self.subject, "hosts": list(self.hosts),
                "key_type": self.key_type, "current": self.current}


def _certificates(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _key_type(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "EC P-256", "secp384r1": "EC P-384"}.get(key.curve.name, f"EC {key.curve.name}")
    return type(key).__name__


def _hosts(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return (*names.get_values_for_type(x509.DNSName), *(str(ip) for ip in names.get_values_for_type(x509.IPAddress)))


def _kind(cert: x509.Certificate) -> str:
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    if constraints.ca:
        return "root" if cert.issuer == cert.subject else "intermediate"
    usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    return "server" if x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usages else "client"


def _facts(name: str, path: Path, key: Path | None, issuer: x509.Certificate, *, issued: bool) -> CertificateFacts:
    cert = _certificates(path)[0]
    kind = _kind(cert)
    current = cert == issuer or issued_by(cert, issuer)
    return CertificateFacts(name, kind, issued, path, key if key and key.exists() else None,
                            cert.fingerprint(hashes.SHA256()).hex(), cert.not_valid_after_utc,
                            cert.subject.rfc4514_string(), _hosts(cert), _key_type(cert), current)


def inventory(pki: TestPKI) -> list[CertificateFacts]:
    """The kit's certificates a vendor meets, then every issued server certificate, each with its facts."""
    root = _certificates(pki.ca_cert)[0]
    intermediate = _certificates(pki.directory / "intermediate.pem")[0]
    out = []
    for name, file in KIT_CERTIFICATES:
        path = pki.directory / file
        issuer = root if name in ("ca", "intermediate") else intermediate
        out.append(_facts(name, path, path.with_suffix(".key"), issuer, issued=False))
    for name, cred in pki.issued().items():
        out.append(_facts(name, cred.cert, cred.key, intermediate, issued=True))
    return out


def _write(path: Path, data: bytes, *, secret: bool = False) -> Path:
    path.write_bytes(data)
    if secret:
        path.chmod(FILE_MODE)
    return path


def _p12(name: str, cred: Credential, password: bytes) -> bytes:
    """Key, leaf and intermediate in one PKCS#12 (AES-256 with PBKDF2: what Java 11+ and .NET read)."""
    key = serialization.load_pem_private_key(cred.key.read_bytes(), password=None)
    leaf, *chain = _certificates(cred.cert)
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(50_000)
                  .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
                  .build(password))
    return pkcs12.serialize_key_and_certificates(name.encode(), key, leaf, chain, encryption)  # type: ignore[arg-type]


def export(pki: TestPKI, out: Path, *, server: Credential, agent: bool, password: str) -> dict[str, Path]:
    """Write what a connector needs into ``out`` (created owner-only); returns file role → path.

    ``ca.pem`` trusts the relay's client certificate (and, for an agent, the relay's server); ``server.pem`` is
    the server certificate followed by the intermediate, ``server.key`` its key, ``server.p12`` both (alias
    ``server``), ``truststore.p12`` the CA as a Java trust store; with ``agent`` also the agent's client
    certificate as ``agent.pem``/``agent.key``/``agent.p12``."""
    private_directory(out)
    secret = password.encode()
    root = pki.ca_cert.read_bytes()
    files = {
        "ca": _write(out / "ca.pem", root),
        "server_chain": _write(out / "server.pem", server.cert.read_bytes()),
        "server_key": _write(out / "server.key", server.key.read_bytes(), secret=True),
        "server_p12": _write(out / "server.p12", _p12("server", server, secret), secret=True),
        "truststore_p12": _write(out / "truststore.p12", pkcs12.serialize_java_truststore(
            [pkcs12.PKCS12Certificate(_certificates(pki.ca_cert)[0], b"s24kit-test-ca")],
            serialization.BestAvailableEncryption(secret))),
    }
    if agent:
        own = pki["provider-agent"]
        files["agent_chain"] = _write(out / "agent.pem", own.cert.read_bytes())
        files["agent_key"] = _write(out / "agent.key", own.key.read_bytes(), secret=True)
        files["agent_p12"] = _write(out / "agent.p12", _p12("agent", own, secret), secret=True)
    return files

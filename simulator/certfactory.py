"""A certificate factory for good and deliberately broken certificates (test use only).

The kit's own TLS tests use it, the mTLS checks use it at run time (a foreign CA, an expired client
certificate, one without clientAuth), and vendors may use it for their own negative tests::

    factory = CertFactory()
    root = factory.ca("Test Root")
    inter = factory.ca("Test Intermediate", issuer=root)
    good = factory.leaf(inter, "clinic.test", hosts=("clinic.test", "127.0.0.1"))
    good.write(tmp, "server")                       # server.pem (leaf + intermediate), server.key
    factory.leaf(inter, "clinic.test", days_left=-1)  # expired; see `leaf` for the other knobs

Keys are EC P-256 unless asked otherwise; signatures SHA-256. SHA-1 signatures come from the ``openssl``
command, because `cryptography` refuses to sign with SHA-1.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from .pki import Credential, general_names

ORG = "silson24-kit TEST ONLY"
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1, "P-224": ec.SECP224R1,
           "secp256k1": ec.SECP256K1}


class CertFactoryError(RuntimeError):
    """A certificate could not be made (for example: SHA-1 asked for and no ``openssl`` command)."""


@dataclass(frozen=True)
class Issued:
    """A certificate, its key, and the certificates above it up to (not including) the root."""

    cert: x509.Certificate
    key: PrivateKey
    intermediates: tuple[x509.Certificate, ...] = ()

    @property
    def is_ca(self) -> bool:
        try:
            return self.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            return False

    def cert_pem(self, *, with_chain: bool = True) -> bytes:
        certs = (self.cert, *self.intermediates) if with_chain else (self.cert,)
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def write(self, directory: Path, stem: str, *, with_chain: bool = True) -> Credential:
        """Write ``stem.pem`` (certificate, then intermediates unless `with_chain` is False) and ``stem.key``."""
        directory.mkdir(parents=True, exist_ok=True)
        cred = Credential(directory / f"{stem}.pem", directory / f"{stem}.key")
        cred.cert.write_bytes(self.cert_pem(with_chain=with_chain))
        cred.key.write_bytes(self.key_pem())
        cred.key.chmod(0o600)
        return cred


def write_bundle(path: Path, *certs: x509.Certificate | Issued) -> Path:
    """A PEM bundle (for example the anchors the relay trusts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    items = [c.cert if isinstance(c, Issued) else c for c in certs]
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in items))
    return path


def new_key(kind: str = "ec", *, bits: int = 2048, curve: str = "P-256") -> PrivateKey:
    """An RSA key of `bits` (1024 works: it is for negative tests) or an EC key on `curve`."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == "ec":
        return ec.generate_private_key(_CURVES[curve]())
    raise ValueError(f"key kind must be 'ec' or 'rsa', not {kind!r}")


def _name(common_name: str | None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG)]
    if common_name:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _key_usage(*, ca: bool, rsa_key: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=rsa_key and not ca,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


Extension = tuple[x509.ExtensionType, bool]  # (value, critical)


def _build(subject: x509.Name, issuer: x509.Name, key: PrivateKey, not_before: dt.datetime,
           not_after: dt.datetime, extensions: list[Extension]) -> x509.CertificateBuilder:
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after))
    for value, critical in extensions:
        builder = builder.add_extension(value, critical=critical)
    return builder


def _key_ids(key: PrivateKey, signer_key: PrivateKey) -> list[Extension]:
    return [(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False)]


class CertFactory:
    """Makes CAs and leaves relative to one clock (`now`), so tests are reproducible within a run."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(dt.UTC)

    def ca(self, common_name: str = "Test Root CA", *, issuer: Issued | None = None, key: PrivateKey | None = None,
           days: int = 3650, path_length: int | None = None) -> Issued:
        """A root CA (self-signed) or, with `issuer`, an intermediate CA under it."""
        key = key or new_key()
        signer_key = issuer.key if issuer else key
        extensions: list[Extension] = [
            (x509.BasicConstraints(ca=True, path_length=path_length), True),
            (_key_usage(ca=True, rsa_key=False), True),
            *_key_ids(key, signer_key),
        ]
        name = _name(common_name)
        builder = _build(name, issuer.cert.subject if issuer else name, key, self.now - dt.timedelta(days=1),
                         self.now + dt.timedelta(days=days), extensions)
        return Issued(builder.sign(signer_key, hashes.SHA256()), key, _chain_above(issuer))

    def leaf(
        self,
        issuer: Issued | None,
        common_name: str | None = "clinic.test",
        *,
        hosts: tuple[str, ...] | None = None,
        server: bool = True,
        client: bool = False,
        eku: bool = True,
        key: PrivateKey | None = None,
        days_before: float | None = None,
        days_left: float = 90,
        san: bool = True,
        san_critical: bool = False,
        is_ca: bool = False,
        key_usage: bool = True,
        aia_ca_issuers: str | None = None,
        sha1: bool = False,
    ) -> Issued:
        """An end-entity certificate signed by `issuer` (None: self-signed).

        Validity runs from `days_before` days ago (default: 1, or 90 days before the end of an expired
        one) to `days_left` days from now (negative: expired; `days_before` negative: not yet valid).
        `hosts` (default: the common name) become the SAN unless `san` is False. `server`/`client`
        choose the EKU purposes; `eku=False` leaves EKU out.
        """
        key = key or new_key()
        hosts = hosts if hosts is not None else ((common_name,) if common_name else ())
        extensions: list[Extension] = [(x509.BasicConstraints(ca=is_ca, path_length=None), True)]
        if key_usage:
            extensions.append((_key_usage(ca=is_ca, rsa_key=isinstance(key, rsa.RSAPrivateKey)), True))
        usages = [oid for oid, on in ((ExtendedKeyUsageOID.SERVER_AUTH, server),
                                      (ExtendedKeyUsageOID.CLIENT_AUTH, client)) if on]
        if eku and usages:
            extensions.append((x509.ExtendedKeyUsage(usages), False))
        if san and hosts:
            extensions.append((x509.SubjectAlternativeName(general_names(hosts)), san_critical))
        if aia_ca_issuers:
            access = x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                            x509.UniformResourceIdentifier(aia_ca_issuers))
            extensions.append((x509.AuthorityInformationAccess([access]), False))
        name = _name(common_name)
        if days_before is None:
            days_before = max(1.0, 90 - days_left)
        not_before = self.now - dt.timedelta(days=days_before)
        not_after = self.now + dt.timedelta(days=days_left)
        if sha1:  # openssl adds the key identifiers itself
            draft = _build(name, name, key, not_before, not_after, extensions).sign(key, hashes.SHA256())
            return Issued(_sign_sha1(draft, issuer or Issued(draft, key)), key, _chain_above(issuer))
        signer_key = issuer.key if issuer else key
        builder = _build(name, issuer.cert.subject if issuer else name, key, not_before, not_after,
                         [*extensions, *_key_ids(key, signer_key)])
        return Issued(builder.sign(signer_key, hashes.SHA256()), key, _chain_above(issuer))


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def _chain_above(issuer: Issued | None) -> tuple[x509.Certificate, ...]:
    """What a server sends above its leaf: the issuer and its intermediates, never the root."""
    if issuer is None or _self_signed(issuer.cert):
        return ()
    return (issuer.cert, *issuer.intermediates)


def _sign_sha1(draft: x509.Certificate, signer: Issued) -> x509.Certificate:
    """Re-sign a self-signed draft with `signer`'s key and SHA-1 through ``openssl x509 -CA``."""
    if shutil.which("openssl") is None:
        raise CertFactoryError("SHA-1 certificates need the openssl command (cryptography refuses SHA-1)")
    with tempfile.TemporaryDirectory(prefix="s24kit-sha1-") as tmp:
        folder = Path(tmp)
        (folder / "draft.pem").write_bytes(draft.public_bytes(serialization.Encoding.PEM))
        (folder / "ca.pem").write_bytes(signer.cert.public_bytes(serialization.Encoding.PEM))
        (folder / "ca.key").write_bytes(signer.key_pem())
        cmd = ["openssl", "x509", "-in", "draft.pem", "-CA", "ca.pem", "-CAkey", "ca.key", "-sha1",
               "-preserve_dates", "-set_serial", str(draft.serial_number), "-out", "out.pem"]
        done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise CertFactoryError(f"openssl could not sign with SHA-1: {done.stderr.strip()[:300]}")
        return x509.load_pem_x509_certificate((folder / "out.pem").read_bytes())

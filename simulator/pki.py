"""The kit's test PKI: a root CA, an intermediate CA, and the certificates every simulated party needs.

Leaves are issued by the intermediate (root → intermediate → leaf) and each ``*.pem`` holds the leaf followed
by the intermediate, so the kit's servers send the chain a client with only the root needs (S24-TLS-011).
Every certificate says what it is for: the subject's organisational unit (OU) is its **role**, read back by
:func:`certificate_role`, and an insurer's client certificate carries the insurer code in its CN
(:func:`certificate_insurer`). The simulated parties decide who may call each route from that role
(:mod:`s24kit.simulator.access`), not from the CA alone.

Certificates are EC P-256 / ECDSA-SHA256 (a vendor's own server certificate, :func:`issue_server`, may have an
RSA key instead, signed by the same EC intermediate), carry SAN, key usage, extended key usage, subject and authority
key identifiers, and pass OpenSSL's strict X.509 checks (``VERIFY_X509_STRICT``). They are reused while
valid for at least ``RENEW_BEFORE`` and reissued otherwise, or when they predate roles or the intermediate.
Nothing here is fit for production use.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .pki_names import ISSUED, KEY_TYPES
from .private import private_directory

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
LIFETIME = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
ORG = "silson24-kit TEST ONLY"
DOMAIN = "s24kit.test"
_SITE_NAME = re.compile(r"[A-Za-z0-9-]{1,60}")

#: Each credential in the state directory: its role (the subject OU) and what it may be used for.
ROLES: dict[str, tuple[str, bool, bool]] = {  # file name: (role, serverAuth, clientAuth)
    "relay-client": ("relay", False, True),
    "relay-server": ("relay-server", True, False),
    "provider-server": ("provider-server", True, False),
    "provider-agent": ("provider-agent", False, True),
    "insurer-server": ("insurer-server", True, False),
    "register-server": ("register-server", True, False),  # the simulated 중복가입 register
    "patient-app": ("patient-app", False, True),
    "admin": ("admin", False, True),
}
#: The role of every insurer's client certificate; its CN says which insurer (``insurer-client-INSA``).
INSURER_ROLE = "insurer"
INSURER_PREFIX = "insurer-client-"
_INSURER_CODE = re.compile(r"[A-Z0-9]{2,10}")
RSA_BITS = 2048
_ISSUED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_INSURER_CN = re.compile(rf"{INSURER_PREFIX}([A-Z0-9]{{2,10}})\.{re.escape(DOMAIN)}")


def _first_certificate(pem: str | bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


@functools.lru_cache(maxsize=256)
def _subject_facts(pem: str) -> tuple[str | None, str | None]:
    try:
        cert = _first_certificate(pem)
    except ValueError:
        return None, None
    units = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    role = str(units[0].value) if len(units) == 1 else None
    common_name = str(names[0].value) if len(names) == 1 else None
    return role, common_name


def certificate_role(pem: str | None) -> str | None:
    """The role written in a certificate's subject OU (``relay``, ``patient-app``, ``insurer`` …), or None.

    Only meaningful for a certificate the TLS layer already verified against the kit's CA."""
    return _subject_facts(pem)[0] if pem else None


def certificate_insurer(pem: str | None) -> str | None:
    """The insurer code of an insurer's client certificate (role ``insurer``), or None for any other."""
    if not pem:
        return None
    role, common_name = _subject_facts(pem)
    match = _INSURER_CN.fullmatch(common_name or "")
    return match.group(1) if role == INSURER_ROLE and match else None


def leaf_pem(pem: str | bytes) -> str:
    """The first certificate of a PEM chain (the leaf), as PEM text."""
    return _first_certificate(pem).public_bytes(serialization.Encoding.PEM).decode()


@functools.lru_cache(maxsize=256)
def certificate_sha256(pem: str | bytes) -> str:
    """Hex SHA-256 of a PEM certificate's DER (the first one of a chain file): what a pin compares (cached: the
    relay checks an insurer's pin on every event, and parsing the certificate each time was most of it)."""
    return _first_certificate(pem).fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True, slots=True)
class Credential:
    """A certificate (leaf first, then the intermediate) and its private key on disk (PEM)."""

    cert: Path
    key: Path

    def sha256(self) -> str:
        """Hex SHA-256 of the leaf certificate's DER: what the relay registers to pin it."""
        return certificate_sha256(self.cert.read_bytes())

    def leaf_pem(self) -> str:
        """The leaf certificate alone, as a server sees it in ``client_cert_chain[0]``."""
        return leaf_pem(self.cert.read_bytes())


@dataclass(frozen=True, slots=True)
class TestPKI:
    """Paths of the CA bundle (the root), the intermediate, and every role's credential."""

    directory: Path
    ca_cert: Path
    credentials: dict[str, Credential]
    intermediate: Path | None = None
    #: True when this call made a new root CA (first use, or the old root expired): no connector trusts it yet.
    new_root: bool = False

    def issued(self) -> dict[str, Credential]:
        """The server certificates issued for vendors' own hosts (:func:`issue_server`), by name."""
        folder = self.directory / ISSUED
        return {pem.stem: Credential(pem, pem.with_suffix(".key")) for pem in sorted(folder.glob("*.pem"))}

    def __getitem__(self, name: str) -> Credential:
        if name not in self.credentials and name.startswith(INSURER_PREFIX):
            return self.insurer_client(name.removeprefix(INSURER_PREFIX))
        return self.credentials[name]

    def insurer_client(self, code: str) -> Credential:
        """Insurer ``code``'s client certificate (role ``insurer``), issued the first time it is asked for."""
        if not _INSURER_CODE.fullmatch(code):
            raise ValueError(f"insurer code {code!r}: 2 to 10 upper-case letters or digits")
        name = f"{INSURER_PREFIX}{code}"
        if name not in self.credentials:
            signer = _load_signer(self.directory / "intermediate.pem", self.directory / "intermediate.key")
            self.credentials[name] = _ensure_leaf(self.directory, name, INSURER_ROLE, signer, server=False,
                                                  client=True, hosts=(), now=_now())
        return self.credentials[name]

    def site_server(self, name: str, *, hosts: tuple[str, ...] = DEFAULT_HOSTS,
                    lifetime: dt.timedelta = LIFETIME) -> Credential:
        """A provider-server certificate of its own for one simulated site (``s24kit serve --fleet``), issued
        anew on each call: e.g. one that expires soon, or one for another name. :meth:`server_context` serves it."""
        if not _SITE_NAME.fullmatch(name):
            raise ValueError(f"site certificate name {name!r}: letters, digits and - only")
        signer = _load_signer(self.directory / "intermediate.pem", self.directory / "intermediate.key")
        cert, key = issue(*signer, f"{name}.{DOMAIN}", hosts=hosts, server=True, client=False, now=_now(),
                          role="provider-server", lifetime=lifetime)
        credential = Credential(self.directory / f"site-{name}.pem", self.directory / f"site-{name}.key")
        credential.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                                    + signer[0].public_bytes(serialization.Encoding.PEM))
        _write_key(key, credential.key)
        self.credentials[f"site-{name}"] = credential
        return credential

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
            if self.intermediate is not None:  # for a client that sends its leaf alone
                context.load_verify_locations(self.intermediate)
        return context

    def client_context(self, role: str | None = "relay-client") -> ssl.SSLContext:
        """TLS 1.2+ client context trusting the kit's CA, presenting credential ``role``'s certificate if given."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_flags |= ssl.VERIFY_X509_STRICT
        if role is not None:
            context.load_cert_chain(self[role].cert, self[role].key)
        return context


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str, role: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG)]
    if role is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def general_names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    """Subject alternative names for host names and IP addresses (an IP is never written as a DNS name)."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _write_key(key: PrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


Signer = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
_CA_USAGE = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False)


def _make_ca(directory: Path, stem: str, common_name: str, now: dt.datetime, *, issuer: Signer | None) -> Signer:
    """The root (``issuer`` None, may sign one intermediate below it) or the intermediate (signs leaves only)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    signer_cert, signer_key = issuer if issuer else (None, key)
    aki = (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski) if signer_cert is None else
           x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()))
    lifetime = LIFETIME * 2 if issuer is None else LIFETIME + dt.timedelta(days=30)
    cert = (x509.CertificateBuilder().subject_name(name)
            .issuer_name(name if signer_cert is None else signer_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + lifetime)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1 if issuer is None else 0), critical=True)
            .add_extension(_CA_USAGE, critical=True)
            .add_extension(ski, critical=False)
            .add_extension(aki, critical=False)
            .sign(signer_key, hashes.SHA256()))
    (directory / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, directory / f"{stem}.key")
    return cert, key


def issue(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, common_name: str, *,
          hosts: tuple[str, ...], server: bool, client: bool, now: dt.datetime, role: str | None = None,
          lifetime: dt.timedelta = LIFETIME, key_type: str = "ec") -> tuple[x509.Certificate, PrivateKey]:
    """A leaf certificate signed by the CA; ``role`` becomes the subject's OU; ``key_type`` ``ec`` (P-256) or
    ``rsa`` (2048 bits, which TLS 1.2 signs with: key usage digitalSignature, plus keyEncipherment as RSA
    servers customarily carry)."""
    key: PrivateKey
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    wanted = ((ExtendedKeyUsageOID.SERVER_AUTH, server), (ExtendedKeyUsageOID.CLIENT_AUTH, client))
    usages = [oid for oid, use in wanted if use]
    builder = (x509.CertificateBuilder().subject_name(_name(common_name, role)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + lifetime)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                            key_encipherment=key_type == "rsa", data_encipherment=False,
                                            key_agreement=False, key_cert_sign=False, crl_sign=False,
                                            encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names(hosts)), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _load(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _usable(cert: x509.Certificate | None, now: dt.datetime) -> bool:
    return cert is not None and cert.not_valid_after_utc - now > RENEW_BEFORE


def issued_by(cert: x509.Certificate, signer: x509.Certificate) -> bool:
    """True when ``signer`` (by name and key) issued ``cert``."""
    if cert.issuer != signer.subject:
        return False
    try:
        cert.verify_directly_issued_by(signer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


class PkiError(RuntimeError):
    """A certificate or key in the state directory cannot be used; says which file and how to recover."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.message_ko = (f"{path}: 인증서 또는 키 파일을 쓸 수 없습니다 (손상되었거나 짝이 맞지 않음). "
                           f"{path.parent} 폴더를 지우면 새로 만듭니다")
        self.message_en = (f"{path}: unusable certificate or key (damaged or not a pair); delete {path.parent} "
                           "and the kit makes new ones")
        super().__init__(f"{self.message_ko} / {self.message_en}")


def _load_signer(cert_path: Path, key_path: Path) -> Signer:
    cert = _load(cert_path)
    if cert is None:
        raise PkiError(cert_path)
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        raise PkiError(key_path) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(key_path)
    return cert, key


def _ca_current(cert: x509.Certificate | None, key_path: Path, now: dt.datetime, path_length: int,
                issuer: x509.Certificate | None) -> bool:
    """A CA certificate to keep: valid long enough, its key present, the path length this layout needs (a
    root made before the intermediate existed allowed none below it), and issued by ``issuer``."""
    if not _usable(cert, now) or not key_path.exists():
        return False
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.path_length == path_length and (issuer is None or issued_by(cert, issuer))


def _leaf_current(cert: x509.Certificate | None, role: str, signer: x509.Certificate, now: dt.datetime) -> bool:
    """A leaf to keep: valid long enough, issued by the current intermediate, and carrying its role."""
    if not _usable(cert, now) or not issued_by(cert, signer):
        return False
    return certificate_role(cert.public_bytes(serialization.Encoding.PEM).decode()) == role


def _ensure_leaf(directory: Path, name: str, role: str, signer: Signer, *, server: bool, client: bool,
                 hosts: tuple[str, ...], now: dt.datetime) -> Credential:
    cred = Credential(directory / f"{name}.pem", directory / f"{name}.key")
    if not (_leaf_current(_load(cred.cert), role, signer[0], now) and cred.key.exists()):
        cert, key = issue(*signer, f"{name}.{DOMAIN}", hosts=hosts if server else (), server=server,
                          client=client, now=now, role=role)
        cred.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                              + signer[0].public_bytes(serialization.Encoding.PEM))
        _write_key(key, cred.key)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cred.cert, cred.key)
    except (ssl.SSLError, OSError):
        raise PkiError(cred.key) from None
    return cred


def ensure_pki(directory: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> TestPKI:
    """Create (or reuse) the root, the intermediate and every role's credential under ``directory``.

    A state directory from an older kit (no intermediate, or certificates without a role) is brought up to
    date here: what no longer fits is reissued, the root is kept when it can sign the intermediate."""
    private_directory(directory)  # unencrypted test keys: owner only
    now = _now()
    root_path, intermediate_path = directory / "ca.pem", directory / "intermediate.pem"
    root_cert = _load(root_path)
    if _ca_current(root_cert, directory / "ca.key", now, 1, None):
        root = _load_signer(root_path, directory / "ca.key")
        new_root = False
    else:
        root = _make_ca(directory, "ca", "silson24-kit test root CA", now, issuer=None)
        new_root = True
    if _ca_current(_load(intermediate_path), directory / "intermediate.key", now, 0, root[0]):
        intermediate = _load_signer(intermediate_path, directory / "intermediate.key")
    else:
        intermediate = _make_ca(directory, "intermediate", "silson24-kit test intermediate CA", now, issuer=root)
    credentials = {name: _ensure_leaf(directory, name, role, intermediate, server=server, client=client,
                                      hosts=hosts, now=now)
                   for name, (role, server, client) in ROLES.items()}
    pki = TestPKI(directory, root_path, credentials, intermediate_path, new_root=new_root)
    for existing in sorted(directory.glob(f"{INSURER_PREFIX}*.pem")):  # renew those issued before
        code = existing.stem.removeprefix(INSURER_PREFIX)
        if _INSURER_CODE.fullmatch(code):
            pki.insurer_client(code)
    return pki


def issued_name(hosts: tuple[str, ...], name: str | None = None) -> str:
    """The file name of a vendor's server certificate: ``name``, or the first host (``:`` of IPv6 as ``-``).

    ValueError when it is not 1 to 63 letters, digits, dots, hyphens or underscores."""
    chosen = name if name is not None else (hosts[0].replace(":", "-").strip("-") if hosts else "")
    if not _ISSUED_NAME.fullmatch(chosen) or chosen in ROLES:
        raise ValueError(chosen)
    return chosen


def issue_server(pki: TestPKI, hosts: tuple[str, ...], *, name: str | None = None, key_type: str = "ec",
                 now: dt.datetime | None = None) -> tuple[str, Credential]:
    """A server certificate (role ``provider-server``) for a vendor's own test host, valid for ``hosts`` (DNS
    names and IP addresses), signed by the kit's intermediate; written to ``issued/NAME.pem`` (leaf, then the
    intermediate) and ``issued/NAME.key`` (PKCS#8, owner only), replacing an earlier one of that name."""
    if not hosts:
        raise ValueError("no host")
    if key_type not in KEY_TYPES:
        raise ValueError(key_type)
    general_names(hosts)  # an IP address or a name, each
    chosen = issued_name(hosts, name)
    signer = _load_signer(pki.directory / "intermediate.pem", pki.directory / "intermediate.key")
    folder = pki.directory / ISSUED
    private_directory(folder)
    cert, key = issue(*signer, hosts[0], hosts=hosts, server=True, client=False, now=now or _now(),
                      role=ROLES["provider-server"][0], key_type=key_type)
    cred = Credential(folder / f"{chosen}.pem", folder / f"{chosen}.key")
    cred.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                          + signer[0].public_bytes(serialization.Encoding.PEM))
    _write_key(key, cred.key)
    return chosen, cred

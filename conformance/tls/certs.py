"""Certificate inspection: chain order and completeness, name, validity, key, signature, profile lint.

Pure functions over `cryptography` certificates; nothing here touches the network. The trust verdict
itself comes from OpenSSL during a handshake (handshake.py); this module explains and complements it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID


def load_bundle(path: Path | None) -> list[x509.Certificate]:
    """Certificates of a PEM bundle; None means the system store's bundle file (empty if there is none)."""
    if path is None:
        cafile = ssl.get_default_verify_paths().cafile
        if not cafile:
            return []
        path = Path(cafile)
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError):
        return []


def subject_text(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and issued_by(cert, cert)


def issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """Names match and `parent`'s key verifies `child`'s signature (any hash, SHA-1 included)."""
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def ca_issuers_urls(cert: x509.Certificate) -> list[str]:
    """AIA caIssuers URLs: where a client could fetch a missing issuer."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [str(d.access_location.value) for d in aia
            if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]


# ---------------------------------------------------------------- chain


class ChainStatus(StrEnum):
    COMPLETE = "complete"
    ROOT_INCLUDED = "root_included"  # complete, and the trusted root was sent too (harmless, wasteful)
    OUT_OF_ORDER = "out_of_order"  # complete, but not leaf-first in issuing order, or with extra certificates
    MISSING_INTERMEDIATE = "missing_intermediate"
    UNKNOWN_ISSUER = "unknown_issuer"  # only the leaf was sent; its issuer is neither sent nor an anchor
    UNKNOWN_CA = "unknown_ca"  # the sent chain leads to a CA outside the anchors
    SELF_SIGNED = "self_signed"
    EMPTY = "empty"


@dataclass(frozen=True)
class ChainReport:
    status: ChainStatus
    path: tuple[x509.Certificate, ...]  # leaf first, as far as the sent certificates and anchors reach
    anchor: x509.Certificate | None  # the anchor the path reached
    missing: str | None  # subject of the certificate the server should have sent
    aia: tuple[str, ...] = ()
    extra: int = 0  # sent certificates not on the path

    @property
    def complete(self) -> bool:
        return self.status in (ChainStatus.COMPLETE, ChainStatus.ROOT_INCLUDED, ChainStatus.OUT_OF_ORDER)


def analyze_chain(sent: tuple[x509.Certificate, ...], anchors: list[x509.Certificate]) -> ChainReport:
    """Follow issuers from the leaf through the sent certificates to an anchor.

    A missing intermediate is told apart from an unknown CA this way: when the last certificate reached
    is issued by a *non-root* certificate of the anchors bundle whose own issuer is there too, that
    certificate is an intermediate the server should send (clients with only the root fail). A leaf-only
    chain whose issuer appears nowhere is reported as UNKNOWN_ISSUER unless the leaf's AIA names it.
    """
    if not sent:
        return ChainReport(ChainStatus.EMPTY, (), None, None)
    path, pool, current = [sent[0]], list(sent[1:]), sent[0]
    for _ in range(len(sent) + 1):
        anchor = next((a for a in anchors if issued_by(current, a)), None)
        if anchor is not None:
            return _reached(sent, path, pool, anchor, anchors)
        if self_signed(current):
            status = ChainStatus.SELF_SIGNED if len(path) == 1 else ChainStatus.UNKNOWN_CA
            return ChainReport(status, tuple(path), None, None, extra=len(pool))
        parent = next((c for c in pool if issued_by(current, c)), None)
        if parent is None:
            break
        path.append(parent)
        pool.remove(parent)
        current = parent
    urls = tuple(ca_issuers_urls(current))
    missing = current.issuer.rfc4514_string()
    if urls:
        return ChainReport(ChainStatus.MISSING_INTERMEDIATE, tuple(path), None, missing, urls, len(pool))
    status = ChainStatus.UNKNOWN_CA if is_ca(current) else ChainStatus.UNKNOWN_ISSUER
    return ChainReport(status, tuple(path), None, missing, (), len(pool))


def _reached(sent: tuple[x509.Certificate, ...], path: list[x509.Certificate], pool: list[x509.Certificate],
             anchor: x509.Certificate, anchors: list[x509.Certificate]) -> ChainReport:
    if not self_signed(anchor) and any(issued_by(anchor, a) for a in anchors if a is not anchor):
        return ChainReport(ChainStatus.MISSING_INTERMEDIATE, tuple(path), anchor, subject_text(anchor),
                           extra=len(pool))
    root_sent = [c for c in pool if c == anchor]
    extra = [c for c in pool if c != anchor]
    in_order = list(sent[: len(path)]) == path
    if not in_order or extra:
        return ChainReport(ChainStatus.OUT_OF_ORDER, tuple(path), anchor, None, extra=len(extra))
    if root_sent:
        return ChainReport(ChainStatus.ROOT_INCLUDED, tuple(path), anchor, None)
    return ChainReport(ChainStatus.COMPLETE, tuple(path), anchor, None)


# ---------------------------------------------------------------- name


class NameMatch(StrEnum):
    SAN = "san"
    CN_ONLY = "cn_only"  # no SAN at all, the subject CN matches: modern clients refuse this
    MISMATCH = "mismatch"


def san_values(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) of the SAN; ([], []) when there is no SAN."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def has_san(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    return True


def common_names(cert: x509.Certificate) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _dns_match(pattern: str, name: str) -> bool:
    """RFC 6125: case-insensitive; a wildcard only as the whole leftmost label, matching one label."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern == name:
        return True
    if not pattern.startswith("*.") or "*" in pattern[1:]:
        return False
    head, _, rest = name.partition(".")
    return bool(head) and rest == pattern[2:] and rest.count(".") >= 1


def match_name(cert: x509.Certificate, name: str) -> NameMatch:
    """Does `cert` cover `name` (a DNS name or an IP address) the way a verifying client checks it?"""
    dns, ips = san_values(cert)
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        address = None
    if has_san(cert):
        if address is not None:
            return NameMatch.SAN if any(ipaddress.ip_address(ip) == address for ip in ips) else NameMatch.MISMATCH
        return NameMatch.SAN if any(_dns_match(p, name) for p in dns) else NameMatch.MISMATCH
    for cn in common_names(cert):
        if (address is not None and cn == str(address)) or (address is None and _dns_match(cn, name)):
            return NameMatch.CN_ONLY
    return NameMatch.MISMATCH


def names_of(cert: x509.Certificate) -> list[str]:
    dns, ips = san_values(cert)
    return dns + ips if (dns or ips) else [f"CN={cn}" for cn in common_names(cert)]


# ---------------------------------------------------------------- validity, key, signature


def days_left(cert: x509.Certificate, now: dt.datetime) -> float:
    return (cert.not_valid_after_utc - now).total_seconds() / 86400


def lifespan_days(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400


@dataclass(frozen=True)
class KeyFacts:
    kind: str  # "RSA", "EC", "Ed25519", "Ed448", "DSA", "unknown"
    bits: int
    curve: str | None = None
    exponent: int | None = None

    def label(self) -> str:
        if self.kind == "EC":
            return f"EC {self.curve} ({self.bits} bit)"
        return f"{self.kind} {self.bits} bit"


def key_facts(cert: x509.Certificate) -> KeyFacts:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return KeyFacts("unknown", 0)
    if isinstance(key, rsa.RSAPublicKey):
        return KeyFacts("RSA", key.key_size, exponent=key.public_numbers().e)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return KeyFacts("EC", key.curve.key_size, curve=key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyFacts("Ed25519", 256)
    if isinstance(key, ed448.Ed448PublicKey):
        return KeyFacts("Ed448", 456)
    if isinstance(key, dsa.DSAPublicKey):
        return KeyFacts("DSA", key.key_size)
    return KeyFacts("unknown", 0)


def signature_hash(cert: x509.Certificate) -> str:
    """"sha256", "sha1", "md5" …; "intrinsic" for Ed25519/Ed448; "unknown" when unsupported."""
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "unknown"
    if algorithm is None:
        return "intrinsic"
    return algorithm.name.lower().replace("_", "-")


# ---------------------------------------------------------------- profile lint


@dataclass(frozen=True)
class Lint:
    code: str
    message_ko: str
    message_en: str


def lint_server_cert(cert: x509.Certificate) -> list[Lint]:
    """Profile problems of a server certificate that strict clients (Java, .NET, webpki) may refuse."""
    found: list[Lint] = []
    exts = cert.extensions
    try:
        san = exts.get_extension_for_class(x509.SubjectAlternativeName)
        if san.critical and len(cert.subject):
            found.append(Lint("san_critical", "주체가 있는데 SAN이 critical로 표시되어 있습니다",
                              "SAN is marked critical although the subject is not empty"))
    except x509.ExtensionNotFound:
        found.append(Lint("no_san", "subjectAltName(SAN)이 없습니다; 최신 클라이언트는 CN을 보지 않습니다",
                          "no subjectAltName (SAN); modern clients ignore the CN"))
    try:
        eku = exts.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.SERVER_AUTH not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
            found.append(Lint("no_server_auth", "확장 키 용도(EKU)에 serverAuth가 없습니다",
                              "extended key usage lacks serverAuth"))
    except x509.ExtensionNotFound:
        pass  # no EKU means any purpose (RFC 5280 §4.2.1.12)
    if is_ca(cert):
        found.append(Lint("is_ca", "서버 인증서가 CA 인증서입니다 (BasicConstraints CA:TRUE)",
                          "the server certificate is a CA certificate (BasicConstraints CA:TRUE)"))
    try:
        usage = exts.get_extension_for_class(x509.KeyUsage).value
        if not usage.digital_signature:
            found.append(Lint("no_digital_signature", "키 용도(KeyUsage)에 digitalSignature가 없습니다 (ECDHE에 필요)",
                              "key usage lacks digitalSignature (needed for ECDHE)"))
    except x509.ExtensionNotFound:
        pass
    if cert.version is not x509.Version.v3:
        found.append(Lint("not_v3", "X.509 v3 인증서가 아닙니다", "not an X.509 v3 certificate"))
    return found

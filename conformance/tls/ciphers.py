"""TLS cipher-suite catalogue: IANA code points, names and security properties.

Properties are derived from the IANA name, which encodes key exchange, authentication,
cipher and MAC by construction; deriving them avoids hand-typed drift across ~230 rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class TlsVersion(IntEnum):
    """Protocol versions as their wire value."""

    SSL3 = 0x0300
    TLS1_0 = 0x0301
    TLS1_1 = 0x0302
    TLS1_2 = 0x0303
    TLS1_3 = 0x0304

    @property
    def label(self) -> str:
        return _VERSION_LABELS[self]


_VERSION_LABELS = {
    TlsVersion.SSL3: "SSLv3",
    TlsVersion.TLS1_0: "TLSv1.0",
    TlsVersion.TLS1_1: "TLSv1.1",
    TlsVersion.TLS1_2: "TLSv1.2",
    TlsVersion.TLS1_3: "TLSv1.3",
}


def version_label(value: int) -> str:
    """Human label for a wire version, also for values outside the enum."""
    try:
        return TlsVersion(value).label
    except ValueError:
        return f"0x{value:04x}"


class KeyExchange(StrEnum):
    RSA = "RSA"
    DHE = "DHE"
    ECDHE = "ECDHE"
    DH = "DH"  # static DH from the certificate
    ECDH = "ECDH"  # static ECDH from the certificate
    PSK = "PSK"
    RSA_PSK = "RSA_PSK"
    DHE_PSK = "DHE_PSK"
    ECDHE_PSK = "ECDHE_PSK"
    SRP = "SRP"
    TLS13 = "TLS13"  # negotiated separately (key_share) in TLS 1.3


class Authentication(StrEnum):
    RSA = "RSA"
    DSS = "DSS"
    ECDSA = "ECDSA"
    ANON = "anon"
    PSK = "PSK"
    SRP = "SRP"
    TLS13 = "TLS13"  # decided by the certificate and signature_algorithms


class Weakness(StrEnum):
    NULL = "NULL"
    EXPORT = "EXPORT"
    ANON = "anon"
    DES = "DES"
    TRIPLE_DES = "3DES"
    RC4 = "RC4"
    RC2 = "RC2"
    IDEA = "IDEA"


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """One cipher suite and its properties."""

    code: int
    name: str
    openssl_name: str | None
    kex: KeyExchange
    auth: Authentication
    encryption: str
    mac: str  # "AEAD" for AEAD ciphers, else the record MAC hash
    strength_bits: int  # effective symmetric strength (3DES = 112, EXPORT = 40)
    aead: bool
    cbc: bool
    forward_secrecy: bool
    weaknesses: frozenset[Weakness]
    legacy: bool  # CBC with SHA-1 MAC: not broken, but outside current policy
    min_version: TlsVersion
    in_default_policy: bool

    @property
    def weak(self) -> bool:
        return bool(self.weaknesses)

    @property
    def tls13(self) -> bool:
        return self.kex is KeyExchange.TLS13

    @property
    def needs_psk_or_srp(self) -> bool:
        """Suites a server only picks when the client holds a pre-shared secret."""
        return self.kex in _SECRET_KEX

    @property
    def code_hex(self) -> str:
        return f"0x{self.code:04X}"


_SECRET_KEX = frozenset(
    {KeyExchange.PSK, KeyExchange.RSA_PSK, KeyExchange.DHE_PSK, KeyExchange.ECDHE_PSK, KeyExchange.SRP}
)

# Mozilla intermediate as written in the kit's brief: the 6 ECDHE AEAD suites plus DHE-RSA AEAD (5.x list).
DEFAULT_POLICY_CODES = frozenset(
    {0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0x009E, 0x009F, 0xCCAA, 0x1301, 0x1302, 0x1303}
)
# Mozilla 6.0 intermediate dropped DHE; kept separately so a profile can select it.
MOZILLA_6_0_INTERMEDIATE_CODES = DEFAULT_POLICY_CODES - {0x009E, 0x009F, 0xCCAA}

# IANA key-exchange prefix (with any "_EXPORT" removed) -> (key exchange, authentication)
_KEX = {
    "RSA": (KeyExchange.RSA, Authentication.RSA),
    "DH_DSS": (KeyExchange.DH, Authentication.DSS),
    "DH_RSA": (KeyExchange.DH, Authentication.RSA),
    "DHE_DSS": (KeyExchange.DHE, Authentication.DSS),
    "DHE_RSA": (KeyExchange.DHE, Authentication.RSA),
    "DH_anon": (KeyExchange.DHE, Authentication.ANON),
    "ECDH_ECDSA": (KeyExchange.ECDH, Authentication.ECDSA),
    "ECDH_RSA": (KeyExchange.ECDH, Authentication.RSA),
    "ECDHE_ECDSA": (KeyExchange.ECDHE, Authentication.ECDSA),
    "ECDHE_RSA": (KeyExchange.ECDHE, Authentication.RSA),
    "ECDH_anon": (KeyExchange.ECDHE, Authentication.ANON),
    "PSK": (KeyExchange.PSK, Authentication.PSK),
    "RSA_PSK": (KeyExchange.RSA_PSK, Authentication.RSA),
    "DHE_PSK": (KeyExchange.DHE_PSK, Authentication.PSK),
    "PSK_DHE": (KeyExchange.DHE_PSK, Authentication.PSK),  # IANA's spelling for the DHE-PSK CCM_8 pair
    "ECDHE_PSK": (KeyExchange.ECDHE_PSK, Authentication.PSK),
    "SRP_SHA": (KeyExchange.SRP, Authentication.SRP),
    "SRP_SHA_RSA": (KeyExchange.SRP, Authentication.RSA),
    "SRP_SHA_DSS": (KeyExchange.SRP, Authentication.DSS),
}
_EPHEMERAL = frozenset({KeyExchange.DHE, KeyExchange.ECDHE, KeyExchange.DHE_PSK, KeyExchange.ECDHE_PSK,
                        KeyExchange.TLS13})
_MAC_NAMES = {"MD5": "MD5", "SHA": "SHA1", "SHA256": "SHA256", "SHA384": "SHA384"}


def _split_cipher(rest: str) -> tuple[str, str | None]:
    if rest.endswith(("_CCM", "_CCM_8")):
        return rest, None
    enc, _, mac = rest.rpartition("_")
    return enc, mac


def _strength(enc: str) -> int:
    if enc == "NULL":
        return 0
    if enc.endswith("_40") or enc.startswith("DES40"):
        return 40
    if enc.startswith("DES_"):
        return 56
    if enc.startswith("3DES"):
        return 112
    if "_256" in enc or enc.startswith("CHACHA20"):
        return 256
    return 128


def _weaknesses(kex_token: str, auth: Authentication, enc: str) -> frozenset[Weakness]:
    found = set()
    checks = (
        (enc == "NULL", Weakness.NULL),
        ("EXPORT" in kex_token, Weakness.EXPORT),
        (auth is Authentication.ANON, Weakness.ANON),
        (enc.startswith(("DES_", "DES40")), Weakness.DES),
        (enc.startswith("3DES"), Weakness.TRIPLE_DES),
        (enc.startswith("RC4"), Weakness.RC4),
        (enc.startswith("RC2"), Weakness.RC2),
        (enc.startswith("IDEA"), Weakness.IDEA),
    )
    for hit, weakness in checks:
        if hit:
            found.add(weakness)
    return frozenset(found)


def _s(code: int, name: str, openssl_name: str | None) -> CipherSuite:
    """Build a row, deriving every property from the IANA name."""
    if code >> 8 == 0x13:
        kex_token, rest = "TLS13", name.removeprefix("TLS_")
        kex, auth = KeyExchange.TLS13, Authentication.TLS13
    else:
        kex_token, rest = name.removeprefix("TLS_").split("_WITH_")
        kex, auth = _KEX[kex_token.replace("_EXPORT", "")]
    enc, mac_token = _split_cipher(rest)
    aead = enc.endswith(("_GCM", "_CCM", "_CCM_8")) or enc == "CHACHA20_POLY1305"
    cbc = "_CBC" in enc
    mac = "AEAD" if aead else _MAC_NAMES[mac_token or ""]
    weaknesses = _weaknesses(kex_token, auth, enc)
    if kex is KeyExchange.TLS13:
        min_version = TlsVersion.TLS1_3
    elif (aead or mac in ("SHA256", "SHA384")) and kex not in _SECRET_KEX:
        min_version = TlsVersion.TLS1_2
    elif kex in (KeyExchange.ECDHE, KeyExchange.ECDH, KeyExchange.ECDHE_PSK):
        min_version = TlsVersion.TLS1_0  # ECC suites need the TLS extensions (RFC 4492)
    else:
        min_version = TlsVersion.SSL3
    return CipherSuite(
        code=code,
        name=name,
        openssl_name=openssl_name,
        kex=kex,
        auth=auth,
        encryption=enc,
        mac=mac,
        strength_bits=_strength(enc),
        aead=aead,
        cbc=cbc,
        forward_secrecy=kex in _EPHEMERAL,
        weaknesses=weaknesses,
        legacy=not weaknesses and cbc and mac == "SHA1",
        min_version=min_version,
        in_default_policy=code in DEFAULT_POLICY_CODES,
    )


CIPHER_SUITES: tuple[CipherSuite, ...] = (
    _s(0x0001, "TLS_RSA_WITH_NULL_MD5", "NULL-MD5"),
    _s(0x0002, "TLS_RSA_WITH_NULL_SHA", "NULL-SHA"),
    _s(0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5", "EXP-RC4-MD5"),
    _s(0x0004, "TLS_RSA_WITH_RC4_128_MD5", "RC4-MD5"),
    _s(0x0005, "TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"),
    _s(0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5", "EXP-RC2-CBC-MD5"),
    _s(0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA", "IDEA-CBC-SHA"),
    _s(0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", "EXP-DES-CBC-SHA"),
    _s(0x0009, "TLS_RSA_WITH_DES_CBC_SHA", "DES-CBC-SHA"),
    _s(0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"),
    _s(0x000B, "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA", "EXP-DH-DSS-DES-CBC-SHA"),
    _s(0x000C, "TLS_DH_DSS_WITH_DES_CBC_SHA", "DH-DSS-DES-CBC-SHA"),
    _s(0x000D, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA", "DH-DSS-DES-CBC3-SHA"),
    _s(0x000E, "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA", "EXP-DH-RSA-DES-CBC-SHA"),
    _s(0x000F, "TLS_DH_RSA_WITH_DES_CBC_SHA", "DH-RSA-DES-CBC-SHA"),
    _s(0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA", "DH-RSA-DES-CBC3-SHA"),
    _s(0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA", "EXP-EDH-DSS-DES-CBC-SHA"),
    _s(0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA", "EDH-DSS-DES-CBC-SHA"),
    _s(0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", "EDH-DSS-DES-CBC3-SHA"),
    _s(0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA", "EXP-EDH-RSA-DES-CBC-SHA"),
    _s(0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA", "EDH-RSA-DES-CBC-SHA"),
    _s(0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "EDH-RSA-DES-CBC3-SHA"),
    _s(0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5", "EXP-ADH-RC4-MD5"),
    _s(0x0018, "TLS_DH_anon_WITH_RC4_128_MD5", "ADH-RC4-MD5"),
    _s(0x0019, "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA", "EXP-ADH-DES-CBC-SHA"),
    _s(0x001A, "TLS_DH_anon_WITH_DES_CBC_SHA", "ADH-DES-CBC-SHA"),
    _s(0x001B, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA", "ADH-DES-CBC3-SHA"),
    _s(0x002C, "TLS_PSK_WITH_NULL_SHA", "PSK-NULL-SHA"),
    _s(0x002D, "TLS_DHE_PSK_WITH_NULL_SHA", "DHE-PSK-NULL-SHA"),
    _s(0x002E, "TLS_RSA_PSK_WITH_NULL_SHA", "RSA-PSK-NULL-SHA"),
    _s(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
    _s(0x0030, "TLS_DH_DSS_WITH_AES_128_CBC_SHA", "DH-DSS-AES128-SHA"),
    _s(0x0031, "TLS_DH_RSA_WITH_AES_128_CBC_SHA", "DH-RSA-AES128-SHA"),
    _s(0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", "DHE-DSS-AES128-SHA"),
    _s(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE-RSA-AES128-SHA"),
    _s(0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA", "ADH-AES128-SHA"),
    _s(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"),
    _s(0x0036, "TLS_DH_DSS_WITH_AES_256_CBC_SHA", "DH-DSS-AES256-SHA"),
    _s(0x0037, "TLS_DH_RSA_WITH_AES_256_CBC_SHA", "DH-RSA-AES256-SHA"),
    _s(0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA", "DHE-DSS-AES256-SHA"),
    _s(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "DHE-RSA-AES256-SHA"),
    _s(0x003A, "TLS_DH_anon_WITH_AES_256_CBC_SHA", "ADH-AES256-SHA"),
    _s(0x003B, "TLS_RSA_WITH_NULL_SHA256", "NULL-SHA256"),
    _s(0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"),
    _s(0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256"),
    _s(0x003E, "TLS_DH_DSS_WITH_AES_128_CBC_SHA256", "DH-DSS-AES128-SHA256"),
    _s(0x003F, "TLS_DH_RSA_WITH_AES_128_CBC_SHA256", "DH-RSA-AES128-SHA256"),
    _s(0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256", "DHE-DSS-AES128-SHA256"),
    _s(0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA", "CAMELLIA128-SHA"),
    _s(0x0044, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA", "DHE-DSS-CAMELLIA128-SHA"),
    _s(0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA", "DHE-RSA-CAMELLIA128-SHA"),
    _s(0x0046, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA", "ADH-CAMELLIA128-SHA"),
    _s(0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "DHE-RSA-AES128-SHA256"),
    _s(0x0068, "TLS_DH_DSS_WITH_AES_256_CBC_SHA256", "DH-DSS-AES256-SHA256"),
    _s(0x0069, "TLS_DH_RSA_WITH_AES_256_CBC_SHA256", "DH-RSA-AES256-SHA256"),
    _s(0x006A, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256", "DHE-DSS-AES256-SHA256"),
    _s(0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "DHE-RSA-AES256-SHA256"),
    _s(0x006C, "TLS_DH_anon_WITH_AES_128_CBC_SHA256", "ADH-AES128-SHA256"),
    _s(0x006D, "TLS_DH_anon_WITH_AES_256_CBC_SHA256", "ADH-AES256-SHA256"),
    _s(0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA", "CAMELLIA256-SHA"),
    _s(0x0087, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA", "DHE-DSS-CAMELLIA256-SHA"),
    _s(0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA", "DHE-RSA-CAMELLIA256-SHA"),
    _s(0x0089, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA", "ADH-CAMELLIA256-SHA"),
    _s(0x008C, "TLS_PSK_WITH_AES_128_CBC_SHA", "PSK-AES128-CBC-SHA"),
    _s(0x008D, "TLS_PSK_WITH_AES_256_CBC_SHA", "PSK-AES256-CBC-SHA"),
    _s(0x0090, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA", "DHE-PSK-AES128-CBC-SHA"),
    _s(0x0091, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA", "DHE-PSK-AES256-CBC-SHA"),
    _s(0x0094, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA", "RSA-PSK-AES128-CBC-SHA"),
    _s(0x0095, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA", "RSA-PSK-AES256-CBC-SHA"),
    _s(0x0096, "TLS_RSA_WITH_SEED_CBC_SHA", "SEED-SHA"),
    _s(0x0097, "TLS_DH_DSS_WITH_SEED_CBC_SHA", "DH-DSS-SEED-SHA"),
    _s(0x0098, "TLS_DH_RSA_WITH_SEED_CBC_SHA", "DH-RSA-SEED-SHA"),
    _s(0x0099, "TLS_DHE_DSS_WITH_SEED_CBC_SHA", "DHE-DSS-SEED-SHA"),
    _s(0x009A, "TLS_DHE_RSA_WITH_SEED_CBC_SHA", "DHE-RSA-SEED-SHA"),
    _s(0x009B, "TLS_DH_anon_WITH_SEED_CBC_SHA", "ADH-SEED-SHA"),
    _s(0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"),
    _s(0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
    _s(0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256"),
    _s(0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA-AES256-GCM-SHA384"),
    _s(0x00A0, "TLS_DH_RSA_WITH_AES_128_GCM_SHA256", "DH-RSA-AES128-GCM-SHA256"),
    _s(0x00A1, "TLS_DH_RSA_WITH_AES_256_GCM_SHA384", "DH-RSA-AES256-GCM-SHA384"),
    _s(0x00A2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", "DHE-DSS-AES128-GCM-SHA256"),
    _s(0x00A3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", "DHE-DSS-AES256-GCM-SHA384"),
    _s(0x00A4, "TLS_DH_DSS_WITH_AES_128_GCM_SHA256", "DH-DSS-AES128-GCM-SHA256"),
    _s(0x00A5, "TLS_DH_DSS_WITH_AES_256_GCM_SHA384", "DH-DSS-AES256-GCM-SHA384"),
    _s(0x00A6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256", "ADH-AES128-GCM-SHA256"),
    _s(0x00A7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384", "ADH-AES256-GCM-SHA384"),
    _s(0x00A8, "TLS_PSK_WITH_AES_128_GCM_SHA256", "PSK-AES128-GCM-SHA256"),
    _s(0x00A9, "TLS_PSK_WITH_AES_256_GCM_SHA384", "PSK-AES256-GCM-SHA384"),
    _s(0x00AA, "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256", "DHE-PSK-AES128-GCM-SHA256"),
    _s(0x00AB, "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384", "DHE-PSK-AES256-GCM-SHA384"),
    _s(0x00AC, "TLS_RSA_PSK_WITH_AES_128_GCM_SHA256", "RSA-PSK-AES128-GCM-SHA256"),
    _s(0x00AD, "TLS_RSA_PSK_WITH_AES_256_GCM_SHA384", "RSA-PSK-AES256-GCM-SHA384"),
    _s(0x00AE, "TLS_PSK_WITH_AES_128_CBC_SHA256", "PSK-AES128-CBC-SHA256"),
    _s(0x00AF, "TLS_PSK_WITH_AES_256_CBC_SHA384", "PSK-AES256-CBC-SHA384"),
    _s(0x00B0, "TLS_PSK_WITH_NULL_SHA256", "PSK-NULL-SHA256"),
    _s(0x00B1, "TLS_PSK_WITH_NULL_SHA384", "PSK-NULL-SHA384"),
    _s(0x00B2, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA256", "DHE-PSK-AES128-CBC-SHA256"),
    _s(0x00B3, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA384", "DHE-PSK-AES256-CBC-SHA384"),
    _s(0x00B4, "TLS_DHE_PSK_WITH_NULL_SHA256", "DHE-PSK-NULL-SHA256"),
    _s(0x00B5, "TLS_DHE_PSK_WITH_NULL_SHA384", "DHE-PSK-NULL-SHA384"),
    _s(0x00B6, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA256", "RSA-PSK-AES128-CBC-SHA256"),
    _s(0x00B7, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA384", "RSA-PSK-AES256-CBC-SHA384"),
    _s(0x00B8, "TLS_RSA_PSK_WITH_NULL_SHA256", "RSA-PSK-NULL-SHA256"),
    _s(0x00B9, "TLS_RSA_PSK_WITH_NULL_SHA384", "RSA-PSK-NULL-SHA384"),
    _s(0x00BA, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256", "CAMELLIA128-SHA256"),
    _s(0x00BD, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256", "DHE-DSS-CAMELLIA128-SHA256"),
    _s(0x00BE, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256", "DHE-RSA-CAMELLIA128-SHA256"),
    _s(0x00BF, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256", "ADH-CAMELLIA128-SHA256"),
    _s(0x00C0, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256", "CAMELLIA256-SHA256"),
    _s(0x00C3, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256", "DHE-DSS-CAMELLIA256-SHA256"),
    _s(0x00C4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256", "DHE-RSA-CAMELLIA256-SHA256"),
    _s(0x00C5, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256", "ADH-CAMELLIA256-SHA256"),
    _s(0x1301, "TLS_AES_128_GCM_SHA256", None),
    _s(0x1302, "TLS_AES_256_GCM_SHA384", None),
    _s(0x1303, "TLS_CHACHA20_POLY1305_SHA256", None),
    _s(0x1304, "TLS_AES_128_CCM_SHA256", None),
    _s(0x1305, "TLS_AES_128_CCM_8_SHA256", None),
    _s(0xC001, "TLS_ECDH_ECDSA_WITH_NULL_SHA", "ECDH-ECDSA-NULL-SHA"),
    _s(0xC002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA", "ECDH-ECDSA-RC4-SHA"),
    _s(0xC003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA", "ECDH-ECDSA-DES-CBC3-SHA"),
    _s(0xC004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA", "ECDH-ECDSA-AES128-SHA"),
    _s(0xC005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA", "ECDH-ECDSA-AES256-SHA"),
    _s(0xC006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA", "ECDHE-ECDSA-NULL-SHA"),
    _s(0xC007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"),
    _s(0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-ECDSA-DES-CBC3-SHA"),
    _s(0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"),
    _s(0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"),
    _s(0xC00B, "TLS_ECDH_RSA_WITH_NULL_SHA", "ECDH-RSA-NULL-SHA"),
    _s(0xC00C, "TLS_ECDH_RSA_WITH_RC4_128_SHA", "ECDH-RSA-RC4-SHA"),
    _s(0xC00D, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA", "ECDH-RSA-DES-CBC3-SHA"),
    _s(0xC00E, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA", "ECDH-RSA-AES128-SHA"),
    _s(0xC00F, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA", "ECDH-RSA-AES256-SHA"),
    _s(0xC010, "TLS_ECDHE_RSA_WITH_NULL_SHA", "ECDHE-RSA-NULL-SHA"),
    _s(0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"),
    _s(0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"),
    _s(0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"),
    _s(0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
    _s(0xC015, "TLS_ECDH_anon_WITH_NULL_SHA", "AECDH-NULL-SHA"),
    _s(0xC016, "TLS_ECDH_anon_WITH_RC4_128_SHA", "AECDH-RC4-SHA"),
    _s(0xC017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA", "AECDH-DES-CBC3-SHA"),
    _s(0xC018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA", "AECDH-AES128-SHA"),
    _s(0xC019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA", "AECDH-AES256-SHA"),
    _s(0xC01A, "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA", "SRP-3DES-EDE-CBC-SHA"),
    _s(0xC01B, "TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA", "SRP-RSA-3DES-EDE-CBC-SHA"),
    _s(0xC01C, "TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA", "SRP-DSS-3DES-EDE-CBC-SHA"),
    _s(0xC01D, "TLS_SRP_SHA_WITH_AES_128_CBC_SHA", "SRP-AES-128-CBC-SHA"),
    _s(0xC01E, "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA", "SRP-RSA-AES-128-CBC-SHA"),
    _s(0xC01F, "TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA", "SRP-DSS-AES-128-CBC-SHA"),
    _s(0xC020, "TLS_SRP_SHA_WITH_AES_256_CBC_SHA", "SRP-AES-256-CBC-SHA"),
    _s(0xC021, "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA", "SRP-RSA-AES-256-CBC-SHA"),
    _s(0xC022, "TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA", "SRP-DSS-AES-256-CBC-SHA"),
    _s(0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"),
    _s(0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384"),
    _s(0xC025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256", "ECDH-ECDSA-AES128-SHA256"),
    _s(0xC026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384", "ECDH-ECDSA-AES256-SHA384"),
    _s(0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"),
    _s(0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384"),
    _s(0xC029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256", "ECDH-RSA-AES128-SHA256"),
    _s(0xC02A, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384", "ECDH-RSA-AES256-SHA384"),
    _s(0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    _s(0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
    _s(0xC02D, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", "ECDH-ECDSA-AES128-GCM-SHA256"),
    _s(0xC02E, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384", "ECDH-ECDSA-AES256-GCM-SHA384"),
    _s(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
    _s(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
    _s(0xC031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", "ECDH-RSA-AES128-GCM-SHA256"),
    _s(0xC032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384", "ECDH-RSA-AES256-GCM-SHA384"),
    _s(0xC035, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA", "ECDHE-PSK-AES128-CBC-SHA"),
    _s(0xC036, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA", "ECDHE-PSK-AES256-CBC-SHA"),
    _s(0xC037, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", "ECDHE-PSK-AES128-CBC-SHA256"),
    _s(0xC038, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384", "ECDHE-PSK-AES256-CBC-SHA384"),
    _s(0xC039, "TLS_ECDHE_PSK_WITH_NULL_SHA", "ECDHE-PSK-NULL-SHA"),
    _s(0xC03A, "TLS_ECDHE_PSK_WITH_NULL_SHA256", "ECDHE-PSK-NULL-SHA256"),
    _s(0xC03B, "TLS_ECDHE_PSK_WITH_NULL_SHA384", "ECDHE-PSK-NULL-SHA384"),
    _s(0xC050, "TLS_RSA_WITH_ARIA_128_GCM_SHA256", "ARIA128-GCM-SHA256"),
    _s(0xC051, "TLS_RSA_WITH_ARIA_256_GCM_SHA384", "ARIA256-GCM-SHA384"),
    _s(0xC052, "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256", "DHE-RSA-ARIA128-GCM-SHA256"),
    _s(0xC053, "TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384", "DHE-RSA-ARIA256-GCM-SHA384"),
    _s(0xC056, "TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256", "DHE-DSS-ARIA128-GCM-SHA256"),
    _s(0xC057, "TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384", "DHE-DSS-ARIA256-GCM-SHA384"),
    _s(0xC05C, "TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256", "ECDHE-ECDSA-ARIA128-GCM-SHA256"),
    _s(0xC05D, "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384", "ECDHE-ECDSA-ARIA256-GCM-SHA384"),
    _s(0xC060, "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256", "ECDHE-ARIA128-GCM-SHA256"),
    _s(0xC061, "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384", "ECDHE-ARIA256-GCM-SHA384"),
    _s(0xC06A, "TLS_PSK_WITH_ARIA_128_GCM_SHA256", "PSK-ARIA128-GCM-SHA256"),
    _s(0xC06B, "TLS_PSK_WITH_ARIA_256_GCM_SHA384", "PSK-ARIA256-GCM-SHA384"),
    _s(0xC06C, "TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256", "DHE-PSK-ARIA128-GCM-SHA256"),
    _s(0xC06D, "TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384", "DHE-PSK-ARIA256-GCM-SHA384"),
    _s(0xC06E, "TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256", "RSA-PSK-ARIA128-GCM-SHA256"),
    _s(0xC06F, "TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384", "RSA-PSK-ARIA256-GCM-SHA384"),
    _s(0xC072, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256", "ECDHE-ECDSA-CAMELLIA128-SHA256"),
    _s(0xC073, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384", "ECDHE-ECDSA-CAMELLIA256-SHA384"),
    _s(0xC076, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256", "ECDHE-RSA-CAMELLIA128-SHA256"),
    _s(0xC077, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384", "ECDHE-RSA-CAMELLIA256-SHA384"),
    _s(0xC094, "TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256", "PSK-CAMELLIA128-SHA256"),
    _s(0xC095, "TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384", "PSK-CAMELLIA256-SHA384"),
    _s(0xC096, "TLS_DHE_PSK_WITH_CAMELLIA_128_CBC_SHA256", "DHE-PSK-CAMELLIA128-SHA256"),
    _s(0xC097, "TLS_DHE_PSK_WITH_CAMELLIA_256_CBC_SHA384", "DHE-PSK-CAMELLIA256-SHA384"),
    _s(0xC098, "TLS_RSA_PSK_WITH_CAMELLIA_128_CBC_SHA256", "RSA-PSK-CAMELLIA128-SHA256"),
    _s(0xC099, "TLS_RSA_PSK_WITH_CAMELLIA_256_CBC_SHA384", "RSA-PSK-CAMELLIA256-SHA384"),
    _s(0xC09A, "TLS_ECDHE_PSK_WITH_CAMELLIA_128_CBC_SHA256", "ECDHE-PSK-CAMELLIA128-SHA256"),
    _s(0xC09B, "TLS_ECDHE_PSK_WITH_CAMELLIA_256_CBC_SHA384", "ECDHE-PSK-CAMELLIA256-SHA384"),
    _s(0xC09C, "TLS_RSA_WITH_AES_128_CCM", "AES128-CCM"),
    _s(0xC09D, "TLS_RSA_WITH_AES_256_CCM", "AES256-CCM"),
    _s(0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM", "DHE-RSA-AES128-CCM"),
    _s(0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM", "DHE-RSA-AES256-CCM"),
    _s(0xC0A0, "TLS_RSA_WITH_AES_128_CCM_8", "AES128-CCM8"),
    _s(0xC0A1, "TLS_RSA_WITH_AES_256_CCM_8", "AES256-CCM8"),
    _s(0xC0A2, "TLS_DHE_RSA_WITH_AES_128_CCM_8", "DHE-RSA-AES128-CCM8"),
    _s(0xC0A3, "TLS_DHE_RSA_WITH_AES_256_CCM_8", "DHE-RSA-AES256-CCM8"),
    _s(0xC0A4, "TLS_PSK_WITH_AES_128_CCM", "PSK-AES128-CCM"),
    _s(0xC0A5, "TLS_PSK_WITH_AES_256_CCM", "PSK-AES256-CCM"),
    _s(0xC0A6, "TLS_DHE_PSK_WITH_AES_128_CCM", "DHE-PSK-AES128-CCM"),
    _s(0xC0A7, "TLS_DHE_PSK_WITH_AES_256_CCM", "DHE-PSK-AES256-CCM"),
    _s(0xC0A8, "TLS_PSK_WITH_AES_128_CCM_8", "PSK-AES128-CCM8"),
    _s(0xC0A9, "TLS_PSK_WITH_AES_256_CCM_8", "PSK-AES256-CCM8"),
    _s(0xC0AA, "TLS_PSK_DHE_WITH_AES_128_CCM_8", "DHE-PSK-AES128-CCM8"),
    _s(0xC0AB, "TLS_PSK_DHE_WITH_AES_256_CCM_8", "DHE-PSK-AES256-CCM8"),
    _s(0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "ECDHE-ECDSA-AES128-CCM"),
    _s(0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", "ECDHE-ECDSA-AES256-CCM"),
    _s(0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", "ECDHE-ECDSA-AES128-CCM8"),
    _s(0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", "ECDHE-ECDSA-AES256-CCM8"),
    _s(0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
    _s(0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"),
    _s(0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "DHE-RSA-CHACHA20-POLY1305"),
    _s(0xCCAB, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256", "PSK-CHACHA20-POLY1305"),
    _s(0xCCAC, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-PSK-CHACHA20-POLY1305"),
    _s(0xCCAD, "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256", "DHE-PSK-CHACHA20-POLY1305"),
    _s(0xCCAE, "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256", "RSA-PSK-CHACHA20-POLY1305"),
)

_BY_CODE = {suite.code: suite for suite in CIPHER_SUITES}
_BY_NAME = {suite.name.upper(): suite for suite in CIPHER_SUITES} | {
    suite.openssl_name.upper(): suite for suite in CIPHER_SUITES if suite.openssl_name
}

TLS13_SUITES: tuple[CipherSuite, ...] = tuple(s for s in CIPHER_SUITES if s.tls13)


def by_code(code: int) -> CipherSuite | None:
    """The suite for an IANA code point, or None if the catalogue does not know it."""
    return _BY_CODE.get(code)


def by_name(name: str) -> CipherSuite | None:
    """The suite for an IANA or OpenSSL name (case-insensitive)."""
    return _BY_NAME.get(name.upper())


def _offer_key(suite: CipherSuite) -> tuple[int, ...]:
    return (
        not suite.in_default_policy,
        suite.weak,
        not suite.forward_secrecy,
        not suite.aead,
        suite.legacy,
        suite.kex is not KeyExchange.ECDHE,
        -suite.strength_bits,
        suite.code,
    )


def offered_suites(version: TlsVersion) -> tuple[CipherSuite, ...]:
    """Suites a probe offers for `version`, strongest first (client-preference servers pick the first)."""
    if version is TlsVersion.TLS1_3:
        return TLS13_SUITES
    usable = (
        s for s in CIPHER_SUITES
        if not s.tls13 and not s.needs_psk_or_srp and s.min_version <= version
    )
    return tuple(sorted(usable, key=_offer_key))

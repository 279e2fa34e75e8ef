"""The TLS checks S24-TLS-001…022: protocol, suites, server certificate, mutual TLS.

Each check takes a `TlsEndpoint` and reads shared probe results (facts.py), so the family costs a few
dozen loopback connections in all. Verdicts follow `endpoint.policy`; reasons are Korean / English and
failures carry an ``openssl s_client`` one-liner that reproduces what the kit saw.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable

from cryptography import x509

from ..checks.registry import Evidence, Outcome, check, failed, passed, skipped, warned
from .certs import (
    ChainStatus,
    NameMatch,
    analyze_chain,
    days_left,
    key_facts,
    lifespan_days,
    lint_server_cert,
    match_name,
    names_of,
    self_signed,
    signature_hash,
    subject_text,
)
from .ciphers import CipherSuite, TlsVersion
from .facts import TlsFacts, facts_of
from .handshake import CERT_ERRORS, CLIENT_REFUSALS, HandshakeOutcome, TlsError
from .probe import ProbeStatus, SpeaksTls
from .target import TlsEndpoint

#: Which shared facts each check reads (run_tls_checks probes them in parallel up front).
NEEDS: dict[str, tuple[str, ...]] = {}
SPEAKS_TLS = "S24-TLS-001"
_S_CLIENT_FLAGS = {
    TlsVersion.SSL3: "-ssl3", TlsVersion.TLS1_0: "-tls1", TlsVersion.TLS1_1: "-tls1_1",
    TlsVersion.TLS1_2: "-tls1_2", TlsVersion.TLS1_3: "-tls1_3",
}
_WEAK_LEVEL = ("-cipher", "DEFAULT:@SECLEVEL=0")  # so the local openssl still offers what the server took

TlsCheck = Callable[[TlsEndpoint, TlsFacts], Outcome]


def say(ko: str, en: str) -> str:
    """A reason in both languages."""
    return f"{ko} / {en}"


def tls_check(requirement_id: str, *needs: str) -> Callable[[TlsCheck], TlsCheck]:
    """Register a TLS check that reads `needs`; it is skipped when the port does not speak TLS."""

    def register(func: TlsCheck) -> TlsCheck:
        @functools.wraps(func)
        def run(endpoint: TlsEndpoint) -> Outcome:
            facts = facts_of(endpoint)
            if requirement_id != SPEAKS_TLS and not facts.speaks_tls:
                return skipped(say(f"포트가 TLS로 응답하지 않아 건너뜀 ({SPEAKS_TLS} 참조)",
                                   f"the port does not answer TLS, see {SPEAKS_TLS}"))
            return func(endpoint, facts)

        NEEDS[requirement_id] = needs
        check(requirement_id, kind="tls", tags=("tls",))(run)
        return func

    return register


# ---------------------------------------------------------------- S24-TLS-001: speaks TLS

_SPEECH = {
    SpeaksTls.PLAIN_HTTP: ("TLS 대신 평문 HTTP로 응답합니다", "the port answers plain HTTP instead of TLS"),
    SpeaksTls.SILENT: ("TCP 연결은 되지만 TLS 요청(ClientHello)에 응답이 없습니다",
                       "TCP connects but nothing answers the ClientHello"),
    SpeaksTls.RESET: ("ClientHello 직후 연결이 끊깁니다(RST): 보안장비(IPS)나 SSL 검사 장비, 잘못된 포트포워딩",
                      "connection reset right after the ClientHello: an IPS, SSL inspection or a wrong port forward"),
    SpeaksTls.CLOSED: ("ClientHello 직후 응답 없이 연결을 닫습니다",
                       "the server closes the connection without answering"),
    SpeaksTls.NOT_TLS: ("TLS가 아닌 다른 프로토콜이 응답합니다", "another protocol answers on this port"),
    SpeaksTls.REFUSED: ("연결이 거부되었습니다(포트 닫힘 또는 방화벽 REJECT)",
                        "connection refused (nothing listening, or a firewall REJECT)"),
    SpeaksTls.UNREACHABLE: ("TCP 연결을 맺지 못했습니다(시간 초과, 경로 없음, DNS)",
                            "no TCP connection (timeout, no route or DNS failure)"),
}


@tls_check(SPEAKS_TLS, "speech")
def speaks_tls(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    result = facts.speech
    repro = endpoint.s_client()
    if result.outcome is SpeaksTls.TLS:
        detail = result.reply.detail if result.reply else ""
        return passed(say("TLS로 응답합니다", "the port answers TLS") + f" ({detail})")
    ko, en = _SPEECH[result.outcome]
    actual = (result.reply.detail if result.reply and result.reply.detail else None) or result.error \
        or f"{result.elapsed_ms:.0f} ms, first bytes {result.first_bytes_hex[:32] or '(none)'}"
    return failed(say(ko, en), Evidence(f"{en}: {actual}", expected="TLS ServerHello", actual=actual,
                                        reproduction=repro))


# ---------------------------------------------------------------- versions


def _version_verdict(endpoint: TlsEndpoint, facts: TlsFacts, versions: Iterable[TlsVersion]) -> Outcome:
    policy = endpoint.policy
    problems: list[Evidence] = []
    notes: list[str] = []
    worst = "pass"
    for version in versions:
        probe = facts.versions.get(version)
        accepted = probe is not None and probe.status is ProbeStatus.ACCEPTED
        detail = probe.detail if probe else "not probed"
        repro = endpoint.s_client(_S_CLIENT_FLAGS[version], *(_WEAK_LEVEL if version < TlsVersion.TLS1_2 else ()))
        label = version.label
        if version in policy.forbidden_versions and accepted:
            worst = "fail"
            problems.append(Evidence(f"{label} accepted: {detail}", expected="refused", actual="accepted",
                                     reproduction=repro))
        elif version in policy.required_versions and not accepted:
            worst = "fail"
            problems.append(Evidence(f"{label} not accepted: {detail}", expected="accepted",
                                     actual=probe.status.value if probe else "not probed", reproduction=repro))
        elif version in policy.recommended_versions and not accepted:
            worst = "warn" if worst == "pass" else worst
            problems.append(Evidence(f"{label} not accepted: {detail}", expected="accepted",
                                     actual=probe.status.value if probe else "not probed", reproduction=repro))
        else:
            notes.append(f"{label} {'accepted' if accepted else 'refused'}")
    labels = ", ".join(v.label for v in versions)
    if worst == "fail":
        return failed(say(f"{labels}: 정책 위반", f"{labels}: against the policy"), *problems)
    if worst == "warn":
        return warned(say(f"{labels}를 지원하지 않습니다(권장)", f"{labels} not offered (recommended)"), *problems)
    return passed(say("정책에 맞습니다", "as the policy requires") + f" ({'; '.join(notes)})")


@tls_check("S24-TLS-002", "versions")
def tls12_offered(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    return _version_verdict(endpoint, facts, [TlsVersion.TLS1_2])


@tls_check("S24-TLS-003", "versions")
def tls13_offered(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    return _version_verdict(endpoint, facts, [TlsVersion.TLS1_3])


@tls_check("S24-TLS-004", "versions")
def tls10_11_refused(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    return _version_verdict(endpoint, facts, [TlsVersion.TLS1_0, TlsVersion.TLS1_1])


@tls_check("S24-TLS-005", "versions")
def ssl3_refused(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    return _version_verdict(endpoint, facts, [TlsVersion.SSL3])


# ---------------------------------------------------------------- cipher suites


def _suite_name(suite: CipherSuite) -> str:
    return suite.openssl_name or suite.name


def _suite_repro(endpoint: TlsEndpoint, version: TlsVersion, suite: CipherSuite) -> str:
    if suite.openssl_name:
        cipher = f"{suite.openssl_name}:@SECLEVEL=0"
        return endpoint.s_client(_S_CLIENT_FLAGS[version], "-cipher", cipher)
    return endpoint.s_client(_S_CLIENT_FLAGS[version]) + f"  # {suite.name} (not in OpenSSL's names)"


def _all_suites(facts: TlsFacts) -> list[tuple[TlsVersion, CipherSuite]]:
    return [(v, s) for v, scan in sorted(facts.legacy_suites().items(), reverse=True) for s in scan.accepted]


@tls_check("S24-TLS-006", "versions", "suites")
def tls12_suites_policy(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    scan = facts.suites(TlsVersion.TLS1_2)
    if scan is None:
        return skipped(say("TLS 1.2를 받지 않아 건너뜀 (S24-TLS-002 참조)", "TLS 1.2 not offered, see S24-TLS-002"))
    policy = endpoint.policy
    forbidden = [s for s in scan.accepted if policy.suite_status(s) == "forbidden"]
    tolerated = [s for s in scan.accepted if policy.suite_status(s) == "tolerated"]
    accepted = ", ".join(_suite_name(s) for s in scan.accepted)
    allowed = policy.allowed_names()
    if forbidden:
        names = ", ".join(_suite_name(s) for s in forbidden)
        return failed(say(f"정책에 없는 TLS 1.2 암호군을 받습니다: {names}",
                          f"TLS 1.2 suites outside the policy are accepted: {names}"),
                      *(Evidence(f"{_suite_name(s)} ({s.code_hex}) accepted", expected=allowed,
                                 actual=_suite_name(s), reproduction=_suite_repro(endpoint, TlsVersion.TLS1_2, s))
                        for s in forbidden))
    if tolerated or not scan.complete:
        names = ", ".join(_suite_name(s) for s in tolerated)
        evidence = [Evidence(f"{_suite_name(s)} ({s.code_hex}) tolerated, not recommended", expected=allowed,
                             actual=_suite_name(s), reproduction=_suite_repro(endpoint, TlsVersion.TLS1_2, s))
                    for s in tolerated]
        if not scan.complete:
            evidence.append(Evidence(f"suite listing stopped early: {scan.stop_reason}"))
        return warned(say(f"권장하지 않는 암호군이 있습니다: {names or '목록 불완전'}",
                          f"suites tolerated but not recommended: {names or 'listing incomplete'}"), *evidence)
    return passed(say("모든 TLS 1.2 암호군이 정책 안에 있습니다", "every TLS 1.2 suite is within the policy")
                  + f" ({accepted})")


@tls_check("S24-TLS-007", "versions", "suites")
def forward_secrecy(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    suites = _all_suites(facts)
    static = [(v, s) for v, s in suites if not s.forward_secrecy]
    if not static:
        return passed(say("모든 암호군이 순방향 보안(ECDHE/DHE)을 제공합니다",
                          "every suite has forward secrecy (ECDHE/DHE)"))
    evidence = [Evidence(f"{v.label} {_suite_name(s)}: key exchange {s.kex.value}, no forward secrecy",
                         reproduction=_suite_repro(endpoint, v, s)) for v, s in static]
    names = ", ".join(sorted({_suite_name(s) for _, s in static}))
    tls12 = facts.suites(TlsVersion.TLS1_2)
    prefers_static = bool(tls12 and tls12.server_order and tls12.accepted and not tls12.accepted[0].forward_secrecy)
    only_static = len(static) == len(suites) and TlsVersion.TLS1_3 not in facts.versions.accepted
    # A MUST: any suite without forward secrecy fails, since a client (or an attacker in the middle offering
    # only those) can pick it; the reason says how bad it is.
    if only_static:
        why = ("순방향 보안 암호군이 없습니다", "no suite with forward secrecy")
    elif prefers_static:
        why = ("서버가 순방향 보안 없는 암호군을 우선합니다", "the server prefers a suite without forward secrecy")
    else:
        why = ("순방향 보안 없는 암호군도 받습니다", "suites without forward secrecy are accepted")
    return failed(say(f"{why[0]}: {names}", f"{why[1]}: {names}"), *evidence)


@tls_check("S24-TLS-008", "versions", "suites")
def no_weak_suites(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    weak = [(v, s) for v, s in _all_suites(facts) if s.weak]
    if not weak:
        return passed(say("NULL·EXPORT·DES·3DES·RC4 암호군을 받지 않습니다", "no NULL, EXPORT, DES, 3DES or RC4 suite"))
    names = ", ".join(sorted({_suite_name(s) for _, s in weak}))
    return failed(say(f"취약한 암호군을 받습니다: {names}", f"weak suites accepted: {names}"),
                  *(Evidence(f"{v.label} {_suite_name(s)}: {', '.join(sorted(w.value for w in s.weaknesses))}",
                             expected="refused", actual="accepted", reproduction=_suite_repro(endpoint, v, s))
                    for v, s in weak))


@tls_check("S24-TLS-009", "versions", "suites")
def aead_offered(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    if TlsVersion.TLS1_3 in facts.versions.accepted:
        return passed(say("TLS 1.3(모두 AEAD)을 지원합니다", "TLS 1.3 is offered (AEAD only)"))
    tls12 = facts.suites(TlsVersion.TLS1_2)
    aead = [s for s in (tls12.accepted if tls12 else ()) if s.aead]
    if aead:
        return passed(say("AEAD 암호군을 지원합니다", "AEAD suites offered") + f" ({_suite_name(aead[0])}, …)")
    offered = ", ".join(sorted({_suite_name(s) for _, s in _all_suites(facts)})) or "none"
    return failed(say("AEAD(GCM·CHACHA20) 암호군이 하나도 없습니다", "no AEAD (GCM, CHACHA20) suite is offered"),
                  Evidence(f"accepted: {offered}", expected="an ECDHE AEAD suite on TLS 1.2, or TLS 1.3",
                           actual=offered, reproduction=endpoint.s_client("-tls1_2", "-cipher", "ECDHE+AESGCM")))


# ---------------------------------------------------------------- server certificate


def _no_chain(facts: TlsFacts) -> Outcome | None:
    if facts.chain.peer_chain:
        return None
    return skipped(say("서버 인증서를 받지 못해 건너뜀", "no server certificate could be obtained")
                   + f" ({facts.chain.describe()})")


def _sent_certs(facts: TlsFacts) -> list[x509.Certificate]:
    """The leaf and every sent certificate except self-signed roots (their own signature does not matter)."""
    return [c for i, c in enumerate(facts.chain.peer_chain) if i == 0 or not self_signed(c)]


def _showcerts(endpoint: TlsEndpoint) -> str:
    return endpoint.s_client("-showcerts")


@tls_check("S24-TLS-010", "chain", "trust", "anchors")
def chain_trusted(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    if (skip := _no_chain(facts)) is not None:
        return skip
    trust = facts.trust
    store = str(endpoint.anchors) if endpoint.anchors else "system store"
    report = analyze_chain(facts.chain.peer_chain, facts.anchors)
    if trust.error not in CERT_ERRORS:
        if not (trust.ok or trust.peer_chain):
            return skipped(say("검증 연결이 인증서 단계까지 가지 못함", "the verifying handshake ended before the "
                               "certificate") + f" ({trust.describe()})")
        anchor = subject_text(report.anchor) if report.anchor else store
        return passed(say("신뢰 앵커까지 체인이 검증됩니다", "the chain verifies to a trust anchor") + f" ({anchor})")
    diagnosis = {
        ChainStatus.SELF_SIGNED: ("자체 서명 인증서입니다", "the certificate is self-signed"),
        ChainStatus.UNKNOWN_CA: ("중계기관이 신뢰하지 않는 CA가 발급했습니다",
                                 "issued by a CA the relay does not trust"),
        ChainStatus.UNKNOWN_ISSUER: ("발급자를 찾을 수 없습니다: 중간 인증서 누락 또는 신뢰하지 않는 CA",
                                    "issuer not found: a missing intermediate or a CA the relay does not trust"),
        ChainStatus.MISSING_INTERMEDIATE: ("중간 인증서가 빠져 있습니다", "an intermediate certificate is missing"),
    }.get(report.status, ("인증서 체인을 검증할 수 없습니다", "the chain does not verify"))
    top = report.path[-1] if report.path else facts.chain.peer_chain[0]
    return failed(say(*diagnosis),
                  Evidence(f"OpenSSL: {trust.detail}; top of the sent chain: {subject_text(top)}, "
                           f"issuer {top.issuer.rfc4514_string()}", expected=f"a chain to an anchor in {store}",
                           actual=report.status.value, reproduction=_showcerts(endpoint)))


@tls_check("S24-TLS-011", "chain", "anchors")
def chain_complete(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    if (skip := _no_chain(facts)) is not None:
        return skip
    sent = facts.chain.peer_chain
    report = analyze_chain(sent, facts.anchors)
    order = " → ".join(subject_text(c) for c in sent)
    evidence = Evidence(f"sent ({len(sent)}): {order}", actual=report.status.value, reproduction=_showcerts(endpoint))
    status = report.status
    if status is ChainStatus.COMPLETE:
        return passed(say("체인이 완전합니다", "the chain is complete") + f" ({len(sent)} sent)")
    # Each finding names its cause, so the report carries the catalogue's remedy for what was found.
    if status is ChainStatus.ROOT_INCLUDED:
        return warned(say("루트 인증서까지 보냅니다(불필요)", "the root certificate is sent too (not needed)"),
                      evidence, cause="root_included")
    if status is ChainStatus.OUT_OF_ORDER:
        return warned(say("체인 순서가 틀렸거나 관계없는 인증서가 섞여 있습니다",
                          "the chain is out of order or carries unrelated certificates"), evidence,
                      cause="out_of_order")
    if status is ChainStatus.MISSING_INTERMEDIATE:
        where = f"; AIA: {', '.join(report.aia)}" if report.aia else "; found in the relay's bundle"
        return failed(say(f"중간 인증서를 보내지 않습니다: {report.missing}",
                          f"the intermediate certificate is not sent: {report.missing}"),
                      Evidence(f"sent ({len(sent)}): {order}{where}", expected=f"leaf + {report.missing}",
                               actual=status.value, reproduction=_showcerts(endpoint)),
                      cause="missing_intermediate")
    if status is ChainStatus.UNKNOWN_ISSUER:
        return failed(say(f"발급자 인증서를 보내지 않았고 신뢰 목록에도 없습니다: {report.missing}",
                          f"the issuer is neither sent nor among the anchors: {report.missing}"), evidence,
                      cause="unknown_issuer")
    return skipped(say("신뢰하지 않는 CA로 이어지는 체인이라 완전성을 판단하지 않음 (S24-TLS-010 참조)",
                       "the chain leads to a CA outside the anchors, see S24-TLS-010") + f" ({status.value})")


@tls_check("S24-TLS-012", "chain")
def name_matches(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    if (skip := _no_chain(facts)) is not None:
        return skip
    leaf = facts.chain.peer_chain[0]
    name = endpoint.name
    match = match_name(leaf, name)
    names = names_of(leaf)
    if match is NameMatch.SAN:
        return passed(say(f"인증서가 {name}을(를) 포함합니다", f"the certificate covers {name}"))
    evidence = Evidence(f"certificate names: {', '.join(names) or '(none)'}", expected=name, actual=names,
                        reproduction=_showcerts(endpoint))
    if match is NameMatch.CN_ONLY:
        return warned(say(f"SAN 없이 CN에만 {name}이(가) 있습니다", f"{name} is only in the CN (no SAN)"), evidence)
    return failed(say(f"인증서 이름이 {name}과(와) 다릅니다", f"the certificate does not cover {name}"), evidence)


@tls_check("S24-TLS-013", "chain")
def validity(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    if (skip := _no_chain(facts)) is not None:
        return skip
    leaf, policy = facts.chain.peer_chain[0], endpoint.policy
    now = dt.datetime.now(dt.UTC)
    left = days_left(leaf, now)
    span = f"{leaf.not_valid_before_utc:%Y-%m-%d} … {leaf.not_valid_after_utc:%Y-%m-%d}"
    evidence = Evidence(f"validity {span} ({left:.0f} days left)", expected=f"> {policy.expiry_warn_days} days left",
                        actual=f"{left:.1f} days", reproduction=endpoint.s_client() + " | openssl x509 -noout -dates")
    if leaf.not_valid_before_utc > now:
        return failed(say(f"아직 유효하지 않습니다(시작 {leaf.not_valid_before_utc:%Y-%m-%d})",
                          f"not valid yet (from {leaf.not_valid_before_utc:%Y-%m-%d})"), evidence)
    if left < 0:
        return failed(say(f"만료되었습니다({leaf.not_valid_after_utc:%Y-%m-%d})",
                          f"expired on {leaf.not_valid_after_utc:%Y-%m-%d}"), evidence)
    if left <= policy.expiry_fail_days:
        return failed(say(f"{left:.0f}일 뒤 만료됩니다({policy.expiry_fail_days}일 이하)",
                          f"expires in {left:.0f} days (≤ {policy.expiry_fail_days})"), evidence)
    if left <= policy.expiry_warn_days:
        return warned(say(f"{left:.0f}일 뒤 만료됩니다({policy.expiry_warn_days}일 이하)",
                          f"expires in {left:.0f} days (≤ {policy.expiry_warn_days})"), evidence)
    return passed(say(f"유효합니다({left:.0f}일 남음)", f"valid, {left:.0f} days left"))


@tls_check("S24-TLS-014", "chain")
def lifespan(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    if (skip := _no_chain(facts)) is not None:
        return skip
    leaf, limit = facts.chain.peer_chain[0], endpoint.policy.max_lifespan_days
    days = lifespan_days(leaf)
    if days > limit:
        return warned(say(f"유효기간이 {days:.0f}일로 {limit}일을 넘습니다",
                          f"lifespan {days:.0f} days exceeds {limit}"),
                      Evidence(f"{leaf.not_valid_before_utc:%Y-%m-%d} … {leaf.not_valid_after_utc:%Y-%m-%d}",
                               expected=f"≤ {limit} days", actual=f"{days:.0f} days",
                               reproduction=endpoint.s_client() + " | openssl x509 -noout -dates"))
    return passed(say(f"유효기간 {days:.0f}일", f"lifespan {days:.0f} days"))


@tls_check("S24-TLS-015", "chain")
def key_size(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    if (skip := _no_chain(facts)) is not None:
        return skip
    policy = endpoint.policy
    fails: list[Evidence] = []
    warns: list[Evidence] = []
    repro = endpoint.s_client() + " | openssl x509 -noout -text"
    for cert in _sent_certs(facts):
        key = key_facts(cert)
        who = subject_text(cert)
        if key.kind == "RSA" and (key.bits < policy.min_rsa_bits or (key.exponent or 0) < 3):
            fails.append(Evidence(f"{who}: {key.label()}, e={key.exponent}", expected=f"RSA ≥ {policy.min_rsa_bits}",
                                  actual=key.label(), reproduction=repro))
        elif key.kind == "EC" and key.bits < policy.min_ec_bits:
            fails.append(Evidence(f"{who}: {key.label()}", expected=f"EC ≥ {policy.min_ec_bits} bit",
                                  actual=key.label(), reproduction=repro))
        elif key.kind in ("DSA", "unknown"):
            fails.append(Evidence(f"{who}: {key.label()}", expected="RSA or EC", actual=key.label(),
                                  reproduction=repro))
        elif (key.kind == "RSA" and key.bits < policy.rsa_after_sunset_bits
              and cert.not_valid_after_utc.date() > policy.rsa_sunset):
            warns.append(Evidence(f"{who}: {key.label()} valid until {cert.not_valid_after_utc:%Y-%m-%d}, "
                                  f"after {policy.rsa_sunset} (KISA: 128-bit security)",
                                  expected=f"RSA ≥ {policy.rsa_after_sunset_bits} or EC P-256",
                                  actual=key.label(), reproduction=repro))
    if fails:
        return failed(say("키 길이가 부족합니다", "key too weak"), *fails)
    if warns:
        return warned(say(f"{policy.rsa_sunset} 이후에도 쓰는 RSA-2048 키입니다",
                          f"an RSA-2048 key used beyond {policy.rsa_sunset}"), *warns)
    leaf_key = key_facts(facts.chain.peer_chain[0]).label()
    return passed(say("키 길이가 충분합니다", "key sizes are sufficient") + f" ({leaf_key})")


@tls_check("S24-TLS-016", "chain")
def signature_algorithm(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    if (skip := _no_chain(facts)) is not None:
        return skip
    allowed = endpoint.policy.signature_hashes | {"intrinsic"}
    bad = [(c, signature_hash(c)) for c in _sent_certs(facts) if signature_hash(c) not in allowed]
    if bad:
        return failed(say("약한 해시(SHA-1 등)로 서명된 인증서가 있습니다", "a certificate is signed with a weak hash"),
                      *(Evidence(f"{subject_text(c)}: signed with {h}",
                                 expected=sorted(endpoint.policy.signature_hashes), actual=h,
                                 reproduction=endpoint.s_client() + " | openssl x509 -noout -text")
                        for c, h in bad))
    used = sorted({signature_hash(c) for c in _sent_certs(facts)})
    return passed(say("서명 해시가 충분히 강합니다", "signature hashes are strong") + f" ({', '.join(used)})")


@tls_check("S24-TLS-017", "chain")
def certificate_profile(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    if (skip := _no_chain(facts)) is not None:
        return skip
    lints = lint_server_cert(facts.chain.peer_chain[0])
    if not lints:
        return passed(say("서버 인증서 프로필이 올바릅니다", "the server certificate profile is sound"))
    return warned(say("; ".join(x.message_ko for x in lints), "; ".join(x.message_en for x in lints)),
                  *(Evidence(f"{x.code}: {x.message_en}",
                             reproduction=endpoint.s_client() + " | openssl x509 -noout -text") for x in lints))


# ---------------------------------------------------------------- mutual TLS


def _client_repro(endpoint: TlsEndpoint, stem: str | None) -> str:
    if stem is None:
        return endpoint.s_client(cert=False)
    if stem == "relay":
        return endpoint.s_client()
    return endpoint.s_client(cert=f"{stem}.pem", key=f"{stem}.key") + f"  # {stem}.pem: made by the kit for this run"


def _accepted_evidence(outcome: HandshakeOutcome, repro: str) -> Evidence:
    answer = f", HTTP {outcome.http_status}" if outcome.http_status else ""
    return Evidence(f"handshake completed ({outcome.version}){answer}", expected="refused (alert)",
                    actual="accepted", reproduction=repro)


def _must_refuse(endpoint: TlsEndpoint, facts: TlsFacts, variant: str, stem: str | None,
                 what: tuple[str, str]) -> Outcome:
    """Shared verdict of the checks that expect a refusal for client certificate `variant`."""
    if (skip := _no_modern_tls(facts)) is not None:
        return skip
    relay = facts.mtls("relay")
    relay_ok = relay is not None and _accepted(relay)
    if variant != "none" and relay is not None and not relay_ok:
        return skipped(say("중계기관 인증서도 거부되어 판단할 수 없음 (S24-TLS-019 참조)",
                           "the relay's own certificate is refused too, see S24-TLS-019"))
    outcome = facts.mtls(variant)
    if outcome is None:
        return skipped(say("이 시험용 인증서를 만들려면 클라이언트 CA 인증서와 키가 필요합니다",
                           "making this test certificate needs the client CA certificate and key"))
    repro = _client_repro(endpoint, stem)
    # handshake_failure also means "no suite in common": a refusal only if the relay's certificate gets through.
    if outcome.error in CLIENT_REFUSALS or (outcome.error is TlsError.HANDSHAKE_FAILURE and relay_ok):
        alert = f" (alert {outcome.alert})" if outcome.alert else ""
        return passed(say(f"{what[0]} 연결을 거부합니다", f"refuses a connection {what[1]}") + alert)
    # Some servers (asyncio-based ones such as uvicorn) hang up without an alert. The same request with the
    # relay's certificate gets an answer, so the hang-up is this certificate's refusal.
    hung_up = outcome.closed or (outcome.error is TlsError.RESET_DURING_HANDSHAKE and outcome.stage == "confirm")
    if hung_up and relay is not None and relay.answered:
        return passed(say(f"{what[0]} 연결을 끊습니다(경고 메시지 없이)", f"hangs up on a connection {what[1]}")
                      + " (no alert)")
    if outcome.ok and (outcome.answered or outcome.version != "TLSv1.3"):
        return failed(say(f"{what[0]} 연결을 받아들입니다", f"accepts a connection {what[1]}"),
                      _accepted_evidence(outcome, repro))
    return warned(say(f"{what[0]} 연결에 대한 서버의 판단을 확인할 수 없습니다",
                      f"cannot tell whether the server refuses a connection {what[1]}"),
                  Evidence(outcome.describe() if not outcome.ok else "handshake completed; no answer and no alert",
                           expected="refused (alert)", actual=outcome.error.value if outcome.error else "no answer",
                           reproduction=repro))


def _accepted(outcome: HandshakeOutcome) -> bool:
    """The handshake completed and the server did not hang up on the request that followed."""
    return outcome.ok and not outcome.closed


def _no_modern_tls(facts: TlsFacts) -> Outcome | None:
    if set(facts.versions.accepted) & {TlsVersion.TLS1_2, TlsVersion.TLS1_3}:
        return None
    return skipped(say("TLS 1.2·1.3을 받지 않아 상호 TLS를 시험할 수 없음 (S24-TLS-002 참조)",
                       "neither TLS 1.2 nor 1.3 is offered, so mutual TLS cannot be tried, see S24-TLS-002"))


@tls_check("S24-TLS-018", "versions", "mtls:none", "mtls:relay")
def mtls_required(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    return _must_refuse(endpoint, facts, "none", None, ("클라이언트 인증서 없는", "without a client certificate"))


@tls_check("S24-TLS-019", "versions", "mtls:relay")
def mtls_accepts_relay(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    if (skip := _no_modern_tls(facts)) is not None:
        return skip
    outcome = facts.mtls("relay")
    if outcome is None:
        return skipped(say("중계기관 클라이언트 인증서가 설정되지 않았습니다",
                           "no relay client certificate configured"))
    if _accepted(outcome):
        answer = f", HTTP {outcome.http_status}" if outcome.http_status else ", no HTTP answer yet"
        return passed(say("중계기관 인증서로 연결됩니다", "the relay's certificate is accepted")
                      + f" ({outcome.version}{answer})")
    if outcome.ok:  # completed, then hung up without answering: how asyncio servers refuse on TLS 1.3
        return failed(say("핸드셰이크 직후 서버가 응답 없이 연결을 끊습니다(인증서 거부로 보임)",
                          "the server hangs up right after the handshake (the certificate looks refused)"),
                      Evidence(f"handshake completed ({outcome.version}), then the connection closed without an "
                               "answer or alert", expected="an HTTP answer", actual="closed",
                               reproduction=_client_repro(endpoint, "relay")))
    return failed(say("중계기관 클라이언트 인증서를 거부합니다", "the relay's client certificate is refused"),
                  Evidence(outcome.describe(), expected="accepted",
                           actual=outcome.error.value if outcome.error else None,
                           reproduction=_client_repro(endpoint, "relay")))


@tls_check("S24-TLS-020", "versions", "mtls:relay", "mtls:foreign")
def mtls_refuses_foreign(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    return _must_refuse(endpoint, facts, "foreign", "foreign-client",
                        ("다른 CA가 발급한 인증서로 한", "with a certificate from a foreign CA"))


@tls_check("S24-TLS-021", "versions", "mtls:relay", "mtls:expired")
def mtls_refuses_expired(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    return _must_refuse(endpoint, facts, "expired", "expired-client",
                        ("만료된 클라이언트 인증서로 한", "with an expired client certificate"))


@tls_check("S24-TLS-022", "versions", "mtls:relay", "mtls:no_client_auth")
def mtls_refuses_no_client_auth(endpoint: TlsEndpoint, facts: TlsFacts) -> Outcome:
    return _must_refuse(endpoint, facts, "no_client_auth", "no-client-auth",
                        ("clientAuth 용도가 없는 인증서로 한", "with a certificate lacking clientAuth"))

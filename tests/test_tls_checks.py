"""The TLS checks S24-TLS-001…022: each passes on a good server and fails (or warns) on the broken one.

Servers are real: stdlib `ssl` in threads, `openssl s_server` and tlslite-ng (tests/tls_servers.py),
certificates come from the kit's factory (simulator/certfactory.py). Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from s24kit.conformance.catalogue import requirement
from s24kit.conformance.checks.registry import CHECKS, Result
from s24kit.conformance.tls.certs import ChainStatus, NameMatch, analyze_chain, lint_server_cert, match_name
from s24kit.conformance.tls.checks import NEEDS
from s24kit.conformance.tls.ciphers import by_name
from s24kit.conformance.tls.endpoint import TlsEndpoint, TlsError, handshake, run_tls_checks
from s24kit.conformance.tls.policy import PolicyError, TlsPolicy
from s24kit.schemas.loader import is_valid
from s24kit.simulator.certfactory import CertFactory, Issued, new_key, write_bundle
from s24kit.simulator.pki import Credential
from s24kit.simulator.serving import serving

from ._require import require
from .tls_servers import (
    LOCAL,
    closed_port,
    legacy_server,
    openssl_server,
    plain_http_server,
    reset_server,
    server_context,
    silent_server,
    tls_server,
)

TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3
TLS_IDS = [f"S24-TLS-{n:03d}" for n in range(1, 23)]


@dataclass(frozen=True)
class Pki:
    """Every credential the tests serve, written once per module."""

    dir: Path
    root: Issued
    inter: Issued
    anchors: Path  # the relay trusts the root only
    anchors_with_inter: Path  # … and also knows the intermediate
    client_ca: Credential
    relay: Credential
    creds: dict[str, Credential]

    def __getitem__(self, name: str) -> Credential:
        return self.creds[name]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("tls-pki")
    f = CertFactory()
    root = f.ca("Relay Test Root")
    inter = f.ca("Relay Test Intermediate", issuer=root)
    foreign_root = f.ca("Foreign Root")
    hosts = ("clinic.test", LOCAL)
    rsa2048 = new_key("rsa", bits=2048)
    leaves = {
        "good": f.leaf(inter, "clinic.test", hosts=hosts),
        "good_rsa": f.leaf(inter, "clinic.test", hosts=hosts, key=rsa2048),
        "expired": f.leaf(inter, "clinic.test", hosts=hosts, days_left=-1),
        "not_yet_valid": f.leaf(inter, "clinic.test", hosts=hosts, days_before=-2, days_left=90),
        "days20": f.leaf(inter, "clinic.test", hosts=hosts, days_left=20),
        "days50": f.leaf(inter, "clinic.test", hosts=hosts, days_left=50),
        "long_life": f.leaf(inter, "clinic.test", hosts=hosts, days_before=400, days_left=100),
        "wrong_name": f.leaf(inter, "other.test", hosts=("other.test", "10.9.9.9")),
        "no_san": f.leaf(inter, "clinic.test", san=False),
        "self_signed": f.leaf(None, "clinic.test", hosts=hosts),
        "foreign": f.leaf(foreign_root, "clinic.test", hosts=hosts),
        "rsa1024": f.leaf(inter, "clinic.test", hosts=hosts, key=new_key("rsa", bits=1024)),
        "rsa2048_2032": f.leaf(inter, "clinic.test", hosts=hosts, key=rsa2048, days_left=2200),
        "ca_as_server": f.leaf(inter, "clinic.test", hosts=hosts, is_ca=True),
        "client_only_eku": f.leaf(inter, "clinic.test", hosts=hosts, server=False, client=True),
    }
    creds = {name: leaf.write(folder, name) for name, leaf in leaves.items()}
    creds["leaf_only"] = leaves["good"].write(folder, "leaf_only", with_chain=False)
    good = leaves["good"]
    creds["root_included"] = _write_chain(folder / "root_included", good, good.cert, inter.cert, root.cert)
    creds["out_of_order"] = _write_chain(folder / "out_of_order", good, good.cert, root.cert, inter.cert)
    if shutil.which("openssl"):
        creds["sha1"] = f.leaf(inter, "clinic.test", hosts=hosts, key=new_key("rsa"), sha1=True).write(folder, "sha1")
    client_root = f.ca("Relay Client CA")
    client_ca = client_root.write(folder, "client_ca")
    relay = f.leaf(client_root, "relay-client", server=False, client=True).write(folder, "relay")
    return Pki(folder, root, inter, write_bundle(folder / "anchors.pem", root),
               write_bundle(folder / "anchors_inter.pem", root, inter), client_ca, relay, creds)


def _write_chain(stem: Path, leaf: Issued, *certs: x509.Certificate) -> Credential:
    from cryptography.hazmat.primitives import serialization

    cred = Credential(stem.with_suffix(".pem"), stem.with_suffix(".key"))
    cred.cert.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    cred.key.write_bytes(leaf.key_pem())
    return cred


def endpoint(pki: Pki, port: int, **overrides: object) -> TlsEndpoint:
    values: dict[str, object] = {"server_name": "clinic.test", "anchors": pki.anchors, "client_cert": pki.relay.cert,
                                 "client_key": pki.relay.key, "client_ca_cert": pki.client_ca.cert,
                                 "client_ca_key": pki.client_ca.key, "timeout": 2.0}
    values.update(overrides)
    return TlsEndpoint(LOCAL, port, **values)  # type: ignore[arg-type]


def run(ep: TlsEndpoint, ids: Iterable[str] | None = None) -> dict[str, Result]:
    wanted = set(ids) if ids is not None else None
    return {r.requirement: r for r in run_tls_checks(ep, None if wanted is None else wanted.__contains__)}


def verdicts(ep: TlsEndpoint, *ids: str) -> dict[str, str]:
    return {rid: r.verdict for rid, r in run(ep, ids).items()}


def serve(pki: Pki, cert: str = "good", **options: object):
    """The good server's settings (mTLS with the relay CA, TLS 1.2-1.3, ECDHE AEAD) with `options` changed."""
    settings: dict[str, object] = {"client_ca": pki.client_ca.cert}
    settings.update(options)
    return tls_server(pki[cert], **settings)


# ---------------------------------------------------------------- the good server passes everything


@pytest.mark.parametrize("maximum", [TLS13, TLS12], ids=["tls13", "tls12"])
def test_good_server_passes_every_tls_check(pki: Pki, maximum: ssl.TLSVersion) -> None:
    with serve(pki, maximum=maximum) as server:
        results = run(endpoint(pki, server.port))
    assert sorted(results) == TLS_IDS
    expected = {rid: "pass" for rid in TLS_IDS}
    if maximum is TLS12:
        expected["S24-TLS-003"] = "warn"  # TLS 1.3 not offered
    assert {rid: r.verdict for rid, r in results.items()} == expected, {
        rid: r.outcome.reason for rid, r in results.items() if r.verdict != expected[rid]}
    for result in results.values():
        assert is_valid("report#/properties/results/items", result.as_json()), result.as_json()


def test_every_tls_check_is_registered_with_its_needs() -> None:
    tls = sorted(rid for rid, c in CHECKS.items() if c.kind == "tls")
    assert tls == TLS_IDS
    assert set(NEEDS) == set(TLS_IDS)


def test_checks_run_one_by_one_share_the_probes(pki: Pki) -> None:
    """The runner calls Check.run(endpoint) per check; the endpoint object carries the shared probes."""
    with serve(pki) as server:
        ep = endpoint(pki, server.port)
        first = [CHECKS[rid].run(ep) for rid in TLS_IDS]
        # The server is gone now: checks run again on the same object reuse what was probed.
    again = [CHECKS[rid].run(ep) for rid in TLS_IDS]
    assert [r.verdict for r in first] == [r.verdict for r in again] == ["pass"] * len(TLS_IDS)
    ep.refresh()
    assert CHECKS["S24-TLS-001"].run(ep).verdict == "fail"


# ---------------------------------------------------------------- S24-TLS-001 speaks TLS (and the gate)


def test_plain_http_fails_speaks_tls_and_skips_the_rest(pki: Pki) -> None:
    with plain_http_server() as port:
        results = run(endpoint(pki, port))
    assert results["S24-TLS-001"].verdict == "fail"
    assert "plain HTTP" in results["S24-TLS-001"].outcome.reason
    evidence = results["S24-TLS-001"].outcome.evidence[0]
    assert evidence.reproduction and evidence.reproduction.startswith("openssl s_client -connect 127.0.0.1:")
    assert {r.verdict for rid, r in results.items() if rid != "S24-TLS-001"} == {"skip"}


@pytest.mark.parametrize("kind", ["silent", "reset", "closed"])
def test_broken_listeners_fail_speaks_tls(pki: Pki, kind: str) -> None:
    servers = {"silent": silent_server, "reset": reset_server}
    words = {"silent": "nothing answers", "reset": "reset", "closed": "refused"}
    if kind == "closed":
        with closed_port() as port:
            result = run(endpoint(pki, port, timeout=0.5), ["S24-TLS-001"])["S24-TLS-001"]
    else:
        with servers[kind]() as server:
            result = run(endpoint(pki, server.port, timeout=0.5), ["S24-TLS-001"])["S24-TLS-001"]
    assert result.verdict == "fail" and words[kind] in result.outcome.reason


# ---------------------------------------------------------------- versions


def test_tls13_only_server_fails_tls12_offered(pki: Pki) -> None:
    with serve(pki, minimum=TLS13) as server:
        got = verdicts(endpoint(pki, server.port), "S24-TLS-002", "S24-TLS-003", "S24-TLS-006")
    assert got == {"S24-TLS-002": "fail", "S24-TLS-003": "pass", "S24-TLS-006": "skip"}


def test_legacy_server_fails_versions_and_suites(pki: Pki) -> None:
    with legacy_server(pki["good_rsa"]) as server:
        results = run(endpoint(pki, server.port))
    got = {rid: results[rid].verdict for rid in ("S24-TLS-002", "S24-TLS-004", "S24-TLS-005", "S24-TLS-007",
                                                  "S24-TLS-008", "S24-TLS-009")}
    assert got == dict.fromkeys(got, "fail")
    weak = results["S24-TLS-008"]
    assert "DES-CBC3-SHA" in weak.outcome.reason and "RC4-SHA" in weak.outcome.reason
    assert any("-ssl3" in (e.reproduction or "") for e in results["S24-TLS-005"].outcome.evidence)
    assert any("-tls1 " in (e.reproduction or "") for e in results["S24-TLS-004"].outcome.evidence)
    # TLS 1.2+ handshakes are impossible, so the certificate and mTLS checks have nothing to judge
    # (the server's handshake_failure must not pass for "refuses clients without a certificate").
    assert results["S24-TLS-012"].verdict == "skip"
    assert {results[rid].verdict for rid in MTLS} == {"skip"}
    for result in results.values():  # failures with evidence and remedies are valid report items too
        assert is_valid("report#/properties/results/items", result.as_json()), result.as_json()


# ---------------------------------------------------------------- cipher suites


def test_rsa_key_exchange_suite_fails_policy_and_forward_secrecy(pki: Pki) -> None:
    with serve(pki, "good_rsa", maximum=TLS12, ciphers="ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA") as server:
        results = run(endpoint(pki, server.port), ["S24-TLS-006", "S24-TLS-007", "S24-TLS-008"])
    assert results["S24-TLS-006"].verdict == "fail" and "AES128-SHA" in results["S24-TLS-006"].outcome.reason
    assert all(is_valid("report#/properties/results/items", r.as_json()) for r in results.values())
    assert "-cipher AES128-SHA:@SECLEVEL=0" in (results["S24-TLS-006"].outcome.evidence[0].reproduction or "")
    # A MUST: a suite without forward secrecy fails even when the server does not prefer it.
    assert results["S24-TLS-007"].verdict == "fail" and "accepted" in results["S24-TLS-007"].outcome.reason
    assert results["S24-TLS-008"].verdict == "pass"


def test_server_preferring_rsa_key_exchange_fails_forward_secrecy(pki: Pki) -> None:
    with serve(pki, "good_rsa", maximum=TLS12, ciphers="AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256") as server:
        assert verdicts(endpoint(pki, server.port), "S24-TLS-007") == {"S24-TLS-007": "fail"}


def test_only_rsa_key_exchange_fails_forward_secrecy(pki: Pki) -> None:
    with serve(pki, "good_rsa", maximum=TLS12, ciphers="AES128-GCM-SHA256:AES256-GCM-SHA384") as server:
        assert verdicts(endpoint(pki, server.port), "S24-TLS-007") == {"S24-TLS-007": "fail"}


def test_cbc_sha2_suite_is_tolerated_with_a_warning(pki: Pki) -> None:
    with serve(pki, maximum=TLS12, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256") as server:
        assert verdicts(endpoint(pki, server.port), "S24-TLS-006") == {"S24-TLS-006": "warn"}


def test_no_aead_suite_fails(pki: Pki) -> None:
    with serve(pki, maximum=TLS12, ciphers="ECDHE-ECDSA-AES128-SHA256") as server:
        got = verdicts(endpoint(pki, server.port), "S24-TLS-006", "S24-TLS-009")
    assert got == {"S24-TLS-006": "warn", "S24-TLS-009": "fail"}


# ---------------------------------------------------------------- trust and chain


def test_foreign_ca_fails_trust_and_is_not_called_incomplete(pki: Pki) -> None:
    with serve(pki, "foreign") as server:
        results = run(endpoint(pki, server.port), ["S24-TLS-010", "S24-TLS-011"])
    assert results["S24-TLS-010"].verdict == "fail"
    assert "does not trust" in results["S24-TLS-010"].outcome.reason or "not found" in results[
        "S24-TLS-010"].outcome.reason
    assert results["S24-TLS-011"].verdict in ("skip", "fail")


def test_self_signed_fails_trust(pki: Pki) -> None:
    with serve(pki, "self_signed") as server:
        results = run(endpoint(pki, server.port), ["S24-TLS-010", "S24-TLS-011"])
    assert results["S24-TLS-010"].verdict == "fail" and "self-signed" in results["S24-TLS-010"].outcome.reason
    assert results["S24-TLS-011"].verdict == "skip"


def test_missing_intermediate_is_told_apart_from_unknown_ca(pki: Pki) -> None:
    with serve(pki, "leaf_only") as server:
        # The relay's bundle knows the intermediate: OpenSSL verifies, but other clients would not.
        knows = run(endpoint(pki, server.port, anchors=pki.anchors_with_inter), ["S24-TLS-010", "S24-TLS-011"])
        # The relay trusts the root only: the issuer is nowhere, so trust fails too.
        root_only = run(endpoint(pki, server.port), ["S24-TLS-010", "S24-TLS-011"])
    assert knows["S24-TLS-010"].verdict == "pass"
    assert knows["S24-TLS-011"].verdict == "fail"
    assert "intermediate" in knows["S24-TLS-011"].outcome.reason
    assert "Relay Test Intermediate" in knows["S24-TLS-011"].outcome.reason
    assert root_only["S24-TLS-010"].verdict == "fail" and "missing intermediate" in root_only[
        "S24-TLS-010"].outcome.reason
    assert root_only["S24-TLS-011"].verdict == "fail"
    # The remedy says what was found: the intermediate is missing (not "the root is sent").
    remedy = knows["S24-TLS-011"].as_json()["remedy_en"]
    assert remedy.startswith("The intermediate certificate is not sent") and "root certificate is sent" not in remedy


@pytest.mark.parametrize("cert", ["root_included", "out_of_order"])
def test_root_included_or_out_of_order_chain_warns(pki: Pki, cert: str) -> None:
    with serve(pki, cert) as server:
        results = run(endpoint(pki, server.port), ["S24-TLS-010", "S24-TLS-011"])
    assert {rid: r.verdict for rid, r in results.items()} == {"S24-TLS-010": "pass", "S24-TLS-011": "warn"}
    remedy = results["S24-TLS-011"].as_json()
    found = {"root_included": "the root certificate is sent too", "out_of_order": "out of order"}[cert]
    assert found in remedy["remedy_en"] and "intermediate certificate is not sent" not in remedy["remedy_en"]
    assert remedy["remedy_ko"] != requirement("S24-TLS-011").remedy_ko


# ---------------------------------------------------------------- name, validity, key, signature, profile


@pytest.mark.parametrize(("cert", "verdict"), [("wrong_name", "fail"), ("no_san", "warn")])
def test_name_mismatch(pki: Pki, cert: str, verdict: str) -> None:
    with serve(pki, cert) as server:
        results = run(endpoint(pki, server.port), ["S24-TLS-012"])
    assert results["S24-TLS-012"].verdict == verdict
    if verdict == "fail":
        assert results["S24-TLS-012"].outcome.evidence[0].actual == ["other.test", "10.9.9.9"]


def test_name_matches_the_ip_address_the_relay_uses(pki: Pki) -> None:
    with serve(pki) as server:
        assert verdicts(endpoint(pki, server.port, server_name=None), "S24-TLS-012") == {"S24-TLS-012": "pass"}
    with serve(pki, "wrong_name") as server:
        assert verdicts(endpoint(pki, server.port, server_name=None), "S24-TLS-012") == {"S24-TLS-012": "fail"}


@pytest.mark.parametrize(("cert", "verdict", "word"), [
    ("expired", "fail", "expired"), ("not_yet_valid", "fail", "not valid yet"),
    ("days20", "fail", "expires in"), ("days50", "warn", "expires in"),
])
def test_validity(pki: Pki, cert: str, verdict: str, word: str) -> None:
    with serve(pki, cert) as server:
        result = run(endpoint(pki, server.port), ["S24-TLS-013", "S24-TLS-010"])
    assert result["S24-TLS-013"].verdict == verdict and word in result["S24-TLS-013"].outcome.reason
    assert result["S24-TLS-010"].verdict == "pass"  # trust is judged apart from dates


def test_long_lifespan_warns(pki: Pki) -> None:
    with serve(pki, "long_life") as server:
        assert verdicts(endpoint(pki, server.port), "S24-TLS-014") == {"S24-TLS-014": "warn"}


def test_rsa_1024_fails_key_size(pki: Pki) -> None:
    with serve(pki, "rsa1024", ciphers="DEFAULT:@SECLEVEL=0") as server:
        results = run(endpoint(pki, server.port), ["S24-TLS-015", "S24-TLS-010"])
    assert results["S24-TLS-015"].verdict == "fail"
    assert results["S24-TLS-015"].outcome.evidence[0].actual == "RSA 1024 bit"
    assert results["S24-TLS-010"].verdict == "pass"


def test_rsa_2048_beyond_2030_warns(pki: Pki) -> None:
    with serve(pki, "rsa2048_2032") as server:
        assert verdicts(endpoint(pki, server.port), "S24-TLS-015") == {"S24-TLS-015": "warn"}


def test_sha1_signature_fails(pki: Pki) -> None:
    require("sha1" in pki.creds, "the openssl binary is not installed (needed to sign with SHA-1)")
    with serve(pki, "sha1", ciphers="DEFAULT:@SECLEVEL=0") as server:
        results = run(endpoint(pki, server.port), ["S24-TLS-016", "S24-TLS-010"])
    assert results["S24-TLS-016"].verdict == "fail" and results["S24-TLS-016"].outcome.evidence[0].actual == "sha1"
    assert results["S24-TLS-010"].verdict == "pass"


@pytest.mark.parametrize(("cert", "code"), [("ca_as_server", "is_ca"), ("client_only_eku", "no_server_auth"),
                                            ("no_san", "no_san")])
def test_profile_lint_warns(pki: Pki, cert: str, code: str) -> None:
    with serve(pki, cert) as server:
        result = run(endpoint(pki, server.port), ["S24-TLS-017"])["S24-TLS-017"]
    assert result.verdict == "warn"
    assert any(e.message.startswith(code) for e in result.outcome.evidence)


# ---------------------------------------------------------------- mutual TLS

MTLS = ["S24-TLS-018", "S24-TLS-019", "S24-TLS-020", "S24-TLS-021", "S24-TLS-022"]


@pytest.mark.parametrize("maximum", [TLS13, TLS12], ids=["tls13", "tls12"])
def test_server_without_mtls_fails(pki: Pki, maximum: ssl.TLSVersion) -> None:
    with serve(pki, client_ca=None, maximum=maximum) as server:
        got = verdicts(endpoint(pki, server.port), *MTLS)
    assert got == {"S24-TLS-018": "fail", "S24-TLS-019": "pass", "S24-TLS-020": "fail", "S24-TLS-021": "fail",
                   "S24-TLS-022": "fail"}


def test_optional_client_certificate_fails_only_the_requirement(pki: Pki) -> None:
    with serve(pki, verify_mode=ssl.CERT_OPTIONAL) as server:
        got = verdicts(endpoint(pki, server.port), *MTLS)
    assert got == {"S24-TLS-018": "fail", "S24-TLS-019": "pass", "S24-TLS-020": "pass", "S24-TLS-021": "pass",
                   "S24-TLS-022": "pass"}


def test_server_trusting_another_ca_refuses_the_relay(pki: Pki) -> None:
    with serve(pki, client_ca=pki.anchors) as server:
        results = run(endpoint(pki, server.port), MTLS)
    assert results["S24-TLS-019"].verdict == "fail"
    evidence = results["S24-TLS-019"].outcome.evidence[0]
    assert evidence.actual == "CLIENT_CERT_REJECTED" and "unknown_ca" in evidence.message
    assert f"-cert {pki.relay.cert}" in (evidence.reproduction or "")
    assert results["S24-TLS-018"].verdict == "pass"
    # Refusing everyone proves nothing about foreign, expired or clientAuth-less certificates.
    assert {results[rid].verdict for rid in ("S24-TLS-020", "S24-TLS-021", "S24-TLS-022")} == {"skip"}


def test_lax_verification_accepts_any_client_certificate(pki: Pki) -> None:
    # s_server without -verify_return_error reports verify errors and carries on: nginx's optional_no_ca.
    with openssl_server(pki["good"], "-Verify", "1", "-CAfile", str(pki.client_ca.cert)) as port:
        got = verdicts(endpoint(pki, port), *MTLS)
    assert got == {"S24-TLS-018": "pass", "S24-TLS-019": "pass", "S24-TLS-020": "fail", "S24-TLS-021": "fail",
                   "S24-TLS-022": "fail"}


def test_strict_openssl_server_passes_mtls(pki: Pki) -> None:
    args = ("-Verify", "1", "-verify_return_error", "-CAfile", str(pki.client_ca.cert))
    with openssl_server(pki["good"], *args) as port:
        got = verdicts(endpoint(pki, port), *MTLS)
    assert got == dict.fromkeys(MTLS, "pass")


@pytest.mark.parametrize("maximum", [TLS13, TLS12], ids=["tls13", "tls12"])
def test_mtls_variants_skip_without_what_they_need(pki: Pki, maximum: ssl.TLSVersion) -> None:
    with serve(pki, maximum=maximum) as server:
        got = verdicts(endpoint(pki, server.port, client_cert=None, client_key=None, client_ca_cert=None,
                                client_ca_key=None), *MTLS)
    # TLS 1.2 answers a missing certificate with handshake_failure, which can also mean "no common suite":
    # without the relay's certificate to compare, the kit cannot tell and says so.
    first = "pass" if maximum is TLS13 else "warn"
    assert got == {"S24-TLS-018": first, "S24-TLS-019": "skip", "S24-TLS-020": "pass", "S24-TLS-021": "skip",
                   "S24-TLS-022": "skip"}


def test_unloadable_relay_certificate_fails_019_but_not_the_server_checks(pki: Pki, tmp_path: Path) -> None:
    broken = tmp_path / "relay.pem"
    broken.write_text("not a certificate")
    with serve(pki) as server:
        results = run(endpoint(pki, server.port, client_cert=broken, client_key=broken))
    assert results["S24-TLS-019"].verdict == "fail"
    assert results["S24-TLS-019"].outcome.evidence[0].actual == "CLIENT_CONFIG"
    assert all(results[rid].verdict == "pass" for rid in TLS_IDS[9:17]), {
        rid: results[rid].outcome.reason for rid in TLS_IDS[9:17]}


async def _hello_app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})


def test_asyncio_server_that_hangs_up_without_an_alert(pki: Pki) -> None:
    """uvicorn (asyncio) closes a TLS 1.3 connection it refuses without an alert: still a refusal."""
    with serving(_hello_app, tls=server_context(pki["good"], client_ca=pki.client_ca.cert)) as served:
        results = run(endpoint(pki, int(served.url.rsplit(":", 1)[1])), MTLS)
    assert {rid: r.verdict for rid, r in results.items()} == dict.fromkeys(MTLS, "pass")
    assert "no alert" in results["S24-TLS-018"].outcome.reason


def test_asyncio_server_hanging_up_on_the_relay_fails_019(pki: Pki) -> None:
    with serving(_hello_app, tls=server_context(pki["good"], client_ca=pki.anchors)) as served:
        results = run(endpoint(pki, int(served.url.rsplit(":", 1)[1])), MTLS)
    assert results["S24-TLS-019"].verdict == "fail" and "hangs up" in results["S24-TLS-019"].outcome.reason
    # Everyone is hung up on, so the hang-up says nothing about the other certificates.
    assert results["S24-TLS-018"].verdict == "warn"
    assert {results[rid].verdict for rid in ("S24-TLS-020", "S24-TLS-021", "S24-TLS-022")} == {"skip"}


# ---------------------------------------------------------------- handshake() for doctor


def test_handshake_classifies_what_the_relay_would_see(pki: Pki) -> None:
    with serve(pki) as server:
        ep = endpoint(pki, server.port)
        ok = handshake(ep, with_client_cert=True, verify=True)
        no_cert = handshake(ep, with_client_cert=False, verify=False)
        wrong_name = handshake(endpoint(pki, server.port, server_name="elsewhere.test"), with_client_cert=True,
                               verify=True)
    assert ok.ok and ok.version == "TLSv1.3" and ok.http_status == 200 and len(ok.peer_chain) == 2
    assert not no_cert.ok and no_cert.error is TlsError.CLIENT_CERT_REQUIRED and no_cert.stage == "confirm"
    assert wrong_name.error is TlsError.CERT_NAME_MISMATCH and wrong_name.verify_code == 62
    with serve(pki, "expired") as server:
        expired = handshake(endpoint(pki, server.port), with_client_cert=True, verify=True)
    assert expired.error is TlsError.CERT_EXPIRED and expired.peer_chain
    with serve(pki, "foreign") as server:
        untrusted = handshake(endpoint(pki, server.port), with_client_cert=True, verify=True)
    assert untrusted.error is TlsError.CERT_UNTRUSTED


def test_handshake_on_broken_listeners(pki: Pki) -> None:
    with plain_http_server() as port:
        assert handshake(endpoint(pki, port), with_client_cert=False, verify=False).error is TlsError.NOT_TLS
    with silent_server() as server:
        silent = handshake(endpoint(pki, server.port, timeout=0.5), with_client_cert=False, verify=False)
    assert silent.error is TlsError.TLS_HANDSHAKE_TIMEOUT
    with reset_server() as server:
        reset = handshake(endpoint(pki, server.port), with_client_cert=False, verify=False)
    assert reset.error is TlsError.RESET_DURING_HANDSHAKE
    with closed_port() as port:
        refused = handshake(endpoint(pki, port), with_client_cert=False, verify=False)
    assert refused.error is TlsError.CONNECTION_REFUSED and refused.stage == "tcp"
    with serve(pki, minimum=TLS13) as server:
        ctx_ep = endpoint(pki, server.port, client_cert=Path("/nonexistent.pem"))
        assert handshake(ctx_ep, with_client_cert=True, verify=False).error is TlsError.CLIENT_CONFIG


# ---------------------------------------------------------------- policy


def test_default_policy_is_mozilla_intermediate_with_dhe_tolerated() -> None:
    policy = TlsPolicy()
    assert policy.suite_status(by_name("ECDHE-RSA-AES128-GCM-SHA256")) == "allowed"
    assert policy.suite_status(by_name("DHE-RSA-AES128-GCM-SHA256")) == "tolerated"
    assert policy.suite_status(by_name("ECDHE-ARIA128-GCM-SHA256")) == "tolerated"
    assert policy.suite_status(by_name("AES128-GCM-SHA256")) == "forbidden"
    assert policy.suite_status(by_name("ECDHE-RSA-AES128-SHA")) == "forbidden"
    nist = TlsPolicy.from_toml('[tls_policy]\ntls12_allowed = ["ECDHE-RSA-AES128-GCM-SHA256", '
                               '"DHE-RSA-AES128-GCM-SHA256", "0xC02B"]\nmax_lifespan_days = 825\n')
    assert nist.suite_status(by_name("DHE-RSA-AES128-GCM-SHA256")) == "allowed"
    assert nist.suite_status(by_name("ECDHE-ECDSA-AES128-GCM-SHA256")) == "allowed"
    assert nist.max_lifespan_days == 825 and nist.expiry_warn_days == 60


@pytest.mark.parametrize(("text", "field"), [
    ("colour = 1", "colour"),
    ('min_rsa_bits = "2048"', "min_rsa_bits"),
    ('forbidden_versions = ["TLSv1.4"]', "forbidden_versions"),
    ('tls12_allowed = ["NOT-A-SUITE"]', "tls12_allowed"),
    ('tls12_allowed = ["TLS_AES_128_GCM_SHA256"]', "tls12_allowed"),
    ('rsa_sunset = "soon"', "rsa_sunset"),
    ("expiry_warn_days = 20", "expiry_fail_days"),
    ("broken = [", "file"),
])
def test_policy_errors_name_the_field(text: str, field: str) -> None:
    with pytest.raises(PolicyError) as caught:
        TlsPolicy.from_toml(text)
    assert caught.value.field_name == field
    assert caught.value.message_ko and caught.value.message_en


def test_policy_changes_the_verdict(pki: Pki) -> None:
    lax = TlsPolicy.from_toml("expiry_warn_days = 10\nexpiry_fail_days = 5")
    with serve(pki, "days20") as server:
        assert verdicts(endpoint(pki, server.port, policy=lax), "S24-TLS-013") == {"S24-TLS-013": "pass"}


def test_policy_file_is_read_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "relay-profile.toml"
    path.write_text('[tls_policy]\nname = "relay 2026"\nrequired_versions = ["TLSv1.2", "TLSv1.3"]\n')
    policy = TlsPolicy.from_toml(path)
    assert policy.name == "relay 2026" and len(policy.required_versions) == 2
    with pytest.raises(PolicyError) as caught:
        TlsPolicy.from_toml(tmp_path / "missing.toml")
    assert caught.value.field_name == "file"


# ---------------------------------------------------------------- certificate inspection (no network)


def test_analyze_chain_statuses(pki: Pki) -> None:
    f = CertFactory()
    leaf = f.leaf(pki.inter, "clinic.test").cert
    inter, root = pki.inter.cert, pki.root.cert
    assert analyze_chain((leaf, inter), [root]).status is ChainStatus.COMPLETE
    assert analyze_chain((leaf, inter, root), [root]).status is ChainStatus.ROOT_INCLUDED
    assert analyze_chain((leaf, root, inter), [root]).status is ChainStatus.OUT_OF_ORDER
    assert analyze_chain((leaf,), [root, inter]).status is ChainStatus.MISSING_INTERMEDIATE
    assert analyze_chain((leaf,), [root]).status is ChainStatus.UNKNOWN_ISSUER
    assert analyze_chain((leaf, inter), [f.ca("Other").cert]).status is ChainStatus.UNKNOWN_CA
    aia = f.leaf(pki.inter, "clinic.test", aia_ca_issuers="http://ca.test/inter.crt").cert
    report = analyze_chain((aia,), [root])
    assert report.status is ChainStatus.MISSING_INTERMEDIATE and report.aia == ("http://ca.test/inter.crt",)
    assert analyze_chain((f.leaf(None).cert,), [root]).status is ChainStatus.SELF_SIGNED
    # An intermediate pinned as the anchor (no root for it in the bundle) is a complete chain.
    assert analyze_chain((leaf,), [inter]).status is ChainStatus.COMPLETE


@pytest.mark.parametrize(("names", "asked", "expected"), [
    (("clinic.test",), "CLINIC.test", NameMatch.SAN),
    (("*.clinic.test",), "emr.clinic.test", NameMatch.SAN),
    (("*.clinic.test",), "a.b.clinic.test", NameMatch.MISMATCH),
    (("*.clinic.test",), "clinic.test", NameMatch.MISMATCH),
    (("*.test",), "clinic.test", NameMatch.MISMATCH),
    (("clinic.test", "192.0.2.7"), "192.0.2.7", NameMatch.SAN),
    (("clinic.test",), "192.0.2.7", NameMatch.MISMATCH),
    (("192.0.2.7",), "clinic.test", NameMatch.MISMATCH),
])
def test_match_name(names: tuple[str, ...], asked: str, expected: NameMatch) -> None:
    cert = CertFactory().leaf(None, "x", hosts=names).cert
    assert match_name(cert, asked) is expected


def test_cn_only_match_and_lints() -> None:
    f = CertFactory()
    no_san = f.leaf(None, "clinic.test", san=False).cert
    assert match_name(no_san, "clinic.test") is NameMatch.CN_ONLY
    assert {x.code for x in lint_server_cert(no_san)} == {"no_san"}
    critical = f.leaf(None, "clinic.test", san_critical=True, key_usage=True).cert
    assert {x.code for x in lint_server_cert(critical)} == {"san_critical"}
    assert lint_server_cert(f.leaf(None, "clinic.test").cert) == []

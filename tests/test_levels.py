"""A requirement's level is its verdict's ceiling and floor, and the catalogue says when a MUST only warns."""

from __future__ import annotations

import pytest

from s24kit.conformance.catalogue import CatalogueError, _parse, requirement, requirements
from s24kit.conformance.checks.registry import Outcome, Result
from s24kit.conformance.runner import load_checks
from s24kit.conformance.tls.ciphers import MOZILLA_6_0_INTERMEDIATE_CODES, by_name
from s24kit.conformance.tls.policy import TLS12_ALLOWED, TLS12_TOLERATED

VERDICTS = ("pass", "fail", "warn", "skip")


@pytest.mark.parametrize("rid", sorted(load_checks()))
def test_every_check_verdict_stays_within_its_level(rid: str) -> None:
    req = requirement(rid)
    for verdict in VERDICTS:
        got = Result(rid, Outcome(verdict, "why")).verdict
        if req.level == "SHOULD":
            assert got == {"fail": "warn"}.get(verdict, verdict), (rid, verdict, got)
        elif req.warns_en:
            assert got == verdict, (rid, verdict, got)
        else:
            assert got == {"warn": "fail"}.get(verdict, verdict), (rid, verdict, got)


def test_a_raised_or_lowered_verdict_keeps_its_reason_evidence_and_cause() -> None:
    must = next(r for r in requirements().values() if r.level == "MUST" and not r.warns_en)
    result = Result(must.id, Outcome("warn", "accepts AES128-SHA", (), "some_cause"))
    assert result.verdict == "fail" and result.outcome.reason.startswith("accepts AES128-SHA")
    assert result.outcome.cause == "some_cause"


def test_a_should_document_rule_only_warns() -> None:
    """S24-DOC-055 (a KCD code outside the kit's list) is a SHOULD: its check's failure is reported as a warning."""
    assert requirement("S24-DOC-055").level == "SHOULD"
    assert Result("S24-DOC-055", Outcome("fail", "1 violation")).as_json()["verdict"] == "warn"


def test_tls_006_suite_lists_live_in_the_catalogue() -> None:
    policy = requirement("S24-TLS-006").policy
    assert {by_name(name).code for name in policy["tls12_pass"]} == TLS12_ALLOWED
    assert {by_name(name).code for name in policy["tls12_warn"]} == TLS12_TOLERATED
    # The passing list is Mozilla intermediate 6.0 for TLS 1.2 (its TLS 1.3 suites are judged apart).
    mozilla_tls12 = {code for code in MOZILLA_6_0_INTERMEDIATE_CODES if code >> 8 != 0x13}
    assert mozilla_tls12 == TLS12_ALLOWED
    assert not TLS12_ALLOWED & TLS12_TOLERATED
    assert "tls12_warn" in requirement("S24-TLS-006").warns_en


@pytest.mark.parametrize("rid", sorted(r for r in requirements() if r.startswith("S24-TLS-")))
def test_every_tls_remedy_covers_nginx_node_java_and_dotnet(rid: str) -> None:
    req = requirement(rid)
    for text in (req.remedy_ko, req.remedy_en):
        for platform in ("nginx", "Node", "Java", ".NET"):
            assert platform in text, f"{rid}: the remedy does not say how to fix it on {platform}"


def test_java_default_suites_are_named_in_the_suite_remedies() -> None:
    for rid in ("S24-TLS-006", "S24-TLS-007"):
        req = requirement(rid)
        assert "Java's default suite list" in req.remedy_en and "Java 기본 암호군" in req.remedy_ko
        assert "jdk.tls.server.cipherSuites" in req.remedy_en and "server.ssl.ciphers" in req.remedy_en


def test_mutual_tls_remedies_tell_need_from_want() -> None:
    req = requirement("S24-TLS-018")
    for text in (req.remedy_ko, req.remedy_en):
        assert "setNeedClientAuth(true)" in text and "setWantClientAuth" in text
        assert "client-auth=need" in text and "ClientCertificateMode.RequireCertificate" in text
        assert "requestCert: true" in text and "rejectUnauthorized: true" in text


def test_cause_specific_remedy_falls_back_to_the_general_one() -> None:
    req = requirement("S24-TLS-011")
    assert req.remedy("en", "root_included") != req.remedy_en
    assert req.remedy("en", "no_such_cause") == req.remedy_en and req.remedy("ko") == req.remedy_ko


ENTRY = """[[requirement]]
id = "S24-TLS-999"
title_ko = "가"
title_en = "a"
level = "{level}"
roles = ["provider_pull"]
remedy_ko = "가"
remedy_en = "a"
source = "s"
{extra}
"""


@pytest.mark.parametrize(("level", "extra", "complaint"), [
    ("SHOULD", 'warns_ko = "가"\nwarns_en = "a"', "for MUST requirements"),
    ("MUST", 'warns_en = "a"', "together"),
    ("MUST", '[requirement.causes.x]\nremedy_en = "a"', "causes.x"),
])
def test_malformed_level_fields_are_refused(level: str, extra: str, complaint: str) -> None:
    with pytest.raises(CatalogueError, match=complaint):
        _parse("tls.toml", ENTRY.format(level=level, extra=extra))

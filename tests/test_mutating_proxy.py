"""The whole suite through a mutating proxy in front of the reference provider (issue 11, "How it is checked").

Each case changes one thing on the wire. A **defect** must make its requirements fail (and, where the issue
says so, must not be blamed on another one); a **valid variation** is something a correct connector may
well do, and the suite must pass it. The proxy terminates mutual TLS with the kit's provider-server
certificate and calls the reference provider with the relay's client certificate (tests/mutating_proxy.py).

One scenario, one PKI and one reference provider per module; one proxy per case. The TLS and network checks
see the proxy's own TLS, the same in every case: they run once, in the transparent case, and the cases run
the HTTP families (SCH, DOC, API, SEC) — everything an answer's content can change.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from s24kit.conformance.runner import run_suite
from s24kit.conformance.session import Target
from s24kit.simulator.certfactory import CertFactory, write_bundle
from s24kit.simulator.pki import TestPKI as KitPKI
from s24kit.simulator.provider import Scenario, create_provider_app
from s24kit.simulator.serving import serving

from .conftest import generated_scenario
from .mutating_proxy import (
    Mutation,
    Request,
    Response,
    chunked,
    gzipped,
    mutating_proxy,
    on_json,
    on_request_json,
    reversed_keys,
)

#: A clinic with receipts, statements and prescriptions (the default provider of a small scenario is a pharmacy).
CLINIC = ["--provider", "99310001", "--provider-type", "31"]
HTTP_FAMILIES = "SCH,DOC,API,SEC"
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory):
    return generated_scenario(tmp_path_factory, "--patients", "10", "--seed", "23", *CLINIC)


@pytest.fixture(scope="module")
def provider(scenario, pki):
    """The reference provider, behind every proxy of the module."""
    with serving(create_provider_app(scenario), tls=pki.server_context("provider-server"), name="provider") as s:
        yield s.url


def judge(url: str, scenario_dir, pki, select: str | None) -> dict[str, Any]:
    target = Target(url, scenario_dir, ca_bundle=pki.ca_cert, client_cert=pki["relay-client"].cert,
                    client_key=pki["relay-client"].key, timeout=TIMEOUT)
    return {r.requirement: r for r in run_suite(target, select=select, lang="en").results}


def failures(results: dict[str, Any]) -> dict[str, str]:
    return {rid: f"{r.outcome.reason} {[e.as_json() for e in r.outcome.evidence][:2]}"
            for rid, r in results.items() if r.verdict == "fail"}


# -- answers: what to change in them ------------------------------------------------------------------------

def _searches(change: Callable[[dict[str, Any]], Any]) -> Callable[[Request, int, Any], Any]:
    """Change each successful visit-search answer."""
    def apply(request: Request, status: int, body: Any) -> Any:
        if status == 200 and isinstance(body, dict) and "visits" in body:
            body = copy.deepcopy(body)
            change(body)
        return body
    return apply


def _bundles(change: Callable[[dict[str, Any]], Any]) -> Callable[[Request, int, Any], Any]:
    """Change each successful document-fetch answer."""
    def apply(request: Request, status: int, body: Any) -> Any:
        if status == 200 and isinstance(body, dict) and "documents" in body:
            body = copy.deepcopy(body)
            change(body)
        return body
    return apply


def _documents(change: Callable[[dict[str, Any]], Any]) -> Callable[[Request, int, Any], Any]:
    """Change each document of each successful document-fetch answer."""
    def each(bundle: dict[str, Any]) -> None:
        for doc in bundle["documents"]:
            change(doc)
    return _bundles(each)


def _problems(change: Callable[[dict[str, Any]], Any]) -> Callable[[Request, int, Any], Any]:
    def apply(request: Request, status: int, body: Any) -> Any:
        return change(dict(body)) if status >= 400 and isinstance(body, dict) else body
    return apply


def _drop_last_visit(answer: dict[str, Any]) -> None:
    answer["visits"] = sorted(answer["visits"], key=lambda v: (v["start_date"], v["visit_id"]))[:-1]


def _list_first_visit_twice(answer: dict[str, Any]) -> None:
    answer["visits"] = answer["visits"] + answer["visits"][:1]


def _total_off(doc: dict[str, Any]) -> None:
    if doc["document_type"] == "medical_receipt":
        doc["totals"]["total_amount"] += 1000


def _nfd_name(doc: dict[str, Any]) -> None:
    doc["patient"]["name"] = unicodedata.normalize("NFD", doc["patient"]["name"])


def _country_default(doc: dict[str, Any]) -> None:
    if isinstance(doc.get("provider"), dict):
        doc["provider"]["country"] = "KR"  # provider.country's schema default


def _optional_nulls(doc: dict[str, Any]) -> None:
    """Optional members sent as null where the schema allows null, as many serialisers write an unset field (the
    kit's own inpatient example too); elsewhere null is no valid value (docs/comparison.md)."""
    if doc["document_type"] == "medical_receipt":
        doc.setdefault("drg_number", None)
        doc.setdefault("room", None)


def _rows_reordered(doc: dict[str, Any]) -> None:
    """Keyed rows in the reverse order: receipt rows by code (S24-DOC-010), statement lines, medications and
    drugs — identified by their key, not their place."""
    for key in ("rows", "fee_items", "lines", "medications", "drugs"):
        if isinstance(doc.get(key), list):
            doc[key] = doc[key][::-1]


def _diagnosis_codes_left_out(doc: dict[str, Any]) -> None:
    if doc["document_type"] == "medical_receipt":
        doc.pop("diagnosis_codes", None)  # optional in medical-receipt.schema.json


def _full_resident_number(doc: dict[str, Any]) -> None:
    """The right patient's resident number, unmasked (a careless export)."""
    patient = doc.get("patient") or {}
    if "resident_number_masked" in patient:
        patient["resident_number_masked"] = patient["resident_number_masked"][:8] + "234567"


def _facility_type_of_a_hospital(doc: dict[str, Any]) -> None:
    if isinstance(doc.get("provider"), dict):
        doc["provider"]["facility_type"] = "11"  # 종합병원, but the code's type digit says 의원


def _money_as_decimals(doc: dict[str, Any]) -> None:
    """Amounts written as 19180.0: JSON Schema's integer accepts them, but money is integer won."""
    totals = doc.get("totals")
    if isinstance(totals, dict):
        doc["totals"] = {k: float(v) if type(v) is int else v for k, v in totals.items()}


def _dotted_dates(doc: dict[str, Any]) -> None:
    if isinstance(doc.get("issue_date"), str):
        doc["issue_date"] = doc["issue_date"].replace("-", ".")  # 2026.04.13, as printed on the paper form


def _sql_error_in_notes(doc: dict[str, Any]) -> None:
    if doc["document_type"] == "prescription":
        doc["notes"] = 'ERROR: syntax error at or near "FROM" (SQLSTATE 42601)'


UNORDERED = {"visits", "documents", "missing", "available_documents"}


def _reversed_lists(request: Request, status: int, body: Any) -> Any:
    """Every unordered list of an answer in reverse order (the same order every time)."""
    def reverse(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (reverse(v)[::-1] if k in UNORDERED and isinstance(v, list) else reverse(v))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [reverse(v) for v in value]
        return value
    return reverse(body)


def _shuffled_lists() -> Callable[[Request, int, Any], Any]:
    """Every unordered list of an answer in a random order, another one for each answer (a hash map's order)."""
    rng = random.Random(11)

    def shuffle(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (rng.sample(shuffle(v), len(v)) if k in UNORDERED and isinstance(v, list) else shuffle(v))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [shuffle(v) for v in value]
        return value
    return lambda request, status, body: shuffle(body)


def _patient_numbers_on_prescriptions(scenario: Scenario) -> Callable[[dict[str, Any]], None]:
    """Prescriptions carrying the patient's own patient_number (optional there, and true)."""
    numbers = {p["patient_id"]: p["patient_number"] for p in scenario.patients.values()}

    def change(doc: dict[str, Any]) -> None:
        visit = scenario.visits.get(doc.get("visit_id", ""))
        if doc["document_type"] == "prescription" and visit is not None:
            doc["patient"]["patient_number"] = numbers[visit["patient_id"]]
    return change


def _problem_extensions(problem: dict[str, Any]) -> dict[str, Any]:
    """RFC 9457 §3.2 extension members, as Spring and ASP.NET add them."""
    return {**problem, "timestamp": dt.datetime.now(dt.UTC).isoformat(), "path": "/s24/v1/documents:fetch",
            "traceId": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def _leak_oracle(problem: dict[str, Any]) -> dict[str, Any]:
    return {**problem, "detail": "ORA-00942: table or view does not exist"}


def _without_content_type(request: Request, response: Response) -> Response:
    return replace(response, headers=[(k, v) for k, v in response.headers if k != "content-type"])


def _content_type_spelled_otherwise(request: Request, response: Response) -> Response:
    """Media types are case-blind and may carry a charset parameter (RFC 9110 §8.3.1)."""
    spelled = {"application/json": "Application/JSON; charset=UTF-8",
               "application/problem+json": "application/problem+json;charset=utf-8"}
    return replace(response, headers=[(k, spelled.get(response.media_type, v) if k == "content-type" else v)
                                      for k, v in response.headers])


def _ascii_escaped(request: Request, response: Response) -> Response:
    """Every non-ASCII character as a \\u escape (many serialisers' default)."""
    if response.media_type not in ("application/json", "application/problem+json"):
        return response
    return replace(response, body=json.dumps(json.loads(response.body), ensure_ascii=True).encode())


def _with_bom(request: Request, response: Response) -> Response:
    return replace(response, body=b"\xef\xbb\xbf" + response.body) if response.media_type.endswith("json") \
        else response


def _trailing_garbage(request: Request, response: Response) -> Response:
    return replace(response, body=response.body + b"\n<!-- served by emr -->") \
        if response.media_type.endswith("json") else response


# -- requests: what a connector that ignores a field effectively answers ----------------------------------------

def _ignoring_visit_ids(scenario: Scenario) -> Callable[[str, Any], Any]:
    """Fetches rewritten to ask for every visit of the patient: what a connector ignoring visit_ids answers."""
    def change(operation: str, body: Any) -> Any:
        patient = scenario.patients.get(str((body.get("patient") or {}).get("identity_token")))
        if operation != "documents:fetch" or patient is None:
            return body
        return {**body, "visit_ids": sorted(v for v, e in scenario.visits.items()
                                            if e["patient_id"] == patient["patient_id"])}
    return change


def _ignoring_period(operation: str, body: Any) -> Any:
    if operation != "visits:search" or "period" not in body:
        return body
    return {**body, "period": {"start": "1900-01-01", "end": "2999-12-31"}}


# -- the cases ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One change on the wire: the requirements it must fail (none for a valid variation) and must not blame."""

    name: str
    mutation: Callable[[Scenario], Mutation]
    fails: frozenset[str] = frozenset()
    spared: frozenset[str] = frozenset()  # a defect another requirement already names: these must not fail


def _answers(change: Callable[[Request, int, Any], Any], **options: Any) -> Callable[[Scenario], Mutation]:
    return lambda scenario: Mutation(response=on_json(change, **options))


def _raw(change: Callable[[Request, Response], Response]) -> Callable[[Scenario], Mutation]:
    return lambda scenario: Mutation(response=change)


DEFECTS = [
    Case("drop_a_visit", _answers(_searches(_drop_last_visit)), frozenset({"S24-DOC-100"})),
    Case("a_visit_listed_twice", _answers(_searches(_list_first_visit_twice)), frozenset({"S24-DOC-106"})),
    Case("total_changed", _answers(_documents(_total_off)), frozenset({"S24-DOC-002", "S24-DOC-103"})),
    Case("wrong_provider_code", _answers(lambda r, s, body: {**body, "provider_code": "99310999"}
                                         if s == 200 and isinstance(body, dict) and "provider_code" in body
                                         and "status" not in body else body),
         frozenset({"S24-DOC-107"})),
    Case("ignores_visit_ids", lambda scenario: Mutation(request=on_request_json(_ignoring_visit_ids(scenario))),
         frozenset({"S24-DOC-104"})),
    Case("ignores_period", lambda scenario: Mutation(request=on_request_json(_ignoring_period)),
         frozenset({"S24-DOC-101"})),
    Case("nfd_name", _answers(_documents(_nfd_name)), frozenset({"S24-DOC-030"})),
    Case("nfd_name_is_no_foreign_data", _answers(_documents(_nfd_name)), frozenset({"S24-DOC-030"}),
         spared=frozenset({"S24-DOC-104"})),
    Case("full_resident_number", _answers(_documents(_full_resident_number)),
         frozenset({"S24-SEC-001", "S24-DOC-031"})),
    Case("full_resident_number_is_no_foreign_data", _answers(_documents(_full_resident_number)),
         frozenset({"S24-SEC-001"}), spared=frozenset({"S24-DOC-104"})),
    Case("facility_type_disagrees_with_the_code", _answers(_documents(_facility_type_of_a_hospital)),
         frozenset({"S24-DOC-057"})),
    Case("money_as_decimals", _answers(_documents(_money_as_decimals)), frozenset({"S24-DOC-103"})),
    Case("dates_with_dots", _answers(_documents(_dotted_dates)), frozenset({"S24-SCH-003", "S24-DOC-103"})),
    Case("oracle_error_in_a_problem", _answers(_problems(_leak_oracle)), frozenset({"S24-SEC-002"})),
    Case("sql_error_in_a_200_answer", _answers(_documents(_sql_error_in_notes)), frozenset({"S24-SEC-002"})),
    Case("no_content_type", _raw(_without_content_type), frozenset({"S24-SCH-004", "S24-SCH-005"})),
    # bundle.schema.json allows no member beyond its own (problems do: RFC 9457 extension members are valid)
    Case("unknown_member_in_a_bundle", _answers(_bundles(lambda bundle: bundle.update(hospital_name="하늘의원"))),
         frozenset({"S24-SCH-003"})),
    Case("byte_order_mark", _raw(_with_bom), frozenset({"S24-SCH-006"})),
    Case("trailing_garbage", _raw(_trailing_garbage), frozenset({"S24-SCH-006"})),
]

VARIATIONS = [
    Case("object_keys_reordered", _answers(lambda r, s, body: reversed_keys(body))),
    Case("unordered_lists_reversed", _answers(_reversed_lists)),
    Case("unordered_lists_shuffled", lambda scenario: Mutation(response=on_json(_shuffled_lists()))),
    Case("receipt_rows_reordered", _answers(_documents(_rows_reordered))),
    Case("pretty_printed", _answers(lambda r, s, body: body, indent=4)),
    Case("chunked_transfer_encoding", _raw(chunked)),
    Case("content_type_spelled_otherwise", _raw(_content_type_spelled_otherwise)),
    Case("non_ascii_escaped", _raw(_ascii_escaped)),
    Case("gzip_content_encoding", _raw(gzipped)),
    Case("problem_extension_members", _answers(_problems(_problem_extensions))),
    Case("schema_default_present", _answers(_documents(_country_default))),
    Case("optional_members_null", _answers(_documents(_optional_nulls))),
    Case("optional_member_left_out", _answers(_documents(_diagnosis_codes_left_out))),
    Case("optional_member_that_agrees", lambda scenario: Mutation(response=on_json(_documents(
        _patient_numbers_on_prescriptions(scenario))))),
]


def test_the_proxy_alone_changes_nothing(provider, scenario_dir, pki):
    """Through a proxy that changes nothing, the whole suite (TLS and network too) passes: a failure in a case
    below is the case's doing."""
    with mutating_proxy(provider, pki, Mutation()) as url:
        results = judge(url, scenario_dir, pki, None)
    assert failures(results) == {}
    assert {rid.split("-")[1] for rid, r in results.items() if r.verdict == "pass"} >= {"SCH", "DOC", "API", "SEC",
                                                                                        "TLS"}


@pytest.mark.parametrize("case", DEFECTS, ids=[c.name for c in DEFECTS])
def test_a_defect_fails_its_requirement(case, provider, scenario, scenario_dir, pki):
    with mutating_proxy(provider, pki, case.mutation(scenario)) as url:
        results = judge(url, scenario_dir, pki, HTTP_FAMILIES)
    failed = failures(results)
    assert case.fails <= failed.keys(), f"{case.name}: not caught by {sorted(case.fails - failed.keys())}: {failed}"
    assert not case.spared & failed.keys(), {rid: failed[rid] for rid in case.spared & failed.keys()}
    for rid in case.fails:
        assert results[rid].outcome.evidence and "kit error" not in results[rid].outcome.reason


@pytest.mark.parametrize("case", VARIATIONS, ids=[c.name for c in VARIATIONS])
def test_a_valid_variation_passes(case, provider, scenario, scenario_dir, pki):
    with mutating_proxy(provider, pki, case.mutation(scenario)) as url:
        results = judge(url, scenario_dir, pki, HTTP_FAMILIES)
    assert failures(results) == {}


def test_a_certificate_for_another_name_is_a_tls_finding(provider, scenario_dir, pki, tmp_path):
    """Issue 11 item 9 on the wire: the proxy presents a certificate for another name. The suite does not
    call the target unreachable: S24-TLS-012 fails, every HTTP check fails with the verification error."""
    factory = CertFactory()
    root = factory.ca("Proxy Test Root")
    other = factory.leaf(factory.ca("Proxy Test Intermediate", issuer=root), "other.test", hosts=("other.test",))
    served = KitPKI(tmp_path, pki.ca_cert, {"provider-server": other.write(tmp_path, "other")})
    anchors = write_bundle(tmp_path / "anchors.pem", root)
    with mutating_proxy(provider, pki, Mutation(), tls=served.server_context("provider-server")) as url:
        target = Target(url, scenario_dir, ca_bundle=anchors, client_cert=pki["relay-client"].cert,
                        client_key=pki["relay-client"].key, timeout=TIMEOUT)
        results = {r.requirement: r for r in run_suite(target, select="TLS,API", lang="en").results}
    failed = failures(results)
    assert {"S24-TLS-012", "S24-API-001", "S24-API-002", "S24-API-003"} <= failed.keys(), failed
    assert results["S24-TLS-010"].verdict == "pass" and results["S24-TLS-001"].verdict == "pass"
    assert "IP address mismatch" in results["S24-API-003"].outcome.evidence[0].actual

"""The simulated 중복가입 register as a service: only insurers may ask, each is answered for itself, in process
and over mutual TLS; the stack's insurers ask it before they share a loss (docs/domain.md §4, docs/security.md)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from s24kit.simulator.inprocess import as_caller
from s24kit.simulator.insurer.config import InsurerConfig
from s24kit.simulator.insurer.register import ContractRegister, RegisterClient, RegisterUnavailable
from s24kit.simulator.insurer.register_app import create_register_app
from s24kit.simulator.stack import SimClock, Stack, StackOptions

from .conftest import generated_scenario, kit_pki

pytestmark = pytest.mark.anyio
LOOKUPS = "/register/v1/lookups"
TOKEN = "itk_0123456789abcdef"


def _register() -> ContractRegister:
    register = ContractRegister()
    register.add(TOKEN, "INSA", {"policy_number": "A-1", "generation": "gen4", "contract_date": "2022-03-01"})
    register.add(TOKEN, "INSB", {"policy_number": "B-1", "generation": "gen2", "contract_date": "2011-03-01"})
    register.add("itk_fedcba9876543210", "INSB", {"policy_number": "B-2", "generation": "gen3",
                                                  "contract_date": "2019-03-01"})
    return register


def _client(app, certificate) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(as_caller(app, certificate)),
                             base_url="https://register.s24kit.test")


async def test_each_insurer_learns_the_other_insurers_policies():
    pki, app = kit_pki(), create_register_app(_register())
    for asker, other in (("INSA", "B-1"), ("INSB", "A-1")):
        async with _client(app, pki.insurer_client(asker)) as client:
            response = await client.post(LOOKUPS, json={"identity_token": TOKEN})
        assert response.status_code == 200, response.text
        assert response.json()["insurer_code"] == asker
        assert [p["policy_number"] for p in response.json()["policies"]] == [other]
    async with _client(app, pki.insurer_client("INSC")) as client:  # insured by neither: both, in code order
        response = await client.post(LOOKUPS, json={"identity_token": TOKEN})
    assert [(p["insurer_code"], p["policy_number"]) for p in response.json()["policies"]] == [
        ("INSA", "A-1"), ("INSB", "B-1")]


@pytest.mark.parametrize("caller", ["relay-client", "provider-agent", "patient-app", "admin"])
async def test_no_other_role_may_ask(caller):
    async with _client(create_register_app(_register()), kit_pki()[caller]) as client:
        response = await client.post(LOOKUPS, json={"identity_token": TOKEN})
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert response.headers["content-type"] == "application/problem+json"


async def test_no_certificate_no_answer_but_health():
    async with _client(create_register_app(_register()), None) as client:
        refused = await client.post(LOOKUPS, json={"identity_token": TOKEN})
        health = await client.get("/register/v1/health")
    assert refused.status_code == 403 and refused.json()["code"] == "client_certificate_required"
    assert health.status_code == 200 and health.json()["policies"] == 3


@pytest.mark.parametrize("body", [b"{}", b'{"identity_token": 7}', b'{"identity_token": "short"}', b"[",
                                  b'{"identity_token": "itk_0123456789abcdef", "more": 1}'])
async def test_a_bad_lookup_is_a_clear_400(body):
    async with _client(create_register_app(_register()), kit_pki().insurer_client("INSA")) as client:
        response = await client.post(LOOKUPS, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["code"] in ("invalid_request", "invalid_json")


async def test_the_client_says_when_the_register_does_not_answer():
    async with _client(create_register_app(_register()), kit_pki()["relay-client"]) as client:
        with pytest.raises(RegisterUnavailable, match="403"):
            await RegisterClient(client, "https://register.s24kit.test").other_cover(TOKEN)


# -- the stack: the register is a server of its own, and the insurers ask it -----------------------------------

@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", "6", "--seed", "39")  # a patient insured twice


def _insured_twice(scenario: Path) -> tuple[str, dict[str, str]]:
    """An identity token of a person with policies at two insurers, and insurer → policy number."""
    tokens = {p["patient_id"]: p["identity_token"]
              for p in map(json.loads, (scenario / "emr-seed" / "patients.jsonl").read_text().splitlines())}
    held: dict[str, dict[str, str]] = defaultdict(dict)
    for entry in map(json.loads, (scenario / "policies.jsonl").read_text().splitlines()):
        held[tokens[entry["patient_id"]]][entry["insurer_code"]] = entry["policy"]["policy_number"]
    return next((token, policies) for token, policies in held.items() if len(policies) > 1)


def test_the_served_register_answers_insurers_over_mutual_tls_only(scenario, tmp_path):
    token, policies = _insured_twice(scenario)
    first, second = sorted(policies)
    stack = Stack(StackOptions(scenario, tmp_path / "state", clock=SimClock(),
                               insurers=[InsurerConfig(code) for code in sorted(policies)]))
    with stack.network() as running:
        url = running.urls["register"]
        with httpx.Client(verify=running.pki.client_context(f"insurer-client-{first}"), base_url=url) as client:
            answer = client.post(LOOKUPS, json={"identity_token": token}).json()
        assert answer["insurer_code"] == first
        assert [p["policy_number"] for p in answer["policies"]] == [policies[second]]
        with httpx.Client(verify=running.pki.client_context("relay-client"), base_url=url) as client:
            refused = client.post(LOOKUPS, json={"identity_token": token})
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        # no client certificate: no handshake
        with httpx.Client(verify=running.pki.client_context(None), base_url=url) as client, \
                pytest.raises(httpx.TransportError):
            client.post(LOOKUPS, json={"identity_token": token})


async def test_the_stack_insurers_ask_the_register_and_share_the_loss(scenario, tmp_path):
    """Every claim of the person insured twice is decided by both insurers, each after asking the register, and
    each pays the share the generator worked out (its expected payouts are shared, docs/domain.md §4)."""
    token, policies = _insured_twice(scenario)
    stack = Stack(StackOptions(scenario, tmp_path / "state", clock=SimClock(), persistent=False,
                               insurers=[InsurerConfig(code) for code in sorted(policies)]))
    async with stack.inprocess():
        records = [r for r in stack.claims() if r["claim"]["insured"]["identity_token"] == token]
        assert any(len(r["claim"]["insurers"]) > 1 for r in records), "a claim of the person to both insurers"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(as_caller(stack.relay_app,
                                                                             stack.pki["patient-app"])),
                                     base_url=stack.urls["relay"]) as patient:
            for i, record in enumerate(records):
                stack.clock.now = _after_consent(record)
                accepted = await patient.post("/relay/v1/claims", json=stack.fresh_claim(record, f"dup-{i:06d}"))
                assert accepted.status_code == 202, accepted.text
                status = await stack.relay.wait_for(accepted.json()["claim_id"])
                for insurer in status["insurers"]:
                    expected = record["expected"][insurer["insurer_code"]]["total"]
                    assert insurer.get("payout_total", 0) == expected, (insurer, expected)
        asked = stack.journal.search(party="register", limit=100)
    assert len(asked) >= len(records), "each insurer asked the register before deciding"
    assert all(entry["status"] == 200 for entry in asked)


def _after_consent(record: dict):
    import datetime as dt

    return dt.datetime.fromisoformat(record["claim"]["consent"]["granted_at"]) + dt.timedelta(minutes=1)

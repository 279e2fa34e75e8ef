"""Item by item, the journal of a real claim masks persons, not fees: the documents a provider sends travel
through the relay's journal with each fee item's name in the clear and the patient's name masked."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest

from s24kit.simulator.inprocess import as_caller
from s24kit.simulator.masking import mask_name
from s24kit.simulator.stack import SimClock, Stack, StackOptions

from .conftest import generated_scenario

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", "6", "--seed", "21")


async def test_fee_items_stay_and_the_patient_is_masked_in_the_journal(scenario, tmp_path):
    stack = Stack(StackOptions(scenario, tmp_path / "state", clock=SimClock(), persistent=False))
    async with stack.inprocess():
        statements, fetched = [], []
        app = as_caller(stack.relay_app, stack.pki["patient-app"])
        for record in [r for r in stack.claims() if "itemised_statement" in r["claim"]["consent"]["scope"]][:8]:
            stack.clock.now = (dt.datetime.fromisoformat(record["claim"]["consent"]["granted_at"])
                               + dt.timedelta(minutes=1))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=stack.urls["relay"]) as client:
                accepted = await client.post("/relay/v1/claims", json=record["claim"])
                assert accepted.status_code == 202, accepted.text
                await stack.relay.wait_for(accepted.json()["claim_id"], 15)
            fetched = [e for e in stack.journal.search(party="relay→provider:*", limit=100)
                       if e["route"].endswith("documents:fetch")]
            bodies = [json.loads(e["response"]["body"]) for e in fetched]
            statements = [d for b in bodies for d in b["documents"] if d["document_type"] == "itemised_statement"]
            if statements:
                break
        assert statements, "one of the claims' documents is an itemised statement"
        sent = {d["visit_id"]: d for d in stack.cores[record["claim"]["provider_code"]].scenario.documents
                .get(statements[0]["visit_id"], []) if d["document_type"] == "itemised_statement"}
        original = sent[statements[0]["visit_id"]]
        # fee items keep their names (재진진찰료-의원, …) exactly as the provider sent them
        assert [line["name"] for line in statements[0]["lines"]] == [line["name"] for line in original["lines"]]
        assert all(not line["name"][1:].startswith("*") for line in statements[0]["lines"])
        # the patient does not: masked by meaning in the document and wherever the name appears
        name = original["patient"]["name"]
        assert statements[0]["patient"]["name"] == mask_name(name)
        assert all(name not in e["response"]["body"] and name not in e["request"]["body"] for e in fetched)


# -- the prescriber: a practitioner on a prescription, an institution on a pharmacy receipt ----------------------

PHARMACY = {"document_type": "pharmacy_receipt", "patient": {"name": "김민지"},
            "prescriber": {"provider_code": "99320131", "facility_type": "31", "name": "가나다내과의원"}}
PRESCRIPTION = {"document_type": "prescription", "patient": {"name": "김민지"},
                "prescriber": {"name": "박서준", "license_type": "physician", "license_number": "12345"}}


def _masked_both_ways(document: dict) -> tuple[dict, dict]:
    """The document masked as parsed JSON and as JSON text (the journal's path), each with its own scrubber."""
    from s24kit.simulator.masking import Scrubber, mask_json, mask_texts

    text = json.dumps({"documents": [document]}, ensure_ascii=False)
    (masked_text,) = mask_texts(text, scrubber=Scrubber())
    return mask_json(document), json.loads(masked_text)["documents"][0]


@pytest.mark.parametrize("order", ["as written", "name first"])
def test_the_prescribing_institution_stays_and_the_prescribing_doctor_is_masked(order: str) -> None:
    pharmacy, prescription = json.loads(json.dumps(PHARMACY)), json.loads(json.dumps(PRESCRIPTION))
    if order == "name first":  # another key order of the same objects
        pharmacy["prescriber"] = {"name": "가나다내과의원", "facility_type": "31", "provider_code": "99320131"}
    for masked in _masked_both_ways(pharmacy):
        assert masked["prescriber"]["name"] == "가나다내과의원"
        assert masked["patient"]["name"] == mask_name("김민지")
    for masked in _masked_both_ways(prescription):
        assert masked["prescriber"]["name"] == mask_name("박서준")


def test_a_mark_of_an_institution_nested_deeper_does_not_unmask_a_doctor() -> None:
    nested = json.loads(json.dumps(PRESCRIPTION))
    nested["prescriber"]["extension"] = {"provider_code": "99320131"}  # not a member of the prescriber itself
    for masked in _masked_both_ways(nested):
        assert masked["prescriber"]["name"] == mask_name("박서준")

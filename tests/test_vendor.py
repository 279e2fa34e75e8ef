"""The vendor's central server: one reference provider answering for many provider codes, chosen by path."""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from s24kit.conformance.cli.serve import serve
from s24kit.simulator.inprocess import as_caller
from s24kit.simulator.provider import Scenario
from s24kit.simulator.provider.vendor import VENDOR, tenants_for
from s24kit.simulator.retry import RetryPolicy
from s24kit.simulator.stack import SimClock, Stack, StackOptions

from .conftest import generated_scenario

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", "8", "--seed", "11")


def _stack(scenario: Path, tmp_path: Path, tenants: int) -> Stack:
    return Stack(StackOptions(scenario, tmp_path / "state", tenants=tenants, clock=SimClock(), retry=FAST,
                              persistent=False))


def test_tenants_are_the_scenario_providers_then_copies_with_their_own_codes(scenario):
    providers = Scenario.load_all(scenario)
    tenants = tenants_for(providers, len(providers) + 30)
    codes = [t.provider_code for t in tenants]
    assert len(set(codes)) == len(codes) == len(providers) + 30
    own = [t for t in tenants if t.copy_of is None]
    assert {t.provider_code for t in own} == set(providers)
    for copy in (t for t in tenants if t.copy_of):
        assert copy.provider_code not in providers and copy.copy_of in providers
        assert copy.provider_code[:3] == copy.copy_of[:3]  # region and facility type stay (S24-DOC-057)
    assert [t.provider_code for t in tenants_for(providers, 2)] == codes[:2]  # the busiest first, deterministic
    with pytest.raises(ValueError, match="tenants"):
        tenants_for(providers, 0)


def _caller(stack: Stack, app: Any, role: str | None = "relay-client") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(as_caller(app, stack.pki[role] if role else None)),
                             base_url=stack.urls[VENDOR])


def _fetch_body(stack: Stack, record: dict[str, Any]) -> dict[str, Any]:
    claim = record["claim"]
    visit = next(v for v in stack.cores[claim["provider_code"]].scenario.visits.values()
                 if v["patient_id"] == record["patient_id"]) if "patient_id" in record else None
    visit_ids = claim.get("visit_ids") or [visit["visit_id"]]
    return {"request_id": f"fetch-{claim['request_id']}", "visit_ids": visit_ids,
            "patient": {k: claim["insured"][k] for k in ("name", "birth_date", "identity_token")},
            "document_types": ["medical_receipt"], "consent": claim["consent"]}


async def test_one_server_answers_each_provider_code_under_its_path_and_copies_carry_their_code(scenario, tmp_path):
    providers = Scenario.load_all(scenario)
    stack = _stack(scenario, tmp_path, len(providers) + 3)
    async with stack.inprocess():
        app = stack.provider_apps[VENDOR]
        record = next(r for r in stack.claims() if r["claim"].get("visit_ids"))
        source = record["claim"]["provider_code"]
        copy = next(t.provider_code for t in stack.tenants if t.copy_of == source) if any(
            t.copy_of == source for t in stack.tenants) else None
        stack.clock.now = dt.datetime.fromisoformat(record["claim"]["consent"]["granted_at"]) + dt.timedelta(minutes=1)
        async with _caller(stack, app) as client:
            health = (await client.get("/s24/v1/health")).json()
            assert health["tenants"] == len(providers) + 3
            own = await client.post(f"/{source}/s24/v1/documents:fetch", json=_fetch_body(stack, record))
            assert own.status_code == 200, own.text
            assert own.json()["provider_code"] == source
            assert {d["provider"]["provider_code"] for d in own.json()["documents"]} == {source}
            if copy is not None:
                copied = await client.post(f"/{copy}/s24/v1/documents:fetch", json=_fetch_body(stack, record))
                assert copied.status_code == 200, copied.text
                assert copied.json()["provider_code"] == copy
                assert {d["provider"]["provider_code"] for d in copied.json()["documents"]} == {copy}
            unknown = await client.post("/12345678/s24/v1/documents:fetch", json=_fetch_body(stack, record))
            assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
            assert (await client.get(f"/{source}/s24/v1/health")).json()["provider_code"] == source
        async with _caller(stack, app, role="patient-app") as client:
            refused = await client.post(f"/{source}/s24/v1/documents:fetch", json=_fetch_body(stack, record))
            assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        async with _caller(stack, app, role=None) as client:
            refused = await client.post(f"/{source}/s24/v1/visits:search", json={})
            assert refused.status_code == 403 and refused.json()["code"] == "client_certificate_required"


async def test_a_vendors_clinics_share_one_bounded_memory_of_answers(scenario, tmp_path, monkeypatch):
    # 4,096 answers per clinic let a vendor of 50 clinics grow through an hour's soak; the bound is the server's
    monkeypatch.setattr("s24kit.simulator.provider.core.REMEMBERED_ANSWERS", 3)
    providers = Scenario.load_all(scenario)
    stack = _stack(scenario, tmp_path, len(providers) + 3)
    assert len({id(core.memory) for core in stack.cores.values()}) == 1
    async with stack.inprocess():
        copied = {t.copy_of: t.provider_code for t in stack.tenants if t.copy_of}
        record = next(r for r in stack.claims()
                      if r["claim"].get("visit_ids") and r["claim"]["provider_code"] in copied)
        source = record["claim"]["provider_code"]
        copy = copied[source]
        stack.clock.now = dt.datetime.fromisoformat(record["claim"]["consent"]["granted_at"]) + dt.timedelta(minutes=1)
        body = _fetch_body(stack, record)
        changed = {**body, "document_types": ["medical_receipt", "itemised_statement"]}
        async with _caller(stack, stack.provider_apps[VENDOR]) as client:
            async def fetch(code: str, request_id: str, request: dict[str, Any] = body) -> httpx.Response:
                return await client.post(f"/{code}/s24/v1/documents:fetch", json={**request, "request_id": request_id})
            # one request id at two clinics is two requests, not a conflict
            assert (await fetch(source, "req-shared-00001")).status_code == 200
            assert (await fetch(copy, "req-shared-00001", changed)).status_code == 200
            assert (await fetch(source, "req-shared-00001", changed)).status_code == 409
            for n in range(2, 5):
                assert (await fetch(copy if n % 2 else source, f"req-shared-{n:05d}")).status_code == 200
            assert len(stack.cores[source].memory) == 3  # all clinics together, not three each
            # the oldest answers are forgotten whichever clinic gave them: their ids are answered afresh …
            assert (await fetch(source, "req-shared-00001", changed)).status_code == 200
            # … and the latest still conflict
            assert (await fetch(copy, "req-shared-00003", changed)).status_code == 409


async def test_the_relay_pulls_from_the_vendor_for_own_and_copied_clinics(scenario, tmp_path):
    providers = Scenario.load_all(scenario)
    stack = _stack(scenario, tmp_path, 2 * len(providers))
    async with stack.inprocess():
        registered = {r["code"]: r["base_url"] for r in stack.relay.store.providers()}
        assert len(registered) == 2 * len(providers)
        assert all(url == f"{stack.urls[VENDOR]}/{code}" for code, url in registered.items())
        records = list(stack.claims())
        copies = {t.copy_of: t.provider_code for t in stack.tenants if t.copy_of}
        # two patients: one claims at a scenario clinic, the other at a copy of theirs (a claim repeated for
        # the same visits would not be paid the scenario's amount twice)
        pairs = [(records[0], records[0]["claim"]["provider_code"]),
                 (records[1], copies[records[1]["claim"]["provider_code"]])]
        for record, code in pairs:
            stack.clock.now = (dt.datetime.fromisoformat(record["claim"]["consent"]["granted_at"])
                               + dt.timedelta(minutes=1))
            claim = stack.fresh_claim(record, f"vendor-{code}", provider_code=code)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(as_caller(stack.relay_app,
                                                                                 stack.pki["patient-app"])),
                                         base_url=stack.urls["relay"]) as client:
                response = await client.post("/relay/v1/claims", json=claim)
                assert response.status_code == 202, response.text
                status = await stack.relay.wait_for(response.json()["claim_id"], 15)
            for insurer in status["insurers"]:
                expected = record["expected"][insurer["insurer_code"]]["total"]
                assert insurer["state"] == ("paid" if expected > 0 else "denied"), status
                assert insurer.get("payout_total", 0) == (expected if expected > 0 else 0)


def test_serve_tenants_starts_one_vendor_server_and_writes_the_tenant_list(scenario, tmp_path):
    state = tmp_path / "state"
    config = tmp_path / "serve.toml"
    config.write_text(f'scenario = "{scenario}"\n[relay]\nport = 0\n[[insurer]]\ncode = "INSA"\nport = 0\n'
                      '[[provider]]\nreference = true\nport = 0\n', encoding="utf-8")
    result = CliRunner().invoke(serve, ["--config", str(config), "--state", str(state), "--duration", "0",
                                        "--tenants", "40"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert re.search(r"vendor .*https://127\.0\.0\.1:\d+/\{provider_code\}", result.output), result.output
    written = [path for path in state.iterdir() if path.is_file()]
    assert {"tenants.jsonl", "served.json"} <= {path.name for path in written}
    # the state folder's files are its owner's alone, the ones serve writes itself included
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in written} == {path.name: 0o600 for path in written}
    lines = [json.loads(line) for line in (state / "tenants.jsonl").read_text().splitlines()]
    assert len(lines) == 40 and len({t["provider_code"] for t in lines}) == 40
    assert all(t["base_url"].endswith("/" + t["provider_code"]) for t in lines)
    for bad in (["--tenants", "0"], ["--tenants", "40", "--agent"]):
        refused = CliRunner().invoke(serve, ["--config", str(config), "--state", str(state), "--duration", "0",
                                             *bad])
        assert refused.exit_code == 2 and "--tenants" in refused.output and "Traceback" not in refused.output

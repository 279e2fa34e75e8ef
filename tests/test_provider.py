"""The reference provider serves a generated scenario correctly, error cases included."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from click.testing import CliRunner

from s24kit.conformance.cli.generate import generate
from s24kit.schemas.loader import is_valid
from s24kit.schemas.validation import validate_bundle
from s24kit.simulator.inprocess import as_caller
from s24kit.simulator.provider import Scenario, create_provider_app

from .conftest import kit_pki

KST = dt.timezone(dt.timedelta(hours=9))
NOW = dt.datetime(2026, 11, 1, 10, 0, tzinfo=KST)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    out = tmp_path_factory.mktemp("scenario") / "s"
    result = CliRunner().invoke(generate, ["--patients", "30", "--seed", "11", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return Scenario.load(out)


@pytest.fixture
def client(scenario):
    app = create_provider_app(scenario, clock=lambda: NOW, max_body_bytes=20_000)
    return _Client(app)


class _Client:
    """A synchronous facade over the ASGI app (httpx ASGITransport needs an event loop)."""

    def __init__(self, app) -> None:
        from starlette.testclient import TestClient
        self._client = TestClient(as_caller(app, kit_pki()["relay-client"]), base_url="https://provider.test")

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self._client.post(path, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return self._client.get(path)


def _consent(scope=("medical_receipt", "itemised_statement", "prescription", "pharmacy_receipt"), days=7, start=-1):
    granted = NOW + dt.timedelta(days=start)
    return {"consent_id": "C-test-1", "granted_at": granted.isoformat(),
            "expires_at": (granted + dt.timedelta(days=days)).isoformat(), "scope": list(scope)}


def _someone(scenario):
    token, patient = sorted(scenario.patients.items())[0]
    query = {"name": patient["name"], "birth_date": patient["birth_date"], "identity_token": token}
    visits = sorted(v for v, e in scenario.visits.items() if e["patient_id"] == patient["patient_id"])
    return query, visits


def _search(client, query, request_id="req-search-0001", consent=None):
    return client.post("/s24/v1/visits:search", json={"request_id": request_id, "patient": query,
                                                      "period": {"start": "2016-01-01", "end": "2026-12-31"},
                                                      "consent": consent or _consent()})


def _fetch(client, query, visits, request_id="req-fetch-00001", consent=None, types=None):
    kinds = types or ["medical_receipt", "itemised_statement", "prescription", "pharmacy_receipt"]
    return client.post("/s24/v1/documents:fetch", json={"request_id": request_id, "patient": query,
                                                        "visit_ids": visits, "document_types": kinds,
                                                        "consent": consent or _consent()})


def test_health(client):
    body = client.get("/s24/v1/health").json()
    assert body["status"] == "ok" and is_valid("health", body)


def test_search_and_fetch_return_exactly_the_expected_documents(client, scenario):
    query, visits = _someone(scenario)
    found = _search(client, query)
    assert found.status_code == 200 and is_valid("visit-search#/$defs/response", found.json())
    assert sorted(v["visit_id"] for v in found.json()["visits"]) == visits
    bundle = _fetch(client, query, visits).json()
    assert is_valid("bundle", bundle) and validate_bundle(bundle) == []
    expected = [d for v in visits for d in scenario.documents[v]]
    assert sorted(map(str, bundle["documents"])) == sorted(map(str, expected))


@pytest.mark.parametrize(("mutate", "status", "code"), [
    (lambda q, v: ({**q, "name": q["name"] + "x"}, v, _consent()), 404, "unknown_patient"),
    (lambda q, v: (q, ["V-NOT-THERE-1"], _consent()), 404, "unknown_visit"),
    (lambda q, v: (q, v, _consent(start=-30)), 403, "invalid_consent"),
    (lambda q, v: (q, v, _consent(scope=["prescription"])), 403, "invalid_consent"),
])
def test_fetch_error_cases(client, scenario, mutate, status, code):
    query, visits = _someone(scenario)
    query, visits, consent = mutate(query, visits)
    response = _fetch(client, query, visits, consent=consent)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert response.headers["content-type"] == "application/problem+json" and is_valid("problem", response.json())


def test_malformed_requests(client):
    path = "/s24/v1/documents:fetch"
    broken = client.post(path, content=b"{", headers={"content-type": "application/json"})
    assert broken.json()["code"] == "invalid_json"
    assert client.post(path, content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
    assert client.post(path, json={"request_id": "x" * 10, "pad": "y" * 30_000}).status_code == 413
    invalid = client.post(path, json={"request_id": "req-bad-000001"})
    assert invalid.status_code == 400 and invalid.json()["code"] == "invalid_request"


def test_idempotent_on_request_id(client, scenario):
    query, visits = _someone(scenario)
    first, again = _fetch(client, query, visits), _fetch(client, query, visits)
    assert first.content == again.content
    conflict = _fetch(client, query, visits[:1], request_id="req-fetch-00001")
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_conflict"


def test_a_provider_remembers_a_bounded_number_of_answers(client, scenario, monkeypatch):
    # a server left running (a soak, a vendor's thousands of clinics) grew by every answer it ever gave
    monkeypatch.setattr("s24kit.simulator.provider.core.REMEMBERED_ANSWERS", 3)
    query, visits = _someone(scenario)
    for n in range(4):
        assert _fetch(client, query, visits, request_id=f"req-bound-{n:05d}").status_code == 200
    # the last three are still answered as before (a changed request with their id conflicts) …
    assert _fetch(client, query, visits[:1], request_id="req-bound-00003").status_code == 409
    assert _fetch(client, query, visits[:1], request_id="req-bound-00001").status_code == 409
    # … the oldest is forgotten: its id is answered afresh
    assert _fetch(client, query, visits[:1], request_id="req-bound-00000").status_code == 200


def test_no_other_provider_or_patient_leaks(client, scenario):
    query, _ = _someone(scenario)
    others = sorted(v for v, e in scenario.visits.items() if e["patient_id"] != scenario.patients[
        query["identity_token"]]["patient_id"])
    if others:
        assert _fetch(client, query, others[:1], request_id="req-leak-00001").json()["code"] == "unknown_visit"
    assert all(e["provider_code"] == scenario.provider_code for e in scenario.visits.values())

"""The fake insurer, in-process: each behaviour, validation, idempotency, retries and restarts."""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from s24kit.schemas.loader import is_valid
from s24kit.simulator.inprocess import as_caller
from s24kit.simulator.insurer import Behaviour, InsurerConfig, create_insurer_app
from s24kit.simulator.insurer.adjudication import engine_adjudicator, example_policy

from .conftest import kit_pki, load_example

TOKEN = load_example("insurer-claim")["insured"]["identity_token"]
RELAY = "https://127.0.0.1:8443"  # the relay of the example's callback_url


class Receiver:
    """Stands in for the relay's event endpoint; can refuse the first N posts."""

    def __init__(self, refuse_first: int = 0) -> None:
        self.events: list[dict] = []
        self.refuse = refuse_first

        async def receive(request: Request) -> Response:
            if self.refuse:
                self.refuse -= 1
                return Response(status_code=503)
            self.events.append(await request.json())
            return Response(status_code=204)

        self.app = Starlette(routes=[Route("/relay/v1/claims/{claim_id}/events", receive, methods=["POST"])])

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="https://127.0.0.1:8443")

    def wait_for(self, count: int, seconds: float = 10.0) -> list[str]:
        deadline = time.monotonic() + seconds
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return [e["type"] for e in self.events]


def _insurer(behaviour=Behaviour.PAY, receiver=None, database=":memory:", retry=None, **settings):
    receiver = receiver or Receiver()
    extra = {"retry": retry} if retry else {}
    config = InsurerConfig.from_dict({"code": "INSA", "behaviour": behaviour.value, "relay_base": RELAY, **settings,
                                      **extra})
    app = create_insurer_app(config, adjudicator=engine_adjudicator, database=database,
                             http_client=receiver.client())
    return app, receiver


@contextlib.contextmanager
def _running(app) -> Iterator[tuple[TestClient, TestClient]]:
    """The insurer running, with a client presenting the relay's certificate and one presenting the admin's."""
    with TestClient(as_caller(app, kit_pki()["relay-client"])) as relay:
        yield relay, TestClient(as_caller(app, kit_pki()["admin"]))


def _load_policy(client: TestClient, generation: str = "gen4") -> None:
    response = client.post("/__admin/policies", json=[{"identity_token": TOKEN, "policy": example_policy(generation)}])
    assert response.status_code == 200


def _submit(client: TestClient, body: dict | None = None) -> httpx.Response:
    return client.post("/insurer/v1/claims", json=body or load_example("insurer-claim"))


def test_pay_posts_received_in_review_paid_with_a_valid_breakdown():
    app, receiver = _insurer()
    with _running(app) as (client, admin):
        _load_policy(admin)
        ack = _submit(client)
        assert ack.status_code == 202 and is_valid("insurer-claim#/$defs/acknowledgement", ack.json())
        assert receiver.wait_for(3) == ["received", "in_review", "paid"]
        paid = receiver.events[-1]
        assert all(is_valid("insurer-event", e) for e in receiver.events)
        assert paid["payout"]["total"] == sum(line["amount"] for line in paid["payout"]["lines"]) > 0
        status = client.get(f"/insurer/v1/claims/{ack.json()['receipt_number']}").json()
        assert status["state"] == "paid" and is_valid("insurer-claim-status", status)
        text = admin.get(f"/__admin/claims/{ack.json()['receipt_number']}/explanation").text
        assert f"{paid['payout']['total']:,}원" in text


@pytest.mark.parametrize(("behaviour", "last", "field"), [
    (Behaviour.DENY, "denied", "reason_code"),
    (Behaviour.MORE_DOCUMENTS, "more_documents_required", "requested_documents"),
])
def test_deny_and_more_documents(behaviour, last, field):
    app, receiver = _insurer(behaviour)
    with _running(app) as (client, admin):
        _load_policy(admin)
        _submit(client)
        assert receiver.wait_for(3) == ["received", "in_review", last]
        assert receiver.events[-1][field]


def test_pend_then_decide_on_request():
    app, receiver = _insurer(Behaviour.PEND, pend_seconds=3600)
    with _running(app) as (client, admin):
        _load_policy(admin)
        receipt = _submit(client).json()["receipt_number"]
        assert receiver.wait_for(2) == ["received", "in_review"]
        assert admin.post(f"/__admin/claims/{receipt}/decide").status_code == 200
        assert receiver.wait_for(3) == ["received", "in_review", "paid"]


def test_slow_acknowledges_late_and_unavailable_answers_503():
    app, _ = _insurer(Behaviour.SLOW, delay_ms=300)
    with _running(app) as (client, admin):
        _load_policy(admin)
        started = time.monotonic()
        assert _submit(client).status_code == 202
        assert time.monotonic() - started >= 0.3
    app, _ = _insurer(Behaviour.UNAVAILABLE)
    with _running(app) as (client, admin):
        response = _submit(client)
        assert response.status_code == 503 and response.json()["code"] == "service_unavailable"
        assert response.headers["content-type"] == "application/problem+json"


def test_ack_twice_delivers_every_event_twice():
    app, receiver = _insurer(Behaviour.ACK_TWICE)
    with _running(app) as (client, admin):
        _load_policy(admin)
        _submit(client)
        assert receiver.wait_for(6) == ["received", "received", "in_review", "in_review", "paid", "paid"]


def test_no_policy_is_denied():
    app, receiver = _insurer()
    with _running(app) as (client, _admin):
        _submit(client)
        assert receiver.wait_for(3)[-1] == "denied"
        assert receiver.events[-1]["reason_code"] == "NO_POLICY"


def test_invalid_documents_name_the_rule():
    body = load_example("insurer-claim")
    body["documents"][0]["totals"]["total_amount"] += 1
    app, _ = _insurer()
    with _running(app) as (client, _admin):
        response = _submit(client, body)
        assert response.status_code == 422 and is_valid("problem", response.json())
        assert [e["rule"] for e in response.json()["errors"]] == ["S24-DOC-002"]


def test_bad_requests_get_problems():
    app, _ = _insurer()
    with _running(app) as (client, _admin):
        assert client.post("/insurer/v1/claims", content=b"{", headers={"content-type": "application/json"}
                           ).json()["code"] == "invalid_json"
        assert client.post("/insurer/v1/claims", content=b"{}", headers={"content-type": "text/plain"}
                           ).status_code == 415
        missing = client.post("/insurer/v1/claims", json={"claim_id": "X"})
        assert missing.status_code == 400 and missing.json()["errors"][0]["pointer"]


def test_idempotent_on_request_id():
    app, _ = _insurer()
    with _running(app) as (client, admin):
        _load_policy(admin)
        first, again = _submit(client), _submit(client)
        assert first.json() == again.json()
        changed = copy.deepcopy(load_example("insurer-claim"))
        changed["accident_type"] = "injury"
        conflict = _submit(client, changed)
        assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_conflict"
        assert len(admin.get("/__admin/claims").json()) == 1


def test_events_are_retried_until_the_relay_accepts_them():
    receiver = Receiver(refuse_first=2)
    app, _ = _insurer(receiver=receiver, retry={"attempts": 5, "base_delay": 0.01, "max_delay": 0.05})
    with _running(app) as (client, admin):
        _load_policy(admin)
        _submit(client)
        assert receiver.wait_for(3) == ["received", "in_review", "paid"]
        attempts = [e["attempts"] for e in admin.get("/__admin/events").json()]
        assert attempts[0] == 3 and attempts[1:] == [1, 1]


def test_restart_keeps_state_and_delivers_pending_events(tmp_path):
    database = tmp_path / "insa.sqlite"
    down = Receiver(refuse_first=10 ** 6)
    app, _ = _insurer(receiver=down, database=database)
    with _running(app) as (client, admin):
        _load_policy(admin)
        receipt = _submit(client).json()["receipt_number"]
        time.sleep(0.2)
    assert down.events == []
    up = Receiver()
    app, _ = _insurer(receiver=up, database=database)
    with _running(app) as (client, admin):
        assert up.wait_for(3) == ["received", "in_review", "paid"]
        assert client.get(f"/insurer/v1/claims/{receipt}").json()["state"] == "paid"
        assert len(admin.get("/__admin/policies").json()) == 1


@pytest.mark.parametrize("url", ["https://evil.example/relay/v1/claims/CLM-000001/events",
                                 "https://127.0.0.1:9999/relay/v1/claims/CLM-000001/events",
                                 "https://127.0.0.1:8443/__admin/reset",
                                 "https://127.0.0.1:8443/relay/v1/claims/../../__admin/reset",
                                 "http://127.0.0.1:8443/relay/v1/claims/CLM-000001/events",
                                 "https://127.0.0.1:8443/relay/v1/claims/%2e%2e/%2e%2e/__admin/reset/events",
                                 "https://127.0.0.1:8443/relay/v1/claims/CLM-000001/events;/../../__admin/reset",
                                 "https://127.0.0.1:8443/relay/v1/claims/CLM-000001;x/events",
                                 "https://127.0.0.1:8443/relay/v1/claims/CLM-000001/%65vents",
                                 "https://127.0.0.1:8443/relay/v1/claims/CLM-000001/events/more",
                                 "https://127.0.0.1:8443/relay/v1/claims/CLM-000002/events",
                                 "https://x@127.0.0.1:8443/relay/v1/claims/CLM-000001/events"])
def test_a_callback_outside_the_configured_relay_is_refused_naming_the_field(url):
    receiver = Receiver()
    app, _ = _insurer(receiver=receiver)
    with _running(app) as (client, admin):
        _load_policy(admin)
        refused = _submit(client, {**load_example("insurer-claim"), "callback_url": url})
        assert refused.status_code == 400 and refused.json()["detail"].startswith("callback_url:")
        assert admin.get("/__admin/claims").json() == [] and admin.get("/__admin/events").json() == []
        assert _submit(client).status_code == 202  # the configured relay's own URL is fine


def test_reset_needs_confirmation_and_receipt_numbers_never_restart():
    app, _ = _insurer()
    with _running(app) as (client, admin):
        _load_policy(admin)
        first = _submit(client).json()["receipt_number"]
        for query in ("", "?confirm=no&confirm=reset", "?confirm=reset&confirm=reset", "?confirm=reset&confirm=no"):
            refused = admin.post(f"/__admin/reset{query}")
            assert refused.status_code == 400 and refused.json()["detail"].startswith("confirm:"), query
        assert len(admin.get("/__admin/claims").json()) == 1, "an unconfirmed reset changes nothing"
        assert admin.post("/__admin/reset", params={"confirm": "reset"}).status_code == 204
        assert admin.get("/__admin/claims").json() == []
        _load_policy(admin)
        second = _submit(client).json()["receipt_number"]
        assert second != first and int(second.rsplit("-", 1)[1]) == int(first.rsplit("-", 1)[1]) + 1

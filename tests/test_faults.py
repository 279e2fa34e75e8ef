"""Fault plans: every kind has its effect through FaultTransport and/or FaultMiddleware, only where its rule
matches; decisions are seeded and replayable; plans load from TOML/JSON with errors naming the field."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from s24kit.simulator.admin import admin_routes
from s24kit.simulator.faults import (
    FaultDrop,
    FaultKind,
    FaultMiddleware,
    FaultPlan,
    FaultPlanError,
    FaultSwitch,
    FaultTransport,
    PartyFaultTransport,
    fault_routes,
)
from s24kit.simulator.faults import client as fault_client
from s24kit.simulator.faults import server as fault_server
from s24kit.simulator.serving import serving

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "faults"
BODY = {"receipt_number": "I01-20261101-000001", "note": "x" * 200}


def plan(*rules: dict, seed: int = 0) -> FaultPlan:
    return FaultPlan.from_dict({"seed": seed, "fault": list(rules)})


class Upstream:
    """The party being called: counts calls and answers JSON saying which call it was."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.url.path)
        return httpx.Response(200, json={**BODY, "call": len(self.seen)})


def call(fault_plan: FaultPlan, *paths: str, party: str = "insurer:I01", timeout: float = 5.0,
         upstream: Upstream | None = None) -> tuple[list[httpx.Response | Exception], Upstream]:
    """Make the calls through a FaultTransport; each result is a read response or the exception raised."""
    upstream = upstream or Upstream()

    async def run() -> list[httpx.Response | Exception]:
        transport = FaultTransport(httpx.MockTransport(upstream), lambda: fault_plan, party)
        results: list[httpx.Response | Exception] = []
        async with httpx.AsyncClient(transport=transport, base_url="https://callee.test", timeout=timeout) as client:
            for path in paths or ("/insurer/v1/claims",):
                try:
                    results.append(await client.post(path, json={"n": len(results)}))
                except httpx.HTTPError as exc:
                    results.append(exc)
        return results

    return asyncio.run(run()), upstream


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Record the faults' sleeps instead of waiting (no timing in tests)."""
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(fault_client.asyncio, "sleep", fake_sleep)
    return slept


# -- off by default -------------------------------------------------------------------------------------------


def test_an_empty_plan_leaves_everything_untouched():
    empty = FaultPlan.empty()
    assert not empty.active and empty.pick("insurer:I01", "POST", "/x") is None
    (response,), upstream = call(empty)
    assert response.status_code == 200 and response.json()["call"] == 1 and upstream.seen == ["/insurer/v1/claims"]
    assert empty.applied() == []


def test_an_inactive_middleware_calls_the_app_directly():
    received = []

    async def app(scope, receive, send):
        received.append(send)
        await JSONResponse({"ok": True})(scope, receive, send)

    middleware = FaultMiddleware(app, FaultPlan.empty, "provider:99350012")

    async def run() -> None:
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b""}

        await middleware({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send)
        assert received == [send] and sent[0]["status"] == 200

    asyncio.run(run())


def test_rules_apply_only_where_they_match():
    rules = plan({"kind": "error_status", "party": "insurer:I02", "route": "/insurer/v1/claims", "method": "POST"})
    (response,), _ = call(rules, party="insurer:I01")
    assert response.status_code == 200
    (response,), _ = call(rules, "/insurer/v1/claims/R-1", party="insurer:I02")
    assert response.status_code == 200
    (response,), upstream = call(rules, party="insurer:I02")
    assert response.status_code == 503 and upstream.seen == []
    glob = plan({"kind": "party_down", "party": "provider:9935*", "method": "GET"})
    (response,), _ = call(glob, party="provider:99350012")  # POST: the rule is for GET only
    assert response.status_code == 200


# -- each kind through the transport ----------------------------------------------------------------------------


def test_latency_sleeps_the_sampled_delay_then_calls(sleeps):
    fixed = plan({"kind": "latency", "ms": 30})
    (response,), upstream = call(fixed)
    assert response.status_code == 200 and upstream.seen and sleeps == [0.03]
    assert fixed.applied()[0]["delay_ms"] == 30
    uniform = plan({"kind": "latency", "distribution": "uniform", "lo_ms": 10, "hi_ms": 20})
    call(uniform, *["/a"] * 50)
    assert all(0.01 <= s <= 0.02 for s in sleeps[1:]) and len(set(sleeps[1:])) > 40
    lognormal = plan({"kind": "latency", "distribution": "lognormal", "median_ms": 100, "p99_ms": 1000})
    delays = sorted(lognormal.pick("p", "GET", "/").delay_ms for _ in range(2_001))
    assert 80 < delays[1_000] < 125 and 700 < delays[1_980] < 1_400  # median and 99th percentile


def test_error_status_synthesises_a_problem_without_calling(sleeps):
    rules = plan({"kind": "error_status", "status": 429, "retry_after": 2, "times": 1})
    (first, second), upstream = call(rules, "/a", "/b")
    assert first.status_code == 429 and first.headers["content-type"] == "application/problem+json"
    assert first.json()["code"] == "rate_limited" and first.headers["retry-after"] == "2"
    assert second.status_code == 200 and upstream.seen == ["/b"]


def test_connection_reset_before_and_after_delivery():
    (error,), upstream = call(plan({"kind": "connection_reset"}))
    assert isinstance(error, httpx.ConnectError) and upstream.seen == []
    (error,), upstream = call(plan({"kind": "connection_reset", "at": "response"}))
    assert isinstance(error, httpx.RemoteProtocolError) and upstream.seen == ["/insurer/v1/claims"]


def test_timeout_waits_the_shorter_of_bound_and_read_timeout(sleeps):
    (error,), upstream = call(plan({"kind": "timeout", "bound_ms": 30_000}), timeout=0.25)
    assert isinstance(error, httpx.ReadTimeout) and upstream.seen == [] and sleeps == [0.25]
    (error,), _ = call(plan({"kind": "timeout", "bound_ms": 100}), timeout=5)
    assert isinstance(error, httpx.ReadTimeout) and sleeps[-1] == 0.1


def test_slow_body_trickles_the_whole_body(sleeps):
    (response,), _ = call(plan({"kind": "slow_body", "bytes_per_second": 100}))
    assert response.json()["call"] == 1  # intact
    assert len(sleeps) == -(-len(response.content) // 10) - 1 and set(sleeps) == {0.1}


def test_truncated_body_breaks_the_declared_length_or_just_stops():
    (error,), _ = call(plan({"kind": "truncated_body", "fraction": 0.5}))
    assert isinstance(error, httpx.RemoteProtocolError) and "complete message body" in str(error)
    (response,), _ = call(plan({"kind": "truncated_body", "fraction": 0.5, "declare_length": False}))
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert response.content.startswith(b'{"receipt_number"')


@pytest.mark.parametrize("style", ["cut", "trailing_garbage", "html", "bad_utf8"])
def test_malformed_json_styles(style):
    (response,), _ = call(plan({"kind": "malformed_json", "style": style}))
    assert response.status_code == 200 and int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(ValueError):  # JSONDecodeError or UnicodeDecodeError
        json.loads(response.content)


def test_duplicate_event_sends_twice_and_returns_the_second():
    (response,), upstream = call(plan({"kind": "duplicate_event", "route": "/relay/v1/claims/*/events"}),
                                 "/relay/v1/claims/C-1/events", party="relay")
    assert upstream.seen == ["/relay/v1/claims/C-1/events"] * 2 and response.json()["call"] == 2


def test_out_of_order_event_is_delivered_after_the_next_one():
    rules = plan({"kind": "out_of_order_events", "route": "/relay/v1/claims/*/events", "times": 1,
                  "hold_ms": 60_000})
    (held, passed), upstream = call(rules, "/relay/v1/claims/C-1/events", "/relay/v1/claims/C-2/events",
                                    party="relay")
    assert held.status_code == 202 and held.json() == {"held_by_fault": "out_of_order_events"}
    assert passed.status_code == 200
    assert upstream.seen == ["/relay/v1/claims/C-2/events", "/relay/v1/claims/C-1/events"]  # reordered
    assert rules.applied()[0]["released_by"] == "next request" and rules.applied()[0]["delivered_status"] == 200


def test_out_of_order_event_is_delivered_after_the_bound_when_nothing_follows():
    rules = plan({"kind": "out_of_order_events", "hold_ms": 20})
    upstream = Upstream()

    async def run() -> httpx.Response:
        transport = FaultTransport(httpx.MockTransport(upstream), lambda: rules, "relay")
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.post("https://relay.test/relay/v1/claims/C-1/events", json={})
            assert upstream.seen == []
            for _ in range(500):  # bounded wait for the delivery (hold_ms is 20 ms)
                if upstream.seen:
                    break
                await asyncio.sleep(0.01)
            return response

    assert asyncio.run(run()).status_code == 202
    assert upstream.seen == ["/relay/v1/claims/C-1/events"] and rules.applied()[0]["released_by"] == "hold_ms"


def test_party_down_fails_one_party_of_several():
    rules = plan({"kind": "party_down", "party": "insurer:I02"})
    upstream = Upstream()

    async def run() -> list[str]:
        transport = PartyFaultTransport(httpx.MockTransport(upstream), FaultSwitch(rules))
        outcomes = []
        async with httpx.AsyncClient(transport=transport, base_url="https://insurers.test") as client:
            for code in ("I01", "I02", "I03", "I02"):
                try:
                    response = await client.post("/insurer/v1/claims", json={},
                                                 extensions={"s24_party": f"insurer:{code}"})
                    outcomes.append(str(response.status_code))
                except httpx.ConnectError as exc:
                    outcomes.append(str(exc))
        return outcomes

    outcomes = asyncio.run(run())
    assert outcomes[0] == outcomes[2] == "200" and len(upstream.seen) == 2
    assert outcomes[1] == outcomes[3] and "insurer:I02 is down" in outcomes[1]


# -- determinism ------------------------------------------------------------------------------------------------


def _decisions(seed: int, calls: int = 300) -> list[tuple[int, float] | None]:
    rules = plan({"kind": "latency", "distribution": "uniform", "lo_ms": 0, "hi_ms": 100, "probability": 0.5},
                 {"kind": "error_status", "party": "insurer:*", "probability": 0.3}, seed=seed)
    out = []
    for i in range(calls):
        fault = rules.pick(f"insurer:I0{i % 3}", "POST", "/insurer/v1/claims")
        out.append(None if fault is None else (fault.rule, fault.delay_ms))
    return out


def test_seeded_replay_gives_identical_decisions():
    assert _decisions(7) == _decisions(7)
    assert _decisions(7) != _decisions(8)


def test_probability_after_and_times():
    rules = plan({"kind": "error_status", "probability": 0.3})
    fired = sum(rules.pick("p", "GET", "/") is not None for _ in range(2_000))
    assert 500 <= fired <= 700  # 30% of 2,000
    never = plan({"kind": "error_status", "probability": 0.0})
    assert all(never.pick("p", "GET", "/") is None for _ in range(100))
    counted = plan({"kind": "error_status", "after": 2, "times": 3})
    assert [counted.pick("p", "GET", "/") is not None for _ in range(8)] == [False, False, True, True, True,
                                                                              False, False, False]
    assert [e["call"] for e in counted.applied()] == [2, 3, 4]


def test_first_firing_rule_wins_and_every_matching_rule_counts():
    rules = plan({"kind": "error_status", "times": 1}, {"kind": "party_down", "after": 1})
    kinds = [getattr(rules.pick("p", "GET", "/"), "kind", None) for _ in range(3)]
    assert kinds == [FaultKind.ERROR_STATUS, FaultKind.PARTY_DOWN, FaultKind.PARTY_DOWN]


# -- loading ----------------------------------------------------------------------------------------------------


def test_every_shipped_example_loads_and_every_kind_has_one():
    loaded = {path.stem: FaultPlan.from_toml(path) for path in sorted(FIXTURES.glob("*.toml"))}
    assert set(loaded) == {kind.value for kind in FaultKind}
    for name, fault_plan in loaded.items():
        assert fault_plan.active and [r.kind.value for r in fault_plan.rules] == [name]
        assert FaultPlan.from_dict(fault_plan.as_dict()).as_dict() == fault_plan.as_dict()  # round trip
    assert FaultPlan.from_toml(str(FIXTURES / "party_down.toml")).seed == 10


@pytest.mark.parametrize(("text", "where"), [
    ('[[fault]]\nkind = "gremlins"', "fault[0].kind"),
    ('[[fault]]\nparty = "x"', "fault[0].kind"),
    ('[[fault]]\nkind = "latency"\nms = 5\n[[fault]]\nkind = "error_status"\nstatus = 200', "fault[1].status"),
    ('[[fault]]\nkind = "error_status"\nstatus = "503"', "fault[0].status"),
    ('[[fault]]\nkind = "error_status"\ncode = "teapot"', "fault[0].code"),
    ('[[fault]]\nkind = "latency"', "fault[0].ms"),
    ('[[fault]]\nkind = "latency"\ndistribution = "uniform"\nlo_ms = 9\nhi_ms = 2', "fault[0].hi_ms"),
    ('[[fault]]\nkind = "slow_body"\nbytes_per_second = 0', "fault[0].bytes_per_second"),
    ('[[fault]]\nkind = "party_down"\nprobability = 1.5', "fault[0].probability"),
    ('[[fault]]\nkind = "party_down"\ntimes = true', "fault[0].times"),
    ('[[fault]]\nkind = "party_down"\nstatus = 503', "fault[0].status"),
    ('seed = "seven"', "seed"),
    ('colour = 1', "colour"),
    ('fault = 3', "fault"),
    ('[[fault]\nkind = "party_down"', "toml"),
])
def test_plan_errors_name_the_rule_and_field_in_both_languages(text, where):
    with pytest.raises(FaultPlanError) as caught:
        FaultPlan.from_toml(text)
    ko, en = str(caught.value).split(" / ", 1)
    assert ko.startswith(f"{where}: ") and en.startswith(f"{where}: ")
    assert caught.value.message_ko != caught.value.message_en


def test_a_missing_file_is_a_plan_error(tmp_path):
    with pytest.raises(FaultPlanError, match="cannot read the file"):
        FaultPlan.from_toml(tmp_path / "nope.toml")


# -- the server side --------------------------------------------------------------------------------------------


def _provider_app() -> Starlette:
    async def fetch(request: Request) -> Response:
        return JSONResponse({**BODY, "documents": [{"n": i} for i in range(20)]})

    return Starlette(routes=[Route("/s24/v1/documents:fetch", fetch, methods=["POST"]),
                             Route("/s24/v1/health", fetch, methods=["GET", "POST"])])


def _served_call(rules: FaultPlan, path: str = "/s24/v1/documents:fetch") -> httpx.Response:
    app = FaultMiddleware(_provider_app(), lambda: rules, "provider:99350012")

    async def run() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://p.test") as client:
            response = await client.post(path, json={})
            return response

    return asyncio.run(run())


def test_middleware_error_status_latency_and_no_match(monkeypatch):
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(fault_server.asyncio, "sleep", fake_sleep)
    rules = plan({"kind": "error_status", "status": 503, "route": "/s24/v1/documents:fetch", "retry_after": 5})
    response = _served_call(rules)
    assert response.status_code == 503 and response.json()["code"] == "service_unavailable"
    assert response.headers["retry-after"] == "5"
    assert _served_call(rules, "/s24/v1/health").status_code == 200
    response = _served_call(plan({"kind": "latency", "ms": 250}))
    assert response.status_code == 200 and slept == [0.25]


def test_middleware_damages_bodies(monkeypatch):
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(fault_server.asyncio, "sleep", fake_sleep)
    response = _served_call(plan({"kind": "malformed_json", "style": "cut"}))
    with pytest.raises(json.JSONDecodeError):
        response.json()
    response = _served_call(plan({"kind": "truncated_body", "declare_length": False, "fraction": 0.25}))
    assert 0 < len(response.content) < 200 and int(response.headers["content-length"]) == len(response.content)
    response = _served_call(plan({"kind": "slow_body", "bytes_per_second": 200}))
    assert len(response.json()["documents"]) == 20 and len(slept) == -(-len(response.content) // 20) - 1
    with pytest.raises(FaultDrop):  # in-process there is no connection to drop: the caller sees the failure
        _served_call(plan({"kind": "connection_reset"}))


def test_middleware_ignores_client_only_kinds():
    response = _served_call(plan({"kind": "duplicate_event"}, {"kind": "out_of_order_events"}))
    assert response.status_code == 200 and len(response.json()["documents"]) == 20


def test_middleware_over_a_real_connection_resets_truncates_and_hangs_bounded():
    switch = FaultSwitch()
    app = FaultMiddleware(_provider_app(), switch.source, "provider:99350012")
    with serving(app) as served, httpx.Client(base_url=served.url, timeout=10) as client:
        switch.plan = plan({"kind": "connection_reset"})
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post("/s24/v1/documents:fetch", json={})
        switch.plan = plan({"kind": "truncated_body", "fraction": 0.5})
        # the body stops short of its declared length; whether the client then reads EOF or a reset depends
        # on timing (TCP_NODELAY on the server), either way it cannot get the whole answer
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post("/s24/v1/documents:fetch", json={})
        switch.plan = plan({"kind": "timeout", "bound_ms": 50})
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post("/s24/v1/documents:fetch", json={})
        switch.plan = FaultPlan.empty()
        assert client.post("/s24/v1/documents:fetch", json={}).status_code == 200  # the server lives on


# -- admin ------------------------------------------------------------------------------------------------------


def test_admin_put_get_delete():
    switch = FaultSwitch()
    admin = TestClient(Starlette(routes=admin_routes(fault_routes(switch), "faults test")))
    assert admin.get("/__admin/faults").json() == {"active": False, "plan": {"seed": 0, "fault": []}, "applied": []}
    body = {"seed": 3, "fault": [{"kind": "error_status", "party": "insurer:I02", "status": 502}]}
    response = admin.put("/__admin/faults", json=body)
    assert response.status_code == 200 and response.json()["active"] is True
    assert switch.plan.rules[0].params == {"status": 502, "code": "upstream_failed"}
    (answer,), _ = call(switch.plan, party="insurer:I02")
    assert answer.status_code == 502
    shown = admin.get("/__admin/faults").json()
    assert shown["plan"]["seed"] == 3 and [e["party"] for e in shown["applied"]] == ["insurer:I02"]
    bad = admin.put("/__admin/faults", json={"fault": [{"kind": "latency", "ms": -5}]})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
    problem = bad.json()
    assert "fault[0].ms: " in problem["detail"] and "범위" in problem["detail"]
    assert "must be within" in problem["detail"]
    assert problem["errors"][0]["pointer"] == "/fault/0/ms"
    assert switch.plan.active  # the old plan stays when the new one is refused
    assert admin.put("/__admin/faults", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert admin.delete("/__admin/faults").json()["active"] is False and not switch.plan.active
    paths = {(r["method"], r["path"]) for r in admin.get("/__admin/").json()}
    assert {("GET", "/__admin/faults"), ("PUT", "/__admin/faults"), ("DELETE", "/__admin/faults")} <= paths

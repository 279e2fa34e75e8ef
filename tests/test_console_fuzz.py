"""Hostile input to the console's JSON API and forms, generated: whatever the body or query string, the
answer is a documented one (2xx, 400 naming a field, 403/404/409) — never a 500 — on SQLite and PostgreSQL.

Bodies are built from each operation's own field names, filled with any JSON value (strings with control
characters, NUL, lone-surrogate-free Unicode, huge integers, floats, nesting), so the fuzz reaches the
register's checks instead of stopping at the first unknown field. Seeded and bounded in examples.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from s24kit.conformance.console.access import RULES
from s24kit.conformance.console.validation import _properties, openapi

from .console_kit import DATABASES, Console, assert_documented, console_on, csrf_of

EXAMPLES = 25
TEXT = st.text(st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    ["", "\x00", "31310001", "https://127.0.0.1:1", "a" * 600, "１２", "applied", "accepted", "admin", "11", "31"])
SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | \
    st.floats(allow_nan=False, allow_infinity=False) | TEXT
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) |
                           st.dictionaries(TEXT, inner, max_size=3), max_leaves=6)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module", params=DATABASES)
def console(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console_on(request.param, tmp_path_factory.mktemp("fuzz")) as made:
        api = made.api("admin")
        vendor = api.post("/api/v1/vendors", json={"name": "퍼즈소프트"}).json()
        product = api.post("/api/v1/products", json={"vendor_id": vendor["id"], "name": "EMR"}).json()
        api.post("/api/v1/product-versions", json={"product_id": product["id"], "version": "1.0"})
        api.post("/api/v1/sites", json={"provider_code": "31310001", "name": "퍼즈의원", "facility_type": "31",
                                        "region": "11", "mode": "pull", "pull_url": "https://127.0.0.1:1"})
        yield made


def _component(rule_method: str, template: str) -> str | None:
    path = re.sub(r"\{(\w+):\w+\}", r"{\1}", template)
    body = openapi()["paths"][path][rule_method.lower()].get("requestBody")
    if body is None:
        return None
    json_body = body["content"].get("application/json")  # uploads (CSV, evidence bundles) are fuzzed elsewhere
    return None if json_body is None else json_body["schema"]["$ref"].rsplit("/", 1)[-1]


WRITES = [(rule.method, rule.path, _component(rule.method, rule.path)) for rule in RULES
          if rule.api and rule.changes and _component(rule.method, rule.path)]


def bodies(component: str) -> st.SearchStrategy:
    names = sorted(_properties(component))
    return st.dictionaries(st.sampled_from(names) | TEXT, JSON_VALUES, max_size=len(names) + 1) | JSON_VALUES


@pytest.mark.parametrize(("method", "template", "component"), WRITES, ids=[f"{m} {t}" for m, t, _ in WRITES])
def test_any_body_gets_a_documented_answer(console: Console, method: str, template: str, component: str) -> None:
    path = re.sub(r"\{\w+:id\}", "1", template)
    client = console.api("admin")

    @SETTINGS
    @seed(20261206)
    @given(body=bodies(component))
    def run(body: object) -> None:
        answer = client.request(method, path, json=body)
        assert answer.status_code < 500, answer.text
        assert_documented(method, template, answer)
        if answer.status_code == 400 and answer.json()["code"] == "invalid_input":
            assert answer.json()["errors"][0]["field"]

    run()


QUERIES = [(rule.path, [p["name"] for p in openapi()["paths"][rule.path]["get"].get("parameters", [])
                        if p["in"] == "query"]) for rule in RULES if rule.api and rule.method == "GET"
           and "{" not in rule.path and openapi()["paths"][rule.path]["get"].get("parameters")]


@pytest.mark.parametrize(("path", "names"), QUERIES, ids=[p for p, _ in QUERIES])
def test_any_query_string_gets_a_documented_answer(console: Console, path: str, names: list[str]) -> None:
    client = console.api("admin")

    @SETTINGS
    @seed(20261206)
    @given(params=st.lists(st.tuples(st.sampled_from(names) | TEXT, TEXT), max_size=4))
    def run(params: list[tuple[str, str]]) -> None:
        answer = client.get(path, params=params)
        assert answer.status_code < 500, answer.text
        assert_documented("GET", path, answer)

    run()


FORMS = [("/sites", "SiteNew"), ("/sites/1", "SitePatch"), ("/sites/1/state", "StateChange"),
         ("/vendors", "VendorNew"), ("/accounts", "AccountNew"), ("/login", None), ("/account/password", None)]


@pytest.mark.parametrize(("path", "component"), FORMS, ids=[p for p, _ in FORMS])
def test_any_form_gets_a_page_not_a_500(console: Console, path: str, component: str | None) -> None:
    client = console.pages["admin"] if path != "/login" else console.anonymous()
    token = csrf_of(client, "/login" if path == "/login" else "/account/password")
    names = sorted(_properties(component)) if component else ["username", "password", "current_password",
                                                                 "new_password", "next"]

    @SETTINGS
    @seed(20261206)
    @given(fields=st.dictionaries(st.sampled_from(names), TEXT, max_size=len(names)))
    def run(fields: dict[str, str]) -> None:
        answer = client.post(path, data={**fields, "csrf_token": token})
        assert answer.status_code in (200, 303, 400, 403, 404, 409), (answer.status_code, answer.text[:300])

    run()

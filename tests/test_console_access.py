"""Who may do what in the console: every row of the access table for every role (and for nobody), the table
against the app's routes and the OpenAPI description, CSRF on every form, sessions and one-time passwords."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from starlette.routing import Mount, Route

from s24kit.conformance.console import accounts, register
from s24kit.conformance.console.access import RULES, Rule
from s24kit.conformance.console.audit import SYSTEM
from s24kit.conformance.console.tables import ROLES, audit_log
from s24kit.conformance.console.validation import openapi

from .console_kit import DATABASES, PASSWORD, Console, assert_documented, console_on, csrf_of, log_in, make_console

CALLERS = (None, *ROLES)  # None: no session, no token


@pytest.fixture(scope="module", params=DATABASES)
def console(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console_on(request.param, tmp_path_factory.mktemp("console")) as made:
        yield from _seeded(made)


def _seeded(made: Console) -> Iterator[Console]:
    with made.database.engine.begin() as connection:
        vendor = register.create_vendor(connection, SYSTEM, {"name": "메디소프트"})
        product = register.create_product(connection, SYSTEM, {"vendor_id": vendor["id"], "name": "클리닉EMR"})
        version = register.create_version(connection, SYSTEM, {"product_id": product["id"], "version": "4.2.1"})
        register.create_site(connection, SYSTEM, {
            "provider_code": "31310001", "name": "행복의원", "facility_type": "31", "region": "11",
            "product_version_id": version["id"], "mode": "pull", "pull_url": "https://127.0.0.1:8443"})
        SPARE["token_id"] = accounts.issue_token(connection, SYSTEM, 1, "revoked by the walk")[0]
    yield made


#: Ids the walk may spend (a token it revokes), by path parameter; any other id is 1, the first of its kind.
SPARE: dict[str, int] = {}


def concrete(rule: Rule) -> str:
    """The rule's path with every id filled in."""
    return re.sub(r"\{(\w+):id\}", lambda m: str(SPARE.get(m.group(1), 1)), rule.path)


def audit_count(console: Console) -> int:
    with console.database.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(audit_log)).scalar_one()


def call(console: Console, rule: Rule, role: str | None):
    path = concrete(rule)
    if rule.api:
        client = console.api(role)
        return client.request(rule.method, path, json={} if rule.changes else None)
    client = console.pages[role] if role else console.anonymous()
    if not rule.changes:
        return client.request(rule.method, path)
    token = csrf_of(client, "/login") if role is None else csrf_of(client, "/account/password")
    return client.request(rule.method, path, data={"csrf_token": token})


def allowed(rule: Rule, role: str | None) -> bool:
    return rule.minimum is None or (role is not None and accounts.at_least(role, rule.minimum))


CASES = [(rule, role) for rule in RULES if not rule.prefix for role in CALLERS]


@pytest.mark.parametrize(("rule", "role"), CASES, ids=[f"{r.method} {r.path} as {c or 'anonymous'}" for r, c in CASES])
def test_every_route_for_every_role(console: Console, rule: Rule, role: str | None) -> None:
    before = audit_count(console)
    answer = call(console, rule, role)
    if rule.path == "/logout" and role is not None:
        log_in(console.pages[role], role)  # the walk goes on with this client
    if allowed(rule, role):
        assert answer.status_code not in (401, 403), (answer.status_code, answer.text[:300])
    else:
        expected = (401,) if role is None and (rule.api or rule.changes) else (303,) if role is None else (403,)
        assert answer.status_code in expected, (answer.status_code, answer.text[:300])
        if answer.status_code == 303:
            assert answer.headers["location"].startswith("/login")
        assert audit_count(console) == before, "a refused request changed something"
    if rule.api:
        assert_documented(rule.method, rule.path, answer)
        if not allowed(rule, role):
            assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_viewer_may_change_only_their_own_session_and_password() -> None:
    for rule in RULES:
        if rule.changes and rule.minimum in (None, "viewer"):
            assert rule.own or rule.path == "/login", rule


def test_anonymous_callers_reach_only_the_login_page_and_static_files() -> None:
    assert {rule.path for rule in RULES if rule.minimum is None} == {"/login", "/static/"}


def test_the_table_and_the_app_have_the_same_routes(console: Console) -> None:
    served = set()
    for route in console.app.routes:
        if isinstance(route, Route):
            served |= {(method, route.path) for method in route.methods or () if method != "HEAD"}
        else:
            assert isinstance(route, Mount) and route.path == "/static", route
    listed = {(rule.method, rule.path) for rule in RULES if not rule.prefix}
    assert served == listed


def test_every_api_route_is_in_the_openapi_description_with_its_role() -> None:
    paths = openapi()["paths"]
    documented = {(method.upper(), path) for path, item in paths.items() for method in item}
    listed = set()
    for rule in RULES:
        if rule.api:
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", rule.path)
            listed.add((rule.method, path))
            assert paths[path][rule.method.lower()]["x-s24-minimum-role"] == rule.minimum, rule
    assert documented == listed


def test_the_openapi_description_is_valid() -> None:
    from openapi_spec_validator import validate

    validate(openapi())


def test_a_path_no_row_speaks_for_is_refused(console: Console) -> None:
    assert console.pages["admin"].get("/no-such-page").status_code == 404
    assert console.api("admin").get("/api/v1/no-such-thing").status_code == 404
    assert console.api("admin").put("/api/v1/sites").status_code == 405
    assert console.anonymous().get("/sites/99999999999999999999").status_code in (303, 404)
    assert console.pages["admin"].get("/sites/99999999999999999999").status_code == 404
    assert console.pages["admin"].get("/sites/999999").status_code == 404


def test_static_files_are_open(console: Console) -> None:
    answer = console.anonymous().get("/static/console.js")
    assert answer.status_code == 200 and "s24console" in answer.text


# -- CSRF -----------------------------------------------------------------------------------------------------

SITE_FORM = {"provider_code": "31310999", "name": "CSRF의원", "facility_type": "31", "region": "11",
             "mode": "pull", "pull_url": "https://127.0.0.1:9443"}


@pytest.mark.parametrize("token", [None, "", "wrong-token"], ids=["missing", "empty", "wrong"])
def test_a_form_without_the_right_csrf_token_is_refused(console: Console, token: str | None) -> None:
    before = audit_count(console)
    data = dict(SITE_FORM) if token is None else {**SITE_FORM, "csrf_token": token}
    answer = console.pages["admin"].post("/sites", data=data)
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert audit_count(console) == before


def test_a_csrf_token_of_another_session_is_refused(console: Console) -> None:
    other = csrf_of(console.pages["operator"])
    answer = console.pages["admin"].post("/sites", data={**SITE_FORM, "csrf_token": other})
    assert answer.status_code == 403


def test_the_login_form_needs_its_csrf_token_too(console: Console) -> None:
    client = console.anonymous()
    answer = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert answer.status_code == 403 and "session" not in answer.cookies.get("s24kit_console", "")


def test_the_csrf_header_works_for_scripts_of_the_page(console: Console) -> None:
    client = console.pages["operator"]
    answer = client.post("/sites/1/state", data={"state": "zz"}, headers={"x-csrf-token": csrf_of(client)})
    assert answer.status_code == 400 and "state" in answer.text


def test_the_api_ignores_session_cookies(console: Console) -> None:
    assert console.pages["admin"].get("/api/v1/whoami").status_code == 401


# -- accounts, sessions, one-time passwords --------------------------------------------------------------------

def test_passwords_are_stored_as_argon2id_hashes(console: Console) -> None:
    from s24kit.conformance.console.tables import accounts as table

    with console.database.engine.connect() as connection:
        stored = connection.execute(select(table.c.password_hash).where(table.c.username == "viewer")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with console.database.engine.begin() as connection:
        assert accounts.authenticate(connection, "viewer", PASSWORD) is not None
        assert accounts.authenticate(connection, "viewer", PASSWORD + "x") is None
        assert accounts.authenticate(connection, "nobody", PASSWORD) is None


def test_a_wrong_password_opens_no_session(console: Console) -> None:
    client = console.anonymous()
    answer = client.post("/login", data={"username": "viewer", "password": "wrong password!",
                                         "csrf_token": csrf_of(client, "/login")})
    assert answer.status_code == 400
    assert client.get("/sites").status_code == 303


def test_the_login_never_redirects_to_another_site(console: Console) -> None:
    client = console.anonymous()
    answer = client.post("/login", data={"username": "viewer", "password": PASSWORD, "next": "//evil.example/",
                                         "csrf_token": csrf_of(client, "/login")})
    assert answer.status_code == 303 and answer.headers["location"] == "/sites"


@pytest.fixture(params=DATABASES)
def own_console(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Console]:
    """A console of its own: the module's console is walked by every role, which must not touch this test."""
    with console_on(request.param, tmp_path) as made:
        yield made


def test_a_one_time_password_must_be_changed_first(own_console: Console) -> None:
    console = own_console
    created = console.api("admin").post("/api/v1/accounts", json={"username": "newcomer", "role": "operator"})
    assert created.status_code == 201, created.text
    assert_documented("POST", "/api/v1/accounts", created)
    one_time = created.json()["one_time_password"]
    token = console.api("admin").post(f"/api/v1/accounts/{created.json()['id']}/tokens", json={"name": "cli"})
    client = console.anonymous()
    client.post("/login", data={"username": "newcomer", "password": one_time, "csrf_token": csrf_of(client, "/login")})
    assert client.get("/sites").headers["location"] == "/account/password"
    api = console.api(None)
    api.headers["authorization"] = f"Bearer {token.json()['token']}"
    assert api.get("/api/v1/sites").json()["code"] == "password_change_required"
    early = console.anonymous()
    early.post("/login", data={"username": "newcomer", "password": one_time, "csrf_token": csrf_of(early, "/login")})
    changed = client.post("/account/password", data={"current_password": one_time, "new_password": "a new long secret",
                                                      "csrf_token": csrf_of(client, "/account/password")})
    assert changed.status_code == 303
    assert client.get("/sites").status_code == 200
    assert api.get("/api/v1/sites").status_code == 200
    assert early.get("/sites").headers["location"].startswith("/login"), "an older session outlived the password"


def test_no_password_hash_leaves_the_console(own_console: Console) -> None:
    """Account answers carry the listed fields only: listing, creating, changing and resetting, the accounts
    page, the audit log (API and page) and the OpenAPI description's account shape."""
    console = own_console
    admin = console.api("admin")
    created = admin.post("/api/v1/accounts", json={"username": "hashless", "role": "viewer"})
    assert created.status_code == 201, created.text
    changed = admin.patch(f"/api/v1/accounts/{created.json()['id']}", json={"role": "operator"})
    reset = admin.patch(f"/api/v1/accounts/{created.json()['id']}", json={"reset_password": True})
    listed = admin.get("/api/v1/accounts")
    public = {"id", "username", "role", "disabled", "must_change_password", "created_at", "last_login_at"}
    for answer, extra in ((created, {"one_time_password"}), (changed, set()), (reset, {"one_time_password"})):
        assert answer.status_code in (200, 201), answer.text
        assert set(answer.json()) == public | extra, answer.json()
    assert_documented("PATCH", "/api/v1/accounts/{account_id:id}", changed)
    assert_documented("GET", "/api/v1/accounts", listed)
    assert all(set(row) == public for row in listed.json()["items"])
    for text in (created.text, changed.text, reset.text, listed.text, admin.get("/api/v1/audit?per_page=500").text,
                 console.pages["admin"].get("/accounts").text, console.pages["admin"].get("/audit").text):
        assert "argon2" not in text and "password_hash" not in text
    # the description closes the shape: an answer with a hash in it would not match
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resource("urn:console", Resource(contents=openapi(), specification=DRAFT202012))
    row = listed.json()["items"][0]
    for name, value in (("Account", row), ("AccountWithPassword", {**row, "one_time_password": "x"})):
        validator = Draft202012Validator({"$ref": f"urn:console#/components/schemas/{name}"}, registry=registry)
        assert validator.is_valid(value)
        assert not validator.is_valid({**value, "password_hash": "$argon2id$v=19$..."})


def test_logging_out_ends_the_session_on_the_server(own_console: Console) -> None:
    """A copy of the session cookie taken before logging out opens nothing afterwards."""
    client = own_console.anonymous()
    log_in(client, "operator")
    copied = client.cookies.get("s24kit_console")
    assert copied and client.get("/sites").status_code == 200
    answer = client.post("/logout", data={"csrf_token": csrf_of(client)})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    replayed = own_console.anonymous()
    replayed.cookies.set("s24kit_console", copied)
    answer = replayed.get("/sites")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    log_in(client, "operator")  # a new login opens a new session
    assert client.get("/sites").status_code == 200
    assert replayed.get("/sites").status_code == 303


def test_a_weak_new_password_is_refused_naming_the_field(console: Console) -> None:
    client = console.pages["viewer"]
    answer = client.post("/account/password", data={"current_password": PASSWORD, "new_password": "short",
                                                    "csrf_token": csrf_of(client, "/account/password")})
    assert answer.status_code == 400 and "new_password" in answer.text


def test_a_disabled_account_loses_its_session_and_tokens(tmp_path: Path, console_database: str) -> None:
    made = make_console(tmp_path / "state", console_database)
    viewer_id = made.api("admin").get("/api/v1/whoami").json()["id"] - 3  # accounts are made in role order
    answer = made.api("admin").patch(f"/api/v1/accounts/{viewer_id}", json={"disabled": True})
    assert answer.status_code == 200 and answer.json()["username"] == "viewer", answer.text
    assert made.pages["viewer"].get("/sites").status_code == 303
    assert made.api("viewer").get("/api/v1/sites").status_code == 401
    made.database.engine.dispose()  # the fixture drops the database after the test; no connection may stay open


def test_an_admin_cannot_lock_themselves_out(console: Console) -> None:
    admin_id = console.api("admin").get("/api/v1/whoami").json()["id"]
    answer = console.api("admin").patch(f"/api/v1/accounts/{admin_id}", json={"role": "viewer"})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "role"


def test_a_revoked_token_stops_working(console: Console) -> None:
    admin_id = console.api("admin").get("/api/v1/whoami").json()["id"]
    issued = console.api("admin").post(f"/api/v1/accounts/{admin_id}/tokens", json={"name": "short-lived"}).json()
    client = console.api(None)
    client.headers["authorization"] = f"Bearer {issued['token']}"
    assert client.get("/api/v1/whoami").status_code == 200
    assert console.api("admin").delete(f"/api/v1/tokens/{issued['id']}").status_code == 204
    assert client.get("/api/v1/whoami").status_code == 401
    listed = console.api("admin").get("/api/v1/tokens").json()["items"]
    assert all(issued["token"] not in str(row) for row in listed)


def test_a_wrong_token_is_told_it_is_not_valid_not_that_none_was_sent(console: Console) -> None:
    missing = console.api(None).get("/api/v1/whoami")
    assert missing.status_code == 401 and "needs Authorization: Bearer <token>" in missing.json()["detail"]
    assert "invalid_token" not in missing.headers["www-authenticate"]
    admin_id = console.api("admin").get("/api/v1/whoami").json()["id"]
    issued = console.api("admin").post(f"/api/v1/accounts/{admin_id}/tokens", json={"name": "to revoke"}).json()
    assert console.api("admin").delete(f"/api/v1/tokens/{issued['id']}").status_code == 204
    for token in ("s24c_" + "x" * 40, "not-even-a-token", issued["token"]):
        client = console.api(None)
        client.headers["authorization"] = f"Bearer {token}"
        answer = client.get("/api/v1/sites")
        assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"
        assert_documented("GET", "/api/v1/sites", answer)
        detail = answer.json()["detail"]
        assert "토큰이 유효하지 않습니다" in detail and "the token is not valid (revoked, expired or unknown" in detail
        assert "needs Authorization" not in detail
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]


def test_the_session_cookie_is_httponly_and_samesite_strict(tmp_path: Path) -> None:
    made = make_console(tmp_path / "state")
    client = made.anonymous()
    answer = client.get("/login")
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_docs_list_every_route_with_its_role_and_every_site_transition() -> None:
    from s24kit.conformance.console.register import SITE_TRANSITIONS

    from .conftest import ROOT

    text = (ROOT / "docs" / "console.md").read_text(encoding="utf-8")
    for rule in RULES:
        shown = f"| `{rule.method} {rule.path}{'…' if rule.prefix else ''}` | {rule.minimum or 'open'}"
        assert shown in text, shown
    for source, targets in SITE_TRANSITIONS.items():
        assert re.search(rf"^\| {source} [^|]+ \| {', '.join(targets)} \|$", text, re.MULTILINE), source

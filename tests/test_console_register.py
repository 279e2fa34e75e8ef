"""The register: vendors, products, versions, sites; state transitions enforced by the store; the site
list's filters and pages; every change audited with persons masked; hostile input answered 400 naming the
field (pages and API), never a 500."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from s24kit.conformance.console import register
from s24kit.conformance.console.audit import SYSTEM, Actor
from s24kit.conformance.console.db import now, prepare
from s24kit.conformance.console.tables import audit_log, sites

from .console_kit import DATABASES, Console, assert_documented, console_on, csrf_of

#: Provider codes no other test of this module uses (the fixed ones are 3131…).
FRESH_CODES = itertools.count(31320001)
SITE = {"provider_code": "31310001", "name": "행복의원", "facility_type": "31", "region": "11", "mode": "pull",
        "pull_url": "https://127.0.0.1:8443", "contact_name": "김담당", "contact_phone": "02-1234-5678"}


@pytest.fixture(scope="module", params=DATABASES)
def console(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console_on(request.param, tmp_path_factory.mktemp("console")) as made:
        yield made


@pytest.fixture(scope="module")
def version_id(console: Console) -> int:
    api = console.api("operator")
    vendor = api.post("/api/v1/vendors", json={"name": "한빛EMR", "business_number": "123-45-67890"})
    assert vendor.status_code == 201, vendor.text
    assert_documented("POST", "/api/v1/vendors", vendor)
    product = api.post("/api/v1/products", json={"vendor_id": vendor.json()["id"], "name": "한빛클리닉"})
    assert_documented("POST", "/api/v1/products", product)
    version = api.post("/api/v1/product-versions", json={"product_id": product.json()["id"], "version": "7.1.0"})
    assert_documented("POST", "/api/v1/product-versions", version)
    assert version.json()["state"] == "uncertified"
    return version.json()["id"]


def new_site(console: Console, code: str, **changes: object) -> dict:
    answer = console.api("operator").post("/api/v1/sites", json={**SITE, "provider_code": code, **changes})
    assert answer.status_code == 201, answer.text
    assert_documented("POST", "/api/v1/sites", answer)
    return answer.json()


def move(console: Console, role: str, site_id: int, state: str, reason: str = "") -> object:
    body = {"state": state, **({"reason": reason} if reason else {})}
    answer = console.api(role).post(f"/api/v1/sites/{site_id}/state", json=body)
    assert_documented("POST", "/api/v1/sites/{site_id:id}/state", answer)
    return answer


# -- states -----------------------------------------------------------------------------------------------------

def test_a_site_goes_from_applied_to_accepted_and_every_step_is_audited(console: Console, version_id: int) -> None:
    site = new_site(console, "31310101", product_version_id=version_id)
    assert site["state"] == "applied" and site["product_version"]["version"] == "7.1.0"
    for role, state in (("operator", "testing"), ("operator", "passed")):
        answer = move(console, role, site["id"], state, reason=f"to {state}")
        assert answer.status_code == 200 and answer.json()["state"] == state, answer.text
    # Accepting is a decision on the record (who, why, on which run, signed): never a bare state change.
    refused = move(console, "approver", site["id"], "accepted", reason="to accepted")
    assert refused.status_code == 409 and "/api/v1/decisions" in refused.text, refused.text
    decide(console, site["id"], "accepted")
    entries = console.api("admin").get("/api/v1/audit", params={"object_kind": "site",
                                                                 "object_id": str(site["id"])})
    assert_documented("GET", "/api/v1/audit", entries)
    actions = [(e["actor"], e["summary"]["after"].get("state")) for e in entries.json()["items"]]
    assert actions == [("approver", "accepted"), ("operator", "passed"), ("operator", "testing"),
                       ("operator", "applied")]


@pytest.mark.parametrize(("path", "target"), [((), "accepted"), ((), "passed"), (("testing",), "accepted"),
                                              (("rejected",), "testing"), (("testing", "passed", "accepted"),
                                                                           "applied")])
def test_an_illegal_transition_is_refused_with_a_clear_message(console: Console, path: tuple, target: str) -> None:
    site = new_site(console, f"{next(FRESH_CODES):08d}")
    for state in path:
        if state in register.DECISION_STATES:
            decide(console, site["id"], state)
        else:
            assert move(console, "admin", site["id"], state).status_code == 200
    answer = move(console, "admin", site["id"], target)
    assert answer.status_code == 409, answer.text
    problem = answer.json()
    assert problem["code"] == "conflict" and problem["errors"][0]["field"] == "state"
    source = path[-1] if path else "applied"
    assert f"{source} to {target}" in problem["errors"][0]["message_en"]
    assert console.api("viewer").get(f"/api/v1/sites/{site['id']}").json()["state"] == source


def test_decisions_need_an_approver(console: Console) -> None:
    site = new_site(console, "31310201")
    move(console, "operator", site["id"], "testing")
    move(console, "operator", site["id"], "passed")
    refused = move(console, "operator", site["id"], "accepted")
    assert refused.status_code == 403 and refused.json()["errors"][0]["field"] == "state"
    bare = move(console, "approver", site["id"], "rejected")
    assert bare.status_code == 409 and bare.json()["errors"][0]["field"] == "state", bare.text


def decide(console: Console, site_id: int, state: str) -> None:
    """Move ``site_id`` into a decision state as :mod:`decisions` does (an approver, the decision recorded)."""
    with console.database.engine.begin() as connection:
        approver = connection.execute(text("SELECT id FROM accounts WHERE role = 'approver'")).scalar_one()
        register.change_site_state(connection, Actor(approver, "approver"), "approver", site_id,
                                   {"state": state, "reason": f"to {state}"}, decided=True)


def test_the_decision_form_offers_only_the_decisions_the_site_s_state_allows(console: Console) -> None:
    site = new_site(console, "31310211")
    page = console.pages["approver"]

    def offered() -> set[str]:
        text = page.get(f"/sites/{site['id']}/decisions").text
        if 'id="decision-form"' not in text:
            assert 'id="no-decision"' in text
            return set()
        return {d for d in ("accepted", "rejected", "suspended") if f'<option value="{d}"' in text}

    assert offered() == {"rejected"}  # applied
    move(console, "operator", site["id"], "testing")
    move(console, "operator", site["id"], "passed")
    assert offered() == {"accepted", "rejected"}
    decide(console, site["id"], "accepted")
    assert offered() == {"suspended"}
    decide(console, site["id"], "suspended")
    assert offered() == set()  # suspended → testing is a state change, not a decision


def test_the_store_itself_enforces_the_transitions(console: Console) -> None:
    from s24kit.conformance.console.validation import FieldError

    site = new_site(console, "31310301")
    with console.database.engine.begin() as connection, pytest.raises(FieldError) as refused:
        register.change_site_state(connection, SYSTEM, None, site["id"], {"state": "accepted"})
    assert refused.value.status == 409 and refused.value.field == "state"


def test_a_state_change_page_form_reaches_the_same_rules(console: Console) -> None:
    site = new_site(console, "31310401")
    client = console.pages["operator"]
    answer = client.post(f"/sites/{site['id']}/state", data={"state": "accepted", "csrf_token": csrf_of(client)})
    assert answer.status_code == 403 and "approver" in answer.text
    answer = client.post(f"/sites/{site['id']}/state", data={"state": "testing", "csrf_token": csrf_of(client)})
    assert answer.status_code == 303
    assert "시험 중" in client.get(f"/sites/{site['id']}").text


# -- the register ----------------------------------------------------------------------------------------------

def test_duplicates_are_conflicts_naming_the_field(console: Console, version_id: int) -> None:
    new_site(console, "31310501")
    again = console.api("operator").post("/api/v1/sites", json={**SITE, "provider_code": "31310501"})
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "provider_code"
    vendor = console.api("operator").post("/api/v1/vendors", json={"name": "한빛EMR"})
    assert vendor.status_code == 409 and vendor.json()["errors"][0]["field"] == "name"


def test_the_audit_log_masks_the_contact_person(console: Console) -> None:
    site = new_site(console, "31310601")
    with console.database.engine.connect() as connection:
        summaries = connection.execute(select(audit_log.c.summary).where(
            audit_log.c.object_kind == "site", audit_log.c.object_id == str(site["id"]))).scalars().all()
    written = json.dumps(summaries, ensure_ascii=False)
    assert "김담당" not in written and "02-1234-5678" not in written
    assert "김**" in written


def test_a_site_is_edited_and_its_pin_normalised(console: Console) -> None:
    site = new_site(console, "31310701")
    pin = ":".join(["AB"] * 32)
    answer = console.api("operator").patch(f"/api/v1/sites/{site['id']}", json={"server_cert_sha256": pin,
                                                                               "name": "행복의원 본점"})
    assert answer.status_code == 200, answer.text
    assert_documented("PATCH", "/api/v1/sites/{site_id:id}", answer)
    assert answer.json()["server_cert_sha256"] == "ab" * 32 and answer.json()["name"] == "행복의원 본점"


def test_what_a_decision_rests_on_cannot_change_without_a_new_check(console: Console, version_id: int) -> None:
    """An accepted or passed site keeps the endpoint, pins, product version and mode it was checked with (the
    provider code never changes):
    a change is 409 (move it back to testing first, docs/console.md §9), through the API and the page form;
    its name and contacts may change; back in testing everything may."""
    api = console.api("operator")
    other = api.post("/api/v1/product-versions", json={"product_id": api.get(
        f"/api/v1/product-versions/{version_id}").json()["product_id"], "version": "7.1.1-other"}).json()["id"]
    accepted = new_site(console, "31310711", product_version_id=version_id, server_cert_sha256="ab" * 32)
    passed = new_site(console, "31310712", product_version_id=version_id, server_cert_sha256="ab" * 32)
    for site in (accepted, passed):
        for state in ("testing", "passed"):
            assert move(console, "operator", site["id"], state).status_code == 200
    decide(console, accepted["id"], "accepted")
    changes = ({"pull_url": "https://127.0.0.1:45431", "server_cert_sha256": None}, {"product_version_id": other},
               {"server_cert_sha256": "cd" * 32}, {"mode": "agent", "agent_source_ip": "10.0.0.1"},
               {"product_version_id": None})
    for site, state in ((accepted, "accepted"), (passed, "passed")):
        for change in changes:
            answer = api.patch(f"/api/v1/sites/{site['id']}", json=change)
            assert answer.status_code == 409, (change, answer.text)
            assert_documented("PATCH", "/api/v1/sites/{site_id:id}", answer)
            assert "testing" in answer.json()["detail"] and state in answer.json()["detail"]
        for role in ("operator", "admin"):
            assert console.api(role).patch(f"/api/v1/sites/{site['id']}", json=changes[0]).status_code == 409
        now = console.api("viewer").get(f"/api/v1/sites/{site['id']}").json()
        assert (now["state"], now["pull_url"], now["server_cert_sha256"], now["product_version_id"]) == \
            (state, SITE["pull_url"], "ab" * 32, version_id)
        # the same values again, and the name and contacts, are no change of what was checked
        same = api.patch(f"/api/v1/sites/{site['id']}", json={"pull_url": SITE["pull_url"], "name": "행복의원 2",
                                                               "product_version_id": version_id})
        assert same.status_code == 200 and same.json()["state"] == state, same.text
    page = console.pages["operator"]
    form = {key: "" if value is None else str(value) for key, value in
            console.api("viewer").get(f"/api/v1/sites/{accepted['id']}").json().items()
            if key in ("name", "facility_type", "region", "product_version_id", "mode", "pull_url",
                       "server_cert_sha256", "agent_source_ip", "agent_cert_sha256", "contact_name", "contact_phone")}
    token = csrf_of(page)
    assert page.post(f"/sites/{accepted['id']}", data={**form, "name": "행복의원 3", "csrf_token": token}) \
        .status_code == 303
    shown = page.post(f"/sites/{accepted['id']}", data={**form, "pull_url": "https://127.0.0.1:45431",
                                                        "csrf_token": token})
    assert shown.status_code == 409 and "pull_url" in shown.text
    assert console.api("viewer").get(f"/api/v1/sites/{accepted['id']}").json()["pull_url"] == SITE["pull_url"]
    # back in testing, a new check will judge the new endpoint
    assert move(console, "operator", passed["id"], "testing").status_code == 200
    answer = api.patch(f"/api/v1/sites/{passed['id']}", json={**changes[0], "product_version_id": other})
    assert answer.status_code == 200 and answer.json()["state"] == "testing", answer.text


def test_an_agent_site_needs_its_source_address(console: Console) -> None:
    answer = console.api("operator").post("/api/v1/sites", json={**SITE, "provider_code": "31310801",
                                                                 "mode": "agent", "pull_url": None})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "agent_source_ip"
    site = new_site(console, "31310802", mode="agent", pull_url=None, agent_source_ip="::ffff:10.0.0.1")
    assert site["agent_source_ip"] == "::ffff:a00:1"


def test_pages_register_a_vendor_product_version_and_site(console: Console) -> None:
    client = console.pages["operator"]
    token = csrf_of(client)
    answer = client.post("/vendors", data={"name": "새빛소프트", "business_number": "", "csrf_token": token})
    assert answer.status_code == 303
    vendor_id = int(answer.headers["location"].rsplit("/", 1)[1])
    assert client.post(f"/vendors/{vendor_id}/products", data={"name": "새빛EMR", "csrf_token": token}).status_code \
        == 303
    page = client.get(f"/vendors/{vendor_id}").text
    product_id = int(page.split('action="/products/')[1].split("/")[0])
    assert client.post(f"/products/{product_id}/versions", data={"version": "1.0", "csrf_token": token}) \
        .status_code == 303
    answer = client.post("/sites", data={**SITE, "provider_code": "31319901", "csrf_token": token})
    assert answer.status_code == 303, answer.text
    detail = client.get(answer.headers["location"])
    assert detail.status_code == 200 and "31319901" in detail.text


def test_pages_speak_korean_first_and_english_on_request(console: Console) -> None:
    client = console.pages["viewer"]
    assert "사이트" in client.get("/sites").text
    english = client.get("/sites?lang=en")
    assert "Sites" in english.text and "s24kit_console_lang=en" in english.headers["set-cookie"]
    assert "no site matches" in client.get("/sites?q=zzzz").text or "Sites" in client.get("/sites").text
    client.get("/sites?lang=ko")


# -- the list -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=DATABASES)
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A console with 3 vendors × 1 version and 260 sites spread over regions and states."""
    with console_on(request.param, tmp_path_factory.mktemp("fleet")) as made:
        yield from _fleet(made)


def _fleet(made: Console) -> Iterator[Console]:
    with made.database.engine.begin() as connection:
        versions = []
        for n in range(3):
            vendor = register.create_vendor(connection, SYSTEM, {"name": f"vendor-{n}"})
            product = register.create_product(connection, SYSTEM, {"vendor_id": vendor["id"], "name": "EMR"})
            versions.append(register.create_version(connection, SYSTEM, {"product_id": product["id"],
                                                                         "version": f"{n}.0"})["id"])
        when = now()
        rows = [{"provider_code": f"{31300000 + i:08d}", "name": f"의원 {i}", "facility_type": "31",
                 "region": ("11", "26", "41")[i % 3], "product_version_id": versions[i % 3] if i % 13 else None,
                 "mode": "pull", "pull_url": f"https://127.0.0.1:{10000 + i}",
                 "state": ("applied", "testing", "accepted")[i % 3 if i % 2 else 0],
                 "state_changed_at": when, "created_at": when, "updated_at": when} for i in range(260)]
        connection.execute(insert(sites), rows)
    made.rows = rows  # type: ignore[attr-defined]
    made.versions = versions  # type: ignore[attr-defined]
    yield made


def expected_codes(fleet: Console, **where: object) -> list[str]:
    versions_of_vendor = {fleet.versions[n]: n for n in range(3)}  # type: ignore[attr-defined]
    chosen = []
    for row in fleet.rows:  # type: ignore[attr-defined]
        if "vendor" in where and versions_of_vendor.get(row["product_version_id"]) != where["vendor"]:
            continue
        if any(row[key] != value for key, value in where.items() if key != "vendor"):
            continue
        chosen.append(row["provider_code"])
    return sorted(chosen)


def all_pages(fleet: Console, **params: object) -> list[str]:
    codes, page = [], 1
    while True:
        answer = fleet.api("viewer").get("/api/v1/sites", params={**params, "page": page, "per_page": 40})
        assert answer.status_code == 200, answer.text
        assert_documented("GET", "/api/v1/sites", answer)
        body = answer.json()
        codes += [site["provider_code"] for site in body["items"]]
        if page >= body["pages"]:
            assert body["total"] == len(codes)
            return codes
        page += 1


def test_the_list_pages_through_every_site_once(fleet: Console) -> None:
    assert all_pages(fleet) == expected_codes(fleet)


@pytest.mark.parametrize("where", [{"region": "26"}, {"state": "testing"}, {"state": "accepted", "region": "41"},
                                   {"vendor": 1}, {"product_version_id": 0}, {"vendor": 2, "state": "applied"}])
def test_the_list_filters(fleet: Console, where: dict) -> None:
    params = {("vendor_id" if key == "vendor" else key): value for key, value in where.items()}
    if "vendor" in where:
        params["vendor_id"] = fleet.api("viewer").get("/api/v1/vendors").json()["items"][where["vendor"]]["id"]
    if "product_version_id" in where:
        params["product_version_id"] = where["product_version_id"] = fleet.versions[0]  # type: ignore[attr-defined]
    assert all_pages(fleet, **params) == expected_codes(fleet, **where)


def test_the_list_searches_by_code_prefix_and_name(fleet: Console) -> None:
    assert all_pages(fleet, q="3130025") == [f"3130025{d}" for d in range(10)]
    assert all_pages(fleet, q="의원 25") == sorted(["31300025", *[f"313002{5}{d}" for d in range(10)]])


def test_the_list_page_shows_counted_pages(fleet: Console) -> None:
    page = fleet.pages["viewer"].get("/sites?state=testing&page=2&per_page=20").text
    total = len(expected_codes(fleet, state="testing"))
    assert f"{total:,}" in page and f"2 / {-(-total // 20)}" in page


def test_a_page_past_the_last_is_empty_and_keeps_its_number(fleet: Console) -> None:
    answer = fleet.api("viewer").get("/api/v1/sites", params={"page": 999999})
    assert answer.status_code == 200
    assert_documented("GET", "/api/v1/sites", answer)
    body = answer.json()
    assert body["items"] == [] and body["page"] == 999999 and body["total"] > 0 and body["pages"] < 999999
    # a client that pages until a page is empty stops, having seen every site once
    codes, page = [], 1
    while items := fleet.api("viewer").get("/api/v1/sites", params={"page": page, "per_page": 200}).json()["items"]:
        codes += [site["provider_code"] for site in items]
        page += 1
    assert codes == expected_codes(fleet)
    shown = fleet.pages["viewer"].get("/sites?page=999999")
    assert shown.status_code == 200 and "999999 /" in shown.text


def test_runs_are_paged_like_sites(console: Console, version_id: int) -> None:
    from s24kit.conformance.console.tables import runs

    with console.database.engine.begin() as connection:
        connection.execute(insert(runs), [{"kind": "certification", "product_version_id": version_id,
                                           "parameters": {}, "state": "done", "verdict": "pass",
                                           "created_at": now()} for _ in range(7)])
    api = console.api("viewer")
    first = api.get("/api/v1/runs", params={"per_page": 3})
    assert first.status_code == 200, first.text
    assert_documented("GET", "/api/v1/runs", first)
    total = first.json()["total"]
    assert total >= 7 and first.json()["pages"] == -(-total // 3) and len(first.json()["items"]) == 3
    ids, page = [], 1
    while items := api.get("/api/v1/runs", params={"page": page, "per_page": 3}).json()["items"]:
        ids += [run["id"] for run in items]
        page += 1
    assert len(ids) == total and ids == sorted(ids, reverse=True)  # every run once, newest first
    past = api.get("/api/v1/runs", params={"page": 999999})
    assert past.json()["items"] == [] and past.json()["page"] == 999999
    assert api.get("/api/v1/runs", params={"per_page": 500}).json()["per_page"] == 500
    for bad, field in (("per_page=501", "per_page"), ("per_page=0", "per_page"), ("page=0", "page"),
                       ("page=1000001", "page")):
        refused = api.get(f"/api/v1/runs?{bad}")
        assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == field
        assert_documented("GET", "/api/v1/runs", refused)
        assert console.pages["viewer"].get(f"/runs?{bad}").status_code == 400
    shown = console.pages["viewer"].get("/runs?page=2&per_page=3")
    assert shown.status_code == 200 and f"2 / {-(-total // 3)}" in shown.text
    assert shown.text.count('<a href="/runs/') == 3 and 'href="/runs?page=3&amp;per_page=3"' in shown.text


@pytest.mark.parametrize("where", ["state = 'testing'", "region = '11'", "product_version_id = 1"])
def test_each_filter_has_an_index_that_also_orders_the_page(tmp_path: Path, where: str) -> None:
    """What keeps the register page fast at 100,000 sites: no full scan, no sort of all matching rows (read
    from SQLite's plan; PostgreSQL has the same indexes, from the same migration)."""
    database = prepare(f"sqlite:///{tmp_path / 'plan.sqlite3'}")
    with database.engine.connect() as connection:
        plan = " ".join(row[-1] for row in connection.execute(text(
            f"EXPLAIN QUERY PLAN SELECT * FROM sites WHERE {where} ORDER BY provider_code LIMIT 50 OFFSET 100")))
    assert "USING INDEX ix_sites_" in plan and "TEMP B-TREE" not in plan, plan


# -- hostile input: 400 naming the field, never a 500 ------------------------------------------------------------

BAD_SITES = [
    ({"provider_code": "1234"}, "provider_code"),
    ({"provider_code": "３１３１０００１"}, "provider_code"),
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "줄\n바꿈"}, "name"),
    ({"facility_type": "99"}, "facility_type"),
    ({"region": "00"}, "region"),
    ({"mode": "push"}, "mode"),
    ({"pull_url": "http://127.0.0.1:80"}, "pull_url"),
    ({"pull_url": "https://" + "a" * 600}, "pull_url"),
    ({"server_cert_sha256": "zz"}, "server_cert_sha256"),
    ({"product_version_id": 0}, "product_version_id"),
    ({"product_version_id": 2**63}, "product_version_id"),
    ({"product_version_id": 999999}, "product_version_id"),
    ({"product_version_id": "1"}, "product_version_id"),
    ({"agent_source_ip": "999.1.1.1", "mode": "agent"}, "agent_source_ip"),
    ({"contact_phone": "call me"}, "contact_phone"),
    ({"state": "accepted"}, "state"),
    ({"unknown": 1}, "unknown"),
]


@pytest.mark.parametrize(("change", "field"), BAD_SITES, ids=[f for _, f in BAD_SITES])
def test_a_bad_site_body_is_400_naming_the_field(console: Console, change: dict, field: str) -> None:
    answer = console.api("operator").post("/api/v1/sites", json={**SITE, "provider_code": "31318801", **change})
    assert answer.status_code == 400, answer.text
    assert_documented("POST", "/api/v1/sites", answer)
    problem = answer.json()
    assert problem["errors"][0]["field"] == field and field in problem["detail"]


@pytest.mark.parametrize("missing", ["provider_code", "name", "facility_type", "region", "mode"])
def test_a_missing_field_is_named(console: Console, missing: str) -> None:
    body = {key: value for key, value in SITE.items() if key != missing}
    answer = console.api("operator").post("/api/v1/sites", json=body)
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == missing


@pytest.mark.parametrize(("body", "code"), [
    (b"[" * 100_000 + b"]" * 100_000, "invalid_json"), (b'{"name": "\\ud800"}', "invalid_json"),
    (b'{"name": "a", "name": "b"}', "invalid_json"), (b'{"name": 1' + b"0" * 5000 + b"}", "invalid_json"),
    (b"\xff\xfe", "invalid_json"), (b"[1, 2]", "invalid_input"), (b"null", "invalid_input"),
])
def test_hostile_json_is_refused(console: Console, body: bytes, code: str) -> None:
    answer = console.api("operator").post("/api/v1/vendors", content=body,
                                          headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["code"] == code, answer.text


def test_a_body_that_is_not_json_or_too_big_is_refused(console: Console) -> None:
    api = console.api("operator")
    assert api.post("/api/v1/vendors", content=b"name=x",
                    headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 415
    assert api.post("/api/v1/vendors", content=b'{"name": "' + b"a" * 2_000_000 + b'"}',
                    headers={"content-type": "application/json"}).status_code == 413


@pytest.mark.parametrize(("query", "field"), [("page=abc", "page"), ("page=0", "page"), ("per_page=100000", "per_page"),
                                              ("region=99", "region"), ("state=gone", "state"),
                                              ("vendor_id=-1", "vendor_id"), ("vendor_id=1e9", "vendor_id"),
                                              ("page=99999999999999999999999", "page"), ("zzz=1", "zzz"),
                                              ("state=applied&state=testing", "state"), ("q=" + "x" * 300, "q")])
def test_a_bad_list_query_is_400_naming_the_parameter(console: Console, query: str, field: str) -> None:
    answer = console.api("viewer").get(f"/api/v1/sites?{query}")
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == field, answer.text
    page = console.pages["viewer"].get(f"/sites?{query}")
    assert page.status_code == 400 and field in page.text


@pytest.mark.parametrize(("change", "field"), [({"provider_code": "12"}, "provider_code"),
                                               ({"name": "\x00"}, "name"), ({"region": "zz"}, "region"),
                                               ({"product_version_id": "abc"}, "product_version_id"),
                                               ({"product_version_id": "9" * 40}, "product_version_id")])
def test_a_bad_site_form_is_400_naming_the_field_and_keeps_the_input(console: Console, change: dict,
                                                                    field: str) -> None:
    client = console.pages["operator"]
    answer = client.post("/sites", data={**SITE, "provider_code": "31318802", **change,
                                         "csrf_token": csrf_of(client)})
    assert answer.status_code == 400 and field in answer.text
    assert 'value="김담당"' in answer.text


def test_a_hostile_form_body_is_a_400_not_a_500(console: Console) -> None:
    client = console.pages["operator"]
    token = csrf_of(client)
    answer = client.post("/sites", content=b"--x\r\nbroken", headers={
        "content-type": "multipart/form-data; boundary=x", "x-csrf-token": token})
    assert answer.status_code == 400
    fields = "&".join(f"f{i}=1" for i in range(2000))
    answer = client.post("/sites", content=f"csrf_token={token}&{fields}".encode(),
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400


# (a tab before the formula is a control character, which the schema refuses before this rule)
FORMULAS = ['=HYPERLINK("http://x","y")', "@홍길동", "+82 2", "-1+1", "'=1+1", " @SUM(A1)", "'@x"]


def _import_messages(column: str, value: str) -> tuple[str, str]:
    """What the sites CSV import says of ``value`` in ``column``: the rule the API and the pages share."""
    from s24kit.conformance.console.sitecsv import SitesRefused, parse_sites

    from .test_console_sitecsv import csv_text, site

    quoted = '"' + value.replace('"', '""') + '"'
    with pytest.raises(SitesRefused) as caught:
        parse_sites(csv_text(site("31316601", **{column: quoted})).encode())
    (error,) = caught.value.errors
    assert error.column == column
    return error.message_ko, error.message_en


@pytest.mark.parametrize("formula", FORMULAS, ids=range(len(FORMULAS)))
def test_a_formula_is_refused_by_the_api_and_the_form_as_the_import_refuses_it(console: Console, version_id: int,
                                                                             formula: str) -> None:
    api = console.api("operator")
    for field in ("name", "contact_name"):
        answer = api.post("/api/v1/sites", json={**SITE, "provider_code": "31316601", field: formula})
        assert answer.status_code == 400, (field, answer.text)
        assert_documented("POST", "/api/v1/sites", answer)
        (error,) = answer.json()["errors"]
        assert error["field"] == field
        assert (error["message_ko"], error["message_en"]) == _import_messages(field, formula)
    site = new_site(console, f"313155{FORMULAS.index(formula):02d}")
    answer = api.patch(f"/api/v1/sites/{site['id']}", json={"contact_name": formula})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "contact_name"
    vendor = api.post("/api/v1/vendors", json={"name": formula})
    assert vendor.status_code == 400 and vendor.json()["errors"][0]["message_en"] == _import_messages(
        "vendor", formula)[1].replace("vendor", "name", 1)  # the import names its column, the API its field
    product_id = api.get("/api/v1/products").json()["items"][0]["id"]
    assert api.post("/api/v1/products", json={"vendor_id": 1, "name": formula}).status_code == 400
    assert api.post("/api/v1/product-versions", json={"product_id": product_id, "version": formula}).status_code \
        == 400
    client = console.pages["operator"]
    page = client.post("/sites", data={**SITE, "provider_code": "31316602", "product_version_id": version_id,
                                       "name": formula, "csrf_token": csrf_of(client)})
    assert page.status_code == 400 and "스프레드시트가 수식으로 읽으므로" in page.text
    assert api.get("/api/v1/sites", params={"q": "3131660"}).json()["total"] == 0
    assert api.get(f"/api/v1/sites/{site['id']}").json()["contact_name"] == SITE["contact_name"]


@pytest.mark.parametrize(("url", "words"), [("http://127.0.0.1:1", "must be https://host:port"),
                                             ("https://127.0.0.1", "has no port"),
                                             ("https://emr.example:8443/api", "must be https://host:port"),
                                             ("https://127.0.0.1:0", "the port must be 1–65535"),
                                             ("https://127.0.0.1:99999", "must be https://host:port")])
def test_a_certification_target_is_checked_like_the_import_before_it_is_queued(console: Console, version_id: int,
                                                                              url: str, words: str) -> None:
    api = console.api("operator")
    before = api.get("/api/v1/runs").json()["total"]
    answer = api.post("/api/v1/runs", json={"kind": "certification", "product_version_id": version_id,
                                            "target_url": url})
    assert answer.status_code == 400, answer.text
    assert_documented("POST", "/api/v1/runs", answer)
    (error,) = answer.json()["errors"]
    assert error["field"] == "target_url"
    assert words in error["message_en"] or "https://host:port" in error["message_en"]
    assert error["message_ko"] != error["message_en"]
    client = console.pages["operator"]
    page = client.post("/runs", data={"kind": "certification", "product_version_id": version_id, "target_url": url,
                                      "csrf_token": csrf_of(client, "/runs")})
    assert page.status_code == 400 and "target_url" in page.text
    assert api.get("/api/v1/runs").json()["total"] == before  # nothing queued
    good = api.post("/api/v1/runs", json={"kind": "certification", "product_version_id": version_id,
                                          "target_url": "https://127.0.0.1:18443"})
    assert good.status_code == 201, good.text


@pytest.mark.parametrize(("listen", "words"), [("0.0.0.0:99999", "the port must be 1–65535"),
                                                ("0.0.0.0:0", "the port must be 1–65535"),
                                                ("::1:18443", "must be host:port"),
                                                ("[not-an-ip]:18443", "must be host:port"),
                                                ("emr_host!:18443", "must be host:port")])
def test_a_certification_listen_is_checked_before_it_is_queued(console: Console, version_id: int, listen: str,
                                                               words: str) -> None:
    api = console.api("operator")
    before = api.get("/api/v1/runs").json()["total"]
    body = {"kind": "certification", "product_version_id": version_id, "role": "provider_agent", "listen": listen}
    answer = api.post("/api/v1/runs", json=body)
    assert answer.status_code == 400, answer.text
    assert_documented("POST", "/api/v1/runs", answer)
    (error,) = answer.json()["errors"]
    assert error["field"] == "listen" and words in error["message_en"], error
    assert error["message_ko"] != error["message_en"]
    client = console.pages["operator"]
    page = client.post("/runs", data={**body, "csrf_token": csrf_of(client, "/runs")})
    assert page.status_code == 400 and "listen" in page.text
    assert api.get("/api/v1/runs").json()["total"] == before  # nothing queued
    for good in ("0.0.0.0:18443", "[::1]:18443", "agent-relay.example:18443"):
        answer = api.post("/api/v1/runs", json={**body, "listen": good})
        assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("bad", ["https://127.0.0.1:0", "A/B", "한빛/EMR", "1.0 beta"])
def test_vendor_product_and_version_names_follow_one_rule_in_the_api_the_forms_and_the_import(
        console: Console, version_id: int, bad: str) -> None:
    """A name the API refuses is refused by the import too, with the same words; '/' is refused in all three,
    since it separates s24kit's --product VENDOR/NAME/VERSION."""
    from .test_console_sitecsv import csv_text, site

    api = console.api("operator")
    vendor_id = api.get("/api/v1/vendors").json()["items"][0]["id"]
    product_id = api.get("/api/v1/products").json()["items"][0]["id"]
    said: dict[str, tuple[str, str]] = {}
    for column, path, body in (("vendor", "/api/v1/vendors", {"name": bad}),
                               ("product", "/api/v1/products", {"vendor_id": vendor_id, "name": bad}),
                               ("product_version", "/api/v1/product-versions",
                                {"product_id": product_id, "version": bad})):
        if column != "product_version" and "/" not in bad:
            continue  # a URL without '/'s or a space is a possible vendor or product name, no version label
        answer = api.post(path, json=body)
        assert answer.status_code == 400, (column, answer.text)
        (error,) = answer.json()["errors"]
        said[column] = error["message_ko"], error["message_en"]
        if "/" in bad:
            assert "--product" in error["message_en"] and "--product" in error["message_ko"], error
        assert "\\u" not in error["message_en"] and "^[" not in error["message_en"], error  # words, not a regex
        row = site("31317701", **{column: '"' + bad + '"'})
        imported = api.post("/api/v1/sites/import", content=csv_text(row).encode(),
                            headers={"content-type": "text/csv"})
        assert imported.status_code == 400, (column, imported.text)
        (problem,) = imported.json()["errors"]
        assert problem["field"] == column
        name = "version" if column == "product_version" else "name"
        assert (problem["message_ko"], problem["message_en"]) == tuple(
            m.replace(f"{name}: ", f"{column}: ", 1) for m in said[column])
    client = console.pages["operator"]
    token = csrf_of(client)
    if "/" in bad:
        assert client.post("/vendors", data={"name": bad, "csrf_token": token}).status_code == 400
        assert client.post(f"/vendors/{vendor_id}/products", data={"name": bad, "csrf_token": token}) \
            .status_code == 400
    assert client.post(f"/products/{product_id}/versions", data={"version": bad, "csrf_token": token}) \
        .status_code == 400
    names = [v["name"] for v in api.get("/api/v1/vendors").json()["items"]]
    assert bad not in names and api.get("/api/v1/sites", params={"q": "31317701"}).json()["total"] == 0


def test_nothing_was_recorded_by_a_refused_request(console: Console) -> None:
    assert console.api("viewer").get("/api/v1/sites", params={"q": "31318801"}).json()["total"] == 0
    assert console.api("viewer").get("/api/v1/sites", params={"q": "31318802"}).json()["total"] == 0


def test_an_unknown_object_is_404(console: Console) -> None:
    answer = console.api("viewer").get("/api/v1/sites/999999")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert_documented("GET", "/api/v1/sites/{site_id:id}", answer)
    assert console.pages["viewer"].get("/vendors/999999").status_code == 404




# -- product version certification states ---------------------------------------------------------------------

def test_a_product_version_is_certified_by_a_run_and_an_approver(console: Console, version_id: int) -> None:
    from s24kit.conformance.console.validation import FieldError

    engine = console.database.engine
    with engine.begin() as connection, pytest.raises(FieldError) as refused:
        register.change_version_state(connection, SYSTEM, "operator", version_id, "certified", run_id=7)
    assert refused.value.status == 403
    with engine.begin() as connection, pytest.raises(FieldError) as refused:
        register.change_version_state(connection, SYSTEM, "approver", version_id, "certified")
    assert refused.value.field == "run_id"
    with engine.begin() as connection:
        certified = register.change_version_state(connection, SYSTEM, "approver", version_id, "certified", run_id=7)
    assert certified["state"] == "certified" and certified["certified_run_id"] == 7 and certified["certified_at"]
    with engine.begin() as connection, pytest.raises(FieldError) as refused:
        register.change_version_state(connection, SYSTEM, "admin", version_id, "rejected")
    assert refused.value.status == 409 and "certified to rejected" in refused.value.message_en
    answer = console.api("viewer").get(f"/api/v1/product-versions/{version_id}")
    assert_documented("GET", "/api/v1/product-versions/{version_id:id}", answer)
    assert answer.json()["state"] == "certified"


def test_a_missing_static_file_is_the_bilingual_404_page(console: Console) -> None:
    for client in (console.anonymous(), console.pages["viewer"]):
        answer = client.get("/static/nope.css")
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
        assert "그런 정적 파일이 없습니다" in answer.text and "no such static file" in answer.text
        assert answer.text != "Not Found"
    found = console.anonymous().get("/static/console.css")
    assert found.status_code == 200 and found.headers["content-type"].startswith("text/css")


def test_the_needs_a_person_list_holds_accepted_sites_only(console: Console) -> None:
    from sqlalchemy import update

    from s24kit.conformance.console.monitoring import needs_a_person
    from s24kit.conformance.console.tables import runs

    site = new_site(console, "31314401")
    with console.database.engine.begin() as connection:
        connection.execute(insert(runs).values(
            kind="site_check", site_id=site["id"], parameters={}, state="done", verdict="fail", created_at=now(),
            finished_at=now(), summary={"verdicts": {"S24-NET-002": "fail"}}))
    listed = console.api("viewer").get("/api/v1/monitoring").json()["needs_a_person"]
    assert "31314401" not in [entry["provider_code"] for entry in listed]  # applied: on its way, not in service
    with console.database.engine.begin() as connection:
        connection.execute(update(sites).where(sites.c.id == site["id"]).values(state="accepted"))
        assert [e["reasons"] for e in needs_a_person(connection) if e["provider_code"] == "31314401"] == [
            ["unreachable"]]


def test_the_batch_board_lists_jobs_that_failed_to_run_with_the_failures(console: Console) -> None:
    from s24kit.conformance.console.batches import batch_runs
    from s24kit.conformance.console.tables import batches, runs

    made = {code: new_site(console, code)["id"] for code in ("31314501", "31314502", "31314503", "31314504")}
    with console.database.engine.begin() as connection:
        batch_id = connection.execute(insert(batches).values(
            label="order", selection={}, concurrency=1, state="done", total=4, created_at=now())
        ).inserted_primary_key[0]
        for code, state, verdict in (("31314501", "done", "pass"), ("31314502", "failed", None),
                                     ("31314503", "done", "fail"), ("31314504", "done", "pass")):
            connection.execute(insert(runs).values(kind="site_check", site_id=made[code], batch_id=batch_id,
                                                   parameters={}, state=state, verdict=verdict, created_at=now()))
        listed = [(r["provider_code"], r["state"], r["verdict"]) for r in batch_runs(connection, batch_id)]
    assert listed == [("31314502", "failed", None), ("31314503", "done", "fail"),
                      ("31314501", "done", "pass"), ("31314504", "done", "pass")]


def test_pages_show_times_in_kst_with_the_zone(console: Console) -> None:
    import datetime as dt
    import re

    from s24kit.conformance.console.labels import kst

    assert kst(dt.datetime(2026, 3, 2, 0, 30, tzinfo=dt.UTC)) == "2026-03-02 09:30:00 KST (UTC+09:00)"
    assert kst(dt.datetime(2026, 3, 2, 0, 30)) == "2026-03-02 09:30:00 KST (UTC+09:00)"  # SQLite: written in UTC
    assert kst("2026-03-02T00:30:00+00:00") == "2026-03-02 09:30:00 KST (UTC+09:00)" and kst(None) == "—"
    from s24kit.conformance.console.tables import runs

    site = new_site(console, "31314601")
    with console.database.engine.begin() as connection:
        connection.execute(insert(runs).values(kind="site_check", site_id=site["id"], parameters={}, state="queued",
                                               created_at=now()))
    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")  # a bare ISO time: no zone a reader can see at once
    for client, path in ((console.pages["viewer"], f"/sites/{site['id']}"), (console.pages["viewer"], "/runs"),
                         (console.pages["admin"], "/accounts"), (console.pages["admin"], "/audit")):
        page = client.get(path)
        assert page.status_code == 200 and "KST (UTC+09:00)" in page.text, path
        if path != "/audit":  # (the audit page also shows each entry's recorded before/after, as stored)
            assert not iso.search(page.text), (path, iso.search(page.text))


def test_live_progress_stops_writing_once_the_page_is_gone(console: Console) -> None:
    """A server that does not cancel the stream itself on a disconnect (ASGI spec 2.4, where Starlette leaves it
    to the stream) and drops what is sent after it, as uvicorn does: the stream must stop, not keep writing."""
    import asyncio

    from s24kit.conformance.console.tables import run_progress, runs

    with console.database.engine.begin() as connection:
        run_id = connection.execute(insert(runs).values(kind="site_check", parameters={}, state="running",
                                                        progress_total=20, created_at=now())).inserted_primary_key[0]
        connection.execute(insert(run_progress), [{"run_id": run_id, "seq": i, "requirement": f"S24-API-{i:03d}",
                                                   "verdict": "pass", "at": now()} for i in range(1, 21)])
    cookie = "; ".join(f"{name}={value}" for name, value in console.pages["viewer"].cookies.items())
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": f"/runs/{run_id}/events",
             "raw_path": f"/runs/{run_id}/events".encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"console"), (b"cookie", cookie.encode())],
             "client": ("127.0.0.1", 50000), "server": ("console", 80)}
    written: list[bytes] = []
    after_gone: list[bytes] = []  # what the stream still tried to write to a connection that was gone

    async def call() -> None:
        gone = asyncio.Event()

        async def receive() -> dict:
            if not written:
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if gone.is_set():
                after_gone.append(message.get("body", b""))
                return  # uvicorn drops what is sent to a connection that is gone
            written.append(message.get("body", b""))
            if b"event: progress" in message.get("body", b""):
                gone.set()  # the page went away right after its first event

        await asyncio.wait_for(console.app(scope, receive, send), 30)
    asyncio.run(call())
    assert b"".join(written).decode().count("event: progress") == 1
    assert b"event:" not in b"".join(after_gone), b"".join(after_gone)[:200]


def test_pages_escape_what_users_typed(console: Console) -> None:
    site = new_site(console, "31317701", name="<script>alert(1)</script>의원")
    page = console.pages["viewer"].get(f"/sites/{site['id']}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;의원" in page


def test_every_answer_carries_the_security_headers(console: Console) -> None:
    for answer in (console.pages["viewer"].get("/sites"), console.anonymous().get("/login"),
                   console.api("viewer").get("/api/v1/sites"), console.anonymous().get("/static/console.css")):
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["x-content-type-options"] == "nosniff"
    assert console.pages["viewer"].get("/sites").headers["cache-control"] == "no-store"
    assert "no-store" not in console.anonymous().get("/static/console.css").headers.get("cache-control", "")


def test_no_template_has_inline_script_or_style() -> None:
    """The Content-Security-Policy allows scripts and styles from files only."""
    import re as regex

    from .conftest import ROOT

    for template in (ROOT / "conformance" / "console" / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not regex.search(r"<script(?![^>]*\bsrc=)|<style|\bstyle=|\bon[a-z]+=", text), template.name


def test_a_pattern_refusal_says_in_words_what_is_wrong(console: Console) -> None:
    """`?q=%00` once answered "has the wrong form (^[^\\u0000-\\u001f\\u007f]*$)": a regex is no explanation."""
    answer = console.api("viewer").get("/api/v1/sites?q=%00")
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert error["message_ko"] == "q: 제어 문자는 쓸 수 없습니다"
    assert error["message_en"] == "q: control characters are not allowed"
    page = console.pages["viewer"].get("/sites?q=%00")
    assert page.status_code == 400 and "제어 문자는 쓸 수 없습니다" in page.text and "\\u0000" not in page.text


def test_every_pattern_of_the_openapi_description_is_said_in_words() -> None:
    from s24kit.conformance.console.validation import openapi

    def patterns(node: object, where: str) -> Iterator[tuple[str, dict]]:
        if isinstance(node, dict):
            if "pattern" in node:
                yield where, node
            for key, value in node.items():
                yield from patterns(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from patterns(value, f"{where}/{index}")

    found = list(patterns(openapi(), ""))
    assert found
    for where, schema in found:
        assert schema.get("x-pattern-ko") and schema.get("x-pattern-en"), where
        assert schema["x-pattern-ko"] != schema["x-pattern-en"], where


def test_the_audit_page_heads_its_kst_times_as_kst_and_shows_korean_as_text(console: Console) -> None:
    site = new_site(console, "31314701")
    api = console.api("operator")
    assert api.patch(f"/api/v1/sites/{site['id']}", json={"name": "한결의원 분원"}).status_code == 200
    page = console.pages["admin"].get("/audit")
    assert page.status_code == 200
    assert "시각 (KST)" in page.text and "Time (UTC)" not in page.text and "시각 (UTC)" not in page.text
    assert "한결의원 분원" in page.text and "\\ud55c" not in page.text.lower()
    english = console.pages["admin"].get("/audit", params={"lang": "en"})
    assert "Time (UTC)" not in english.text


def test_audit_times_are_written_in_one_form_before_and_after(console: Console) -> None:
    import datetime as dt

    site = new_site(console, "31314702")
    with console.database.engine.begin() as connection:  # made a while ago, so the edit moves updated_at
        connection.execute(sites.update().where(sites.c.id == site["id"]).values(
            updated_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)))
    api = console.api("operator")
    assert api.patch(f"/api/v1/sites/{site['id']}", json={"name": "두번째 이름"}).status_code == 200
    entries = console.api("admin").get("/api/v1/audit", params={"object_kind": "site",
                                                                 "object_id": str(site["id"])}).json()["items"]
    (update,) = [e for e in entries if e["action"] == "site.update"]
    before, after = update["summary"]["before"], update["summary"]["after"]
    assert set(before) == set(after) == {"name", "updated_at"}, update
    for value in (before["updated_at"], after["updated_at"]):
        assert value.endswith("+00:00") and "T" in value, value  # UTC ISO 8601 with its zone, on each side


def test_a_patch_that_changes_nothing_writes_no_audit_entry_and_keeps_updated_at(console: Console) -> None:
    site = new_site(console, "31314703")
    api = console.api("operator")
    with console.database.engine.connect() as connection:
        updated = connection.execute(select(sites.c.updated_at).where(sites.c.id == site["id"])).scalar_one()
    answer = api.patch(f"/api/v1/sites/{site['id']}", json={"name": site["name"], "region": site["region"]})
    assert answer.status_code == 200, answer.text
    entries = console.api("admin").get("/api/v1/audit", params={"object_kind": "site",
                                                                 "object_id": str(site["id"])}).json()["items"]
    assert [e["action"] for e in entries] == ["site.create"], entries
    with console.database.engine.connect() as connection:
        assert connection.execute(select(sites.c.updated_at).where(sites.c.id == site["id"])).scalar_one() \
            == updated

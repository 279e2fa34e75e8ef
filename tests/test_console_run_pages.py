"""The runs in the console's pages and API: live progress over server-sent events, batches from the page,
reports served, bad input named, every change audited (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select

from s24kit.conformance.console.audit import list_entries
from s24kit.conformance.console.tables import runs
from s24kit.conformance.console.worker import Worker
from s24kit.conformance.sitecheck import SITE_PROFILE
from s24kit.simulator.fleet import DEFECTS, FleetOptions, build_fleet

from .console_fleet import register_fleet, run_settings
from .console_kit import assert_documented, csrf_of, make_console


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    state = tmp_path_factory.mktemp("fleet-state")
    built = build_fleet(FleetOptions(len(DEFECTS) + 1, state, seed=7,
                                     defect_share=len(DEFECTS) / (len(DEFECTS) + 1)))
    with built.serving():
        yield built


@pytest.fixture
def console(console_database, tmp_path, fleet):
    made = make_console(tmp_path / "console", console_database)
    made.ids = register_fleet(made.database, fleet)
    yield made
    made.database.engine.dispose()


def events_of(response) -> list[tuple[str, dict]]:
    found, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name:
            found.append((name, json.loads(line.removeprefix("data: "))))
            if name == "done":
                break
    return found


def test_a_site_check_streams_its_progress_to_the_page(console, fleet, tmp_path):
    site = next(s for s in fleet.sites if s.defect is None)
    started = console.api("operator").post("/api/v1/runs", json={"kind": "site_check",
                                                                 "site_id": console.ids[site.provider_code]})
    assert started.status_code == 201, started.text
    assert_documented("POST", "/api/v1/runs", started)
    run_id = started.json()["id"]
    worker = threading.Thread(target=Worker(console.database, run_settings(fleet, tmp_path), threads=1,
                                            monitor=False).run_until_idle)
    worker.start()
    with console.pages["viewer"].stream("GET", f"/runs/{run_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = events_of(response)
    worker.join(120)
    progress = [data for name, data in events if name == "progress"]
    assert [p["requirement"] for p in progress] == list(SITE_PROFILE)
    assert events[-1] == ("done", {"state": "done", "verdict": "pass"})
    page = console.pages["viewer"].get(f"/runs/{run_id}")
    assert page.status_code == 200 and "S24-API-017" in page.text and "evidence.zip" in page.text
    report = console.pages["viewer"].get(f"/runs/{run_id}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    got = console.api("viewer").get(f"/api/v1/runs/{run_id}")
    assert_documented("GET", "/api/v1/runs/{run_id:id}", got)
    assert got.json()["verdict"] == "pass" and len(got.json()["evidence_sha256"]) == 64
    compared = console.api("viewer").get(f"/api/v1/runs/{run_id}/comparison")
    assert_documented("GET", "/api/v1/runs/{run_id:id}/comparison", compared)
    assert compared.json()["previous"] is None


def test_a_batch_from_the_page_runs_to_its_board_and_is_audited(console, fleet, tmp_path):
    client = console.pages["operator"]
    answer = client.post("/batches", data={"csrf_token": csrf_of(client, "/batches"), "label": "전체",
                                           "concurrency": "3"})
    assert answer.status_code == 303, answer.text
    batch_id = int(answer.headers["location"].rsplit("/", 1)[1])
    Worker(console.database, run_settings(fleet, tmp_path), threads=3, monitor=False).run_until_idle()
    board = console.api("viewer").get(f"/api/v1/batches/{batch_id}")
    assert_documented("GET", "/api/v1/batches/{batch_id:id}", board)
    assert board.json()["state"] == "done" and board.json()["verdicts"] == {"pass": 1, "fail": len(DEFECTS)}
    with console.pages["viewer"].stream("GET", f"/batches/{batch_id}/events") as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert json.loads(lines[-1].removeprefix("data: "))["state"] == "done"
    assert "S24-NET-002" in console.pages["viewer"].get(f"/batches/{batch_id}").text
    stopped = console.api("operator").post(f"/api/v1/batches/{batch_id}/stop")
    assert stopped.status_code == 409
    assert_documented("POST", "/api/v1/batches/{batch_id:id}/stop", stopped)
    with console.database.engine.connect() as connection:
        actions = [e["action"] for e in list_entries(connection, per_page=200)["items"]]
    assert "create_batch" in actions


def test_a_batch_by_list_stops_and_resumes(console, fleet, tmp_path):
    codes = [s.provider_code for s in fleet.sites[:3]]
    made = console.api("operator").post("/api/v1/batches", json={"provider_codes": codes, "concurrency": 1})
    assert made.status_code == 201 and made.json()["total"] == 3
    batch_id = made.json()["id"]
    assert console.api("operator").post(f"/api/v1/batches/{batch_id}/stop").json()["state"] == "stopped"
    worker = Worker(console.database, run_settings(fleet, tmp_path), threads=2, monitor=False)
    assert worker.run_until_idle() == 0
    resumed = console.api("operator").post(f"/api/v1/batches/{batch_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["state"] == "running"
    assert worker.run_until_idle() == 3
    with console.database.engine.connect() as connection:
        assert len(connection.execute(select(runs.c.id).where(runs.c.batch_id == batch_id)).all()) == 3


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/runs", {"kind": "site_check"}, "site_id"),
    ("/api/v1/runs", {"kind": "audit"}, "kind"),
    ("/api/v1/runs", {"kind": "certification", "product_version_id": 1}, "target_url"),
    ("/api/v1/batches", {"concurrency": 0}, "concurrency"),
    ("/api/v1/batches", {"concurrency": 2, "provider_codes": ["12345678"]}, "provider_codes"),
    ("/api/v1/monitoring", {"enabled": True, "interval_hours": 0, "concurrency": 2}, "interval_hours"),
])
def test_bad_input_names_the_field(console, path, body, field):
    answer = console.api("operator").post(path, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["field"] == field
    assert_documented("POST", path, answer)


def test_monitoring_page_and_api(console):
    page = console.pages["viewer"].get("/monitoring")
    assert page.status_code == 200
    changed = console.api("operator").post("/api/v1/monitoring", json={"enabled": False, "interval_hours": 12,
                                                                       "concurrency": 4})
    assert changed.status_code == 200 and changed.json()["schedule"]["interval_hours"] == 12
    assert_documented("POST", "/api/v1/monitoring", changed)

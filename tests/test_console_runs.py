"""The console's runs on a simulated fleet, against SQLite and PostgreSQL: batches of site checks, the queue
surviving a killed worker, two workers sharing the jobs (SKIP LOCKED), comparison and monitoring."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import func, select, text, update

from s24kit.conformance.console import batches as batch_ops
from s24kit.conformance.console import register
from s24kit.conformance.console.audit import SYSTEM
from s24kit.conformance.console.compare import compare
from s24kit.conformance.console.db import prepare
from s24kit.conformance.console.jobs import claim, enqueue, requeue_stale, resume_batch, stop_batch
from s24kit.conformance.console.monitoring import due_batch, needs_a_person
from s24kit.conformance.console.register import SiteFilter
from s24kit.conformance.console.tables import batches, jobs, product_versions, run_progress, runs, sites
from s24kit.conformance.console.worker import Worker
from s24kit.conformance.sitecheck import SITE_PROFILE
from s24kit.simulator.fleet import DEFECTS, EXPECTED_FAILURE, FleetOptions, build_fleet

from ._databases import postgres_unreachable_reason
from ._require import require
from .console_fleet import register_fleet, run_settings

SITES = 24


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    state = tmp_path_factory.mktemp("fleet-state")
    built = build_fleet(FleetOptions(SITES, state, seed=5, defect_share=len(DEFECTS) / SITES))
    with built.serving():
        yield built


@pytest.fixture
def database(console_database, tmp_path):
    return prepare(console_database, state_dir=tmp_path / "console-state")


def new_batch(database, concurrency=4, **selection):
    with database.engine.begin() as connection:
        return batch_ops.create_batch(connection, batch_ops.Selection(SiteFilter(**selection)), label="test",
                                      concurrency=concurrency)


def batch_rows(database, batch_id):
    with database.engine.connect() as connection:
        return connection.execute(select(jobs.c.state, jobs.c.attempts, runs.c.state.label("run_state"),
                                         runs.c.verdict, runs.c.summary, runs.c.id, sites.c.provider_code)
                                  .join(runs, runs.c.id == jobs.c.run_id).join(sites, sites.c.id == runs.c.site_id)
                                  .where(jobs.c.batch_id == batch_id)).all()


def test_a_batch_checks_every_site_and_finds_each_defect(fleet, database, tmp_path):
    register_fleet(database, fleet)
    batch_id = new_batch(database)
    assert Worker(database, run_settings(fleet, tmp_path), threads=3, monitor=False).run_until_idle() == SITES
    defect_of = {s.provider_code: s.defect for s in fleet.sites}
    rows = batch_rows(database, batch_id)
    assert len(rows) == SITES and {r.state for r in rows} == {"done"}
    for row in rows:
        defect = defect_of[row.provider_code]
        failed = {rid for rid, verdict in row.summary["verdicts"].items() if verdict == "fail"}
        assert row.verdict == ("pass" if defect is None else "fail"), (row.provider_code, defect, failed)
        if defect:
            assert EXPECTED_FAILURE[defect] in failed
    with database.engine.connect() as connection:
        assert connection.execute(select(batches.c.state).where(batches.c.id == batch_id)).scalar_one() == "done"
        progress = connection.execute(select(func.count()).select_from(run_progress)).scalar_one()
        board = batch_ops.board(connection, batch_id)
    assert progress == SITES * len(SITE_PROFILE)
    assert board["jobs"]["done"] == SITES and board["verdicts"]["fail"] == len(DEFECTS)


def test_a_stopped_batch_starts_nothing_until_resumed(fleet, database, tmp_path):
    register_fleet(database, fleet)
    batch_id = new_batch(database)
    with database.engine.begin() as connection:
        assert stop_batch(connection, batch_id) == "stopped"  # nothing was running
    worker = Worker(database, run_settings(fleet, tmp_path), threads=2, monitor=False)
    assert worker.run_until_idle() == 0
    with database.engine.begin() as connection:
        assert resume_batch(connection, batch_id)
    assert worker.run_until_idle() == SITES


def test_a_killed_worker_leaves_no_job_undone_or_done_twice(fleet, console_database, tmp_path):
    """A worker process killed mid-batch; another worker takes back the abandoned job and finishes the rest."""
    database = prepare(console_database, state_dir=tmp_path / "console-state")
    register_fleet(database, fleet)
    batch_id = new_batch(database, concurrency=1)
    command = [sys.executable, "-m", "s24kit.conformance.cli", "console", "--state", str(fleet.options.state_dir),
               "--database", console_database, "worker", "--threads", "1", "--scenario", str(fleet.scenario),
               "--reports", str(tmp_path / "runs")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = sum(r.state == "done" for r in batch_rows(database, batch_id))
            if done >= 3 or process.poll() is not None:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stdout.read().decode()
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    before = batch_rows(database, batch_id)
    assert 3 <= sum(r.state == "done" for r in before) < SITES
    Worker(database, run_settings(fleet, tmp_path), threads=2, monitor=False,
           stale_after=dt.timedelta(0)).run_until_idle()
    after = batch_rows(database, batch_id)
    assert {r.state for r in after} == {"done"} and {r.run_state for r in after} == {"done"}
    assert len({r.provider_code for r in after}) == SITES
    done_before = {r.id for r in before if r.state == "done"}
    assert all(r.attempts == 1 for r in after if r.id in done_before)  # finished jobs were never run again
    with database.engine.connect() as connection:
        per_run = connection.execute(select(run_progress.c.run_id, func.count()).group_by(run_progress.c.run_id)).all()
    assert len(per_run) == SITES and {count for _, count in per_run} == {len(SITE_PROFILE)}


def test_skip_locked_hands_a_second_worker_another_job(fleet, tmp_path):
    """PostgreSQL: while one worker holds a job's row lock, another claims the next one without waiting."""
    require(postgres_unreachable_reason() is None, postgres_unreachable_reason() or "")
    from ._databases import fresh_postgres_database

    with fresh_postgres_database() as url:
        database = prepare(url, state_dir=tmp_path / "console-state")
        register_fleet(database, fleet)
        with database.engine.begin() as connection:
            first, second = (enqueue(connection, kind="site_check", parameters={}, site_id=i) for i in (1, 2))
        with database.engine.connect() as holder:
            holder.begin()
            held = holder.execute(text("SELECT id FROM jobs WHERE run_id = :run FOR UPDATE"), {"run": first})
            assert held.scalar_one()
            claimed = claim(database, "worker-b")  # would block here without SKIP LOCKED
            assert claimed is not None and claimed.run_id == second
            holder.rollback()
        assert claim(database, "worker-a").run_id == first
        database.engine.dispose()


def test_two_workers_share_a_batch_through_the_database(fleet, database, tmp_path):
    register_fleet(database, fleet)
    batch_id = new_batch(database, concurrency=4)
    settings = run_settings(fleet, tmp_path)
    counts = {}
    threads = [threading.Thread(target=lambda n=n: counts.__setitem__(n, Worker(
        database, settings, threads=2, name=n, monitor=False).run_until_idle())) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert sum(counts.values()) == SITES
    rows = batch_rows(database, batch_id)
    assert {r.state for r in rows} == {"done"} and all(r.attempts == 1 for r in rows)


def test_a_run_is_compared_with_the_sites_previous_run(fleet, database, tmp_path):
    ids = register_fleet(database, fleet)
    site = next(s for s in fleet.sites if s.defect is None)
    worker = Worker(database, run_settings(fleet, tmp_path), threads=1, monitor=False)
    with database.engine.begin() as connection:
        first = enqueue(connection, kind="site_check", parameters={}, site_id=ids[site.provider_code])
    worker.run_until_idle()
    with database.engine.begin() as connection:  # registered now with a version the site does not run
        product_id = connection.execute(select(product_versions.c.product_id).where(
            product_versions.c.version == site.product_version)).scalar_one()
        other = register.create_version(connection, SYSTEM, {"product_id": product_id, "version": "9.9.9"})["id"]
        connection.execute(update(sites).where(sites.c.id == ids[site.provider_code]).values(product_version_id=other))
        second = enqueue(connection, kind="site_check", parameters={}, site_id=ids[site.provider_code])
    worker.run_until_idle()
    with database.engine.connect() as connection:
        assert compare(connection, first)["previous"] is None
        changed = compare(connection, second)
    assert changed["previous"] == first
    assert changed["verdict"] == {"before": "pass", "after": "fail"}
    assert changed["verdicts"] == [{"requirement": "S24-API-017", "before": "pass", "after": "fail"}]


def test_monitoring_rechecks_accepted_sites_and_lists_what_needs_a_person(fleet, database, tmp_path):
    register_fleet(database, fleet, state="accepted")
    batch_id = due_batch(database)
    assert batch_id is not None and due_batch(database) is None  # not due again for a day
    Worker(database, run_settings(fleet, tmp_path), threads=3, monitor=False).run_until_idle()
    with database.engine.connect() as connection:
        listed = {entry["provider_code"]: entry["reasons"] for entry in needs_a_person(connection)}
    defect_of = {s.provider_code: s.defect for s in fleet.sites}
    assert listed[_code(defect_of, "expiring_certificate")] == ["certificate_expiring"]
    assert "unreachable" in listed[_code(defect_of, "closed_port")]
    assert listed[_code(defect_of, "uncertified_version")] == ["uncertified_version"]
    assert all(defect_of[code] is not None for code in listed)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
    assert due_batch(database, later) not in (None, batch_id)


def _code(defect_of, defect):
    return next(code for code, d in defect_of.items() if d == defect)


def test_a_stale_job_goes_back_to_the_queue(fleet, database, tmp_path):
    ids = register_fleet(database, fleet)
    with database.engine.begin() as connection:
        enqueue(connection, kind="site_check", parameters={}, site_id=next(iter(ids.values())))
    assert claim(database, "gone") is not None
    assert requeue_stale(database) == 0  # its heartbeat is fresh
    assert requeue_stale(database, dt.timedelta(0)) == 1
    assert claim(database, "next").attempt == 2


def test_a_product_certification_runs_the_full_suite_and_keeps_its_evidence(fleet, database, tmp_path):
    """The product version certified against a site running it (a reference installation): the full suite."""
    ids = register_fleet(database, fleet)
    good = next(s for s in fleet.sites if s.defect is None)
    faulty = site_of_defect(fleet, "faulty_provider")
    with database.engine.begin() as connection:
        version_of = {code: connection.execute(select(sites.c.product_version_id).where(sites.c.id == site_id))
                      .scalar_one() for code, site_id in ids.items()}
        started = [enqueue(connection, kind="certification", product_version_id=version_of[s.provider_code],
                           parameters={"target_url": s.url, "provider_code": s.provider_code}) for s in (good, faulty)]
    Worker(database, run_settings(fleet, tmp_path), threads=2, monitor=False).run_until_idle()
    with database.engine.connect() as connection:
        done = {row.id: row for row in connection.execute(select(runs).where(runs.c.id.in_(started)))}
    passed, failed = done[started[0]], done[started[1]]
    assert passed.state == "done" and passed.verdict == "pass", passed.error
    assert passed.summary["verdicts"]["S24-API-017"] == "pass" and len(passed.summary["verdicts"]) > len(SITE_PROFILE)
    assert (tmp_path / "runs" / f"run-{passed.id}" / "evidence.zip").is_file() and len(passed.evidence_sha256) == 64
    assert failed.verdict == "fail" and failed.summary["verdicts"]["S24-API-003"] == "fail"


def site_of_defect(fleet, defect):
    return next(s for s in fleet.sites if s.defect == defect)


def test_a_suspended_version_is_not_certified_for_its_sites_checks(fleet, console_database, tmp_path):
    """docs/console.md §9/§2: only a certified version counts as certified; the site check of a site whose
    version was suspended fails S24-API-017 (so the site cannot be accepted on it)."""
    from s24kit.conformance.console.executor import site_target
    from s24kit.conformance.sitecheck import run_site_check

    database = prepare(console_database)
    ids = register_fleet(database, fleet)
    correct = next(s for s in fleet.sites if s.defect is None and s.product_triple in fleet.certified)
    settings = run_settings(fleet, tmp_path)
    assert correct.product_triple in site_target(database, ids[correct.provider_code], settings).certified
    with database.engine.begin() as connection:
        version_id = connection.execute(select(sites.c.product_version_id)
                                        .where(sites.c.id == ids[correct.provider_code])).scalar_one()
        register.change_version_state(connection, SYSTEM, None, version_id, "suspended")
    target = site_target(database, ids[correct.provider_code], settings)
    assert correct.product_triple not in target.certified
    assert run_site_check(target, tmp_path / "check").failed == ["S24-API-017"]
    database.engine.dispose()


def test_a_site_the_scenario_does_not_hold_fails_to_run_saying_how_to_check_it(fleet, database, tmp_path):
    """A registered site whose code the worker's scenario does not hold: the run cannot ask it anything, so it
    ends failed (no verdict) with a message in the console's words, not the command line's --provider."""
    ids = register_fleet(database, fleet)
    site = next(s for s in fleet.sites if s.defect is None)
    stranger = "99999999" if site.provider_code != "99999999" else "99999998"
    with database.engine.begin() as connection:
        connection.execute(update(sites).where(sites.c.id == ids[site.provider_code]).values(provider_code=stranger))
        run_id = enqueue(connection, kind="site_check", parameters={}, site_id=ids[site.provider_code])
    Worker(database, run_settings(fleet, tmp_path), threads=1, monitor=False).run_until_idle()
    with database.engine.connect() as connection:
        run = connection.execute(select(runs).where(runs.c.id == run_id)).one()
    assert run.state == "failed" and run.verdict is None
    assert f"site {stranger}: the site-check scenario" in run.error and "--scenario" in run.error
    assert "--provider" not in run.error and str(fleet.scenario) not in run.error  # no server path


def test_a_site_changed_after_its_check_cannot_be_accepted_on_that_check(fleet, database, tmp_path):
    """docs/console.md §9: an acceptance rests on what the run checked. Back in testing, an operator may change the
    address; passed again without a new check, the old run no longer describes the site (409 naming the field)."""
    from s24kit.conformance.console import decisions
    from s24kit.conformance.console.validation import FieldError

    ids = register_fleet(database, fleet)
    site = next(s for s in fleet.sites if s.defect is None and s.product_triple in fleet.certified)
    site_id = ids[site.provider_code]
    with database.engine.begin() as connection:
        register.change_site_state(connection, SYSTEM, None, site_id, {"state": "testing"})
        run_id = enqueue(connection, kind="site_check", parameters={}, site_id=site_id)
    Worker(database, run_settings(fleet, tmp_path), threads=1, monitor=False).run_until_idle()
    with database.engine.begin() as connection:
        assert decisions.run_facts(connection, run_id).verdict == "pass"
        register.update_site(connection, SYSTEM, site_id, {"pull_url": "https://127.0.0.1:1"})
        register.change_site_state(connection, SYSTEM, None, site_id, {"state": "passed"})
    with database.engine.begin() as connection, pytest.raises(FieldError) as refused:
        decisions.decide(connection, SYSTEM, "approver", tmp_path, subject_kind="site", subject_id=site_id,
                         decision="accepted", reason="점검 통과", run=decisions.run_facts(connection, run_id))
    assert refused.value.status == 409 and f"the site changed after run {run_id} (pull_url)" in refused.value.message_en

"""Each party in its own process (``s24kit serve --processes``): claims still pay the scenario's amounts,
acknowledged claims are in the relay's state file, and every child goes when the stack stops."""

from __future__ import annotations

import os
import pickle
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from s24kit.simulator.faults import FaultPlan, FaultSwitch
from s24kit.simulator.insurer.config import InsurerConfig
from s24kit.simulator.journal import Journal
from s24kit.simulator.processes import ServerSpec, serving_in_processes
from s24kit.simulator.relay.states import FINAL
from s24kit.simulator.serving import ServeError, bind
from s24kit.simulator.stack import Stack, StackOptions

from .conftest import generated_scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", "6", "--seed", "1")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_parties_in_their_own_processes_pay_the_expected_amounts(scenario, tmp_path):
    first = Stack(StackOptions(scenario, tmp_path / "probe", tenants=1))
    insurers = sorted({c for r in first.claims() for c in r["claim"]["insurers"]})[:1]
    stack = Stack(StackOptions(scenario, tmp_path / "state", tenants=3,
                               insurers=[InsurerConfig(code) for code in insurers]))
    records = [r for r in stack.claims() if insurers[0] in r["claim"]["insurers"]][:3]
    assert records
    with stack.network(processes=True) as running:
        pids = running.processes.pids()
        assert set(pids) == {"relay", "register", f"insurer:{insurers[0]}", "vendor"}
        assert os.getpid() not in pids.values() and len(set(pids.values())) == 4
        with httpx.Client(verify=running.pki.client_context("patient-app"), base_url=running.urls["relay"],
                          timeout=30) as client:
            for i, record in enumerate(records):
                claim = running.fresh_claim(record, f"processes-{i:04d}")
                accepted = client.post("/relay/v1/claims", json=claim)
                assert accepted.status_code == 202, accepted.text
                claim_id = accepted.json()["claim_id"]
                # acknowledged means recorded in the relay's state file, which this process did not write
                with sqlite3.connect(tmp_path / "state" / "relay.sqlite") as db:
                    assert db.execute("SELECT 1 FROM claims WHERE claim_id = ?", (claim_id,)).fetchone()
                status, deadline = accepted.json(), time.monotonic() + 60
                while status["state"] not in FINAL and time.monotonic() < deadline:
                    status = client.get(f"/relay/v1/claims/{claim_id}", params={"wait": 10}).json()
                (insurer,) = status["insurers"]
                expected = record["expected"][insurer["insurer_code"]]["total"]
                assert insurer["state"] == ("paid" if expected > 0 else "denied"), status
                assert insurer.get("payout_total", 0) == (expected if expected > 0 else 0)
        assert running.journal.search(party="relay→provider:*", limit=5), "the relay's process journals its calls"
        with pytest.raises(RuntimeError, match="own process"):
            running.restart_relay()
    # read once the processes stopped (each commits its journal's queue then): the register's process once wrote
    # the relay's journal file too, and its 500s came back as insurers' 503s
    journal = Journal(tmp_path / "state" / "journal.sqlite")
    failed = [(e["party"], e["status"]) for e in journal.search(limit=1000) if (e["status"] or 0) >= 500]
    assert not failed, failed
    assert Journal(tmp_path / "state" / "journal-register.sqlite").search(route="/register/v1/lookups", limit=5)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids.values()), "every child stops with the stack"


def test_a_server_that_cannot_start_is_named_and_the_others_are_stopped(tmp_path):
    good, bad = bind("127.0.0.1", 0), bind("127.0.0.1", 0)
    specs = [ServerSpec("echo", "s24kit.simulator.processes:echo_server", (str(tmp_path / "pki"),), good),
             ServerSpec("broken", "s24kit.simulator.processes:no_such_server", (), bad)]
    with pytest.raises(ServeError) as refused, serving_in_processes(specs):
        pass
    assert "broken" in refused.value.message_en and "no_such_server" in refused.value.message_en


def test_a_fault_plan_reaches_each_process_with_the_options(tmp_path):
    """``serve --processes`` hands each child the stack's options, fault plan included (a plan holds a lock,
    which cannot be pickled: every ``serve --processes`` once failed with a TypeError before any child ran)."""
    plan = FaultPlan.from_dict({"seed": 3, "fault": [{"kind": "error_status", "party": "provider:*", "times": 1}]})
    options = StackOptions(tmp_path / "scenario", tmp_path / "state", faults=FaultSwitch(plan))
    copy = pickle.loads(pickle.dumps(options))
    assert copy.faults.plan.as_dict() == plan.as_dict()
    # and usable (its lock is a new one): the rule fires once, then no more
    assert copy.faults.plan.pick("provider:99350012", "POST", "/s24/v1/documents:fetch") is not None
    assert copy.faults.plan.pick("provider:99350012", "POST", "/s24/v1/documents:fetch") is None

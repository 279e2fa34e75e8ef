"""Every faulty provider is caught by the suite (its expected requirements fail); the reference passes all.

Each provider is served over mutual TLS on loopback and judged by the whole suite, exactly as
``s24kit check`` would judge a vendor's connector.
"""

from __future__ import annotations

import pytest

from s24kit.conformance.catalogue import requirement, requirements
from s24kit.conformance.runner import run_suite
from s24kit.conformance.session import Target
from s24kit.simulator.provider import create_provider_app
from s24kit.simulator.provider.faulty import FAULTY, create_faulty_app, faulty_server_context
from s24kit.simulator.serving import serving

from .conftest import generated_scenario

#: A clinic under test (the default provider of a small scenario is a pharmacy: no receipts to judge).
CLINIC = ["--provider", "99310001", "--provider-type", "31"]
#: Short, so that the slow provider costs little; generous for a loopback answer on a busy machine.
TIMEOUT = 2.0


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory):
    return generated_scenario(tmp_path_factory, "--patients", "15", "--seed", "3", *CLINIC)


def _judge(app, tls, scenario_dir, pki):
    with serving(app, tls=tls, name="provider") as served:
        target = Target(served.url, scenario_dir, ca_bundle=pki.ca_cert, client_cert=pki["relay-client"].cert,
                        client_key=pki["relay-client"].key, timeout=TIMEOUT)
        run = run_suite(target, lang="en")
    return {r.requirement: r for r in run.results}


def test_the_registry_is_well_formed():
    known = requirements()
    assert len(FAULTY) >= 15
    for name, entry in FAULTY.items():
        assert entry.name == name and entry.description_ko and entry.description_en
        assert entry.expected_failures, f"{name} names no requirement it must fail"
        assert entry.expected_failures <= known.keys(), f"{name}: {entry.expected_failures - known.keys()}"


def test_unknown_name_lists_the_choices(scenario):
    with pytest.raises(KeyError, match="wrong_total"):
        create_faulty_app("no-such-defect", scenario)


def test_reference_provider_passes_every_check(scenario, scenario_dir, pki):
    results = _judge(create_provider_app(scenario), pki.server_context("provider-server"), scenario_dir, pki)
    failures = {rid: r.outcome.reason for rid, r in results.items() if r.verdict == "fail"}
    assert failures == {}
    warnings = {rid: r.outcome.reason for rid, r in results.items() if r.verdict == "warn"}
    print("warnings on the reference provider:", warnings or "none")
    assert sum(r.verdict == "pass" for r in results.values()) > 40


def _not_met(rid: str) -> str:
    """A MUST not met fails; a SHOULD not met warns (the level is the verdict's ceiling)."""
    return "fail" if requirement(rid).level == "MUST" else "warn"


@pytest.mark.parametrize("name", sorted(FAULTY))
def test_faulty_provider_is_caught(name, scenario, scenario_dir, pki):
    entry = FAULTY[name]
    app = create_faulty_app(name, scenario, timeout=TIMEOUT)
    results = _judge(app, faulty_server_context(name, pki), scenario_dir, pki)
    missed = {rid: f"{results[rid].verdict}: {results[rid].outcome.reason}" if rid in results else "not run"
              for rid in sorted(entry.expected_failures) if rid not in results or results[rid].verdict != _not_met(rid)}
    assert missed == {}, f"{name} ({entry.description_en}) was not caught by {sorted(missed)}"
    for rid in entry.expected_failures:
        assert "kit error" not in results[rid].outcome.reason

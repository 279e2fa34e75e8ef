"""The simulator fixtures shipped through the plugin work in a vendor's own test suite."""

from __future__ import annotations

import pytest

from .conftest import generated_scenario

pytest_plugins = ["pytester"]

VENDOR_TESTS = '''
def _expected(status, record):
    for insurer in status["insurers"]:
        want = record["expected"][insurer["insurer_code"]]["total"]
        assert insurer.get("payout_total", 0) == want, (status, want)


def test_in_process(s24_simulator, s24_relay, s24_insurers, s24_provider, s24_admin):
    assert s24_relay.get("/relay/v1/health").json()["status"] == "ok"
    assert s24_relay.get("/__admin/claims").json()["code"] == "forbidden"  # the patient app is no admin
    assert s24_admin.get("/__admin/claims").status_code == 200
    assert s24_provider.get("/s24/v1/health").json()["profile"] == "kit-v1"
    assert s24_insurers and all(c.get("/insurer/v1/health").status_code == 200 for c in s24_insurers.values())
    records = list(s24_simulator.stack.claims())[:3]
    for record in records:
        _expected(s24_simulator.replay(record), record)
    assert s24_simulator.journal(party="relay→provider:*")


def test_over_mutual_tls(s24_simulator_tls):
    assert s24_simulator_tls.urls["relay"].startswith("https://127.0.0.1:")
    record = next(s24_simulator_tls.stack.claims())
    _expected(s24_simulator_tls.replay(record), record)
    assert all(e["tls_peer"] for e in s24_simulator_tls.journal(party="relay→provider:*"))
'''


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return generated_scenario(tmp_path_factory, "--patients", "6", "--seed", "2")


def test_fixtures_serve_a_vendor_suite(pytester, scenario):
    pytester.makepyfile(test_vendor=VENDOR_TESTS)
    result = pytester.runpytest_subprocess("--s24-sim-scenario", str(scenario), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_a_wrong_scenario_option_is_a_usage_error(pytester, tmp_path):
    pytester.makepyfile(test_vendor="def test_x(s24_simulator):\n    pass\n")
    result = pytester.runpytest_subprocess("--s24-sim-scenario", str(tmp_path), "-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*not a scenario written by s24kit generate*"])

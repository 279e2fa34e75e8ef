"""The site check (conformance/sitecheck.py) on a simulated fleet: PASS on a correct site, FAIL with the right
requirement on each defect kind; the product version in health; ``s24kit serve --fleet`` and its CSV."""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from s24kit.conformance.cli import main
from s24kit.conformance.console.csvformat import FLEET_COLUMNS
from s24kit.conformance.runner import ConfigError, make_target
from s24kit.conformance.sitecheck import SITE_PROFILE, run_site_check
from s24kit.schemas.loader import is_valid
from s24kit.simulator.fleet import DEFECTS, EXPECTED_FAILURE, FleetOptions, build_fleet
from s24kit.simulator.provider import ProviderCore, Scenario
from s24kit.simulator.relay import ConfigError as ServeConfigError
from s24kit.simulator.stack_config import serve_config_from


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Six sites: one correct, one of each defect kind."""
    state = tmp_path_factory.mktemp("fleet-state")
    built = build_fleet(FleetOptions(len(DEFECTS) + 1, state, seed=3, defect_share=len(DEFECTS) / (len(DEFECTS) + 1)))
    with built.serving():
        yield built


def site_of(fleet, defect):
    return next(site for site in fleet.sites if site.defect == defect)


def check(fleet, site, out: Path, **expect):
    expect.setdefault("product", site.product_triple)
    expect.setdefault("certified", fleet.certified)
    target = make_target(site.url, fleet.scenario, provider_code=site.provider_code,
                         state=fleet.options.state_dir, **expect)
    return run_site_check(target, out)


def test_the_fleet_has_one_site_of_each_defect_and_correct_ones(fleet):
    assert sorted(s.defect for s in fleet.sites if s.defect) == sorted(DEFECTS)
    assert len({s.provider_code for s in fleet.sites}) == len(fleet.sites)


def test_site_check_passes_a_correct_site_and_records_its_evidence(fleet, tmp_path):
    result = check(fleet, site_of(fleet, None), tmp_path / "ok")
    assert result.verdict == "pass", [f.as_json() for f in result.findings if f.verdict != "pass"]
    assert [f.requirement for f in result.findings] == list(SITE_PROFILE)
    assert {f.verdict for f in result.findings} == {"pass"}
    bundle = tmp_path / "ok" / "evidence.zip"
    assert result.evidence_sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert {"report.json", "report.html"} <= set(zipfile.ZipFile(bundle).namelist())
    report = json.loads((tmp_path / "ok" / "report.json").read_text(encoding="utf-8"))
    assert is_valid("report", report)
    assert result.product == "/".join(site_of(fleet, None).product_triple)


@pytest.mark.parametrize("defect", DEFECTS)
def test_site_check_fails_each_defect_on_its_requirement(fleet, tmp_path, defect):
    result = check(fleet, site_of(fleet, defect), tmp_path / defect)
    assert result.verdict == "fail"
    assert EXPECTED_FAILURE[defect] in result.failed
    assert (tmp_path / defect / "report.html").is_file()


def test_a_product_version_other_than_registered_fails(fleet, tmp_path):
    site = site_of(fleet, None)
    result = check(fleet, site, tmp_path / "other", product=(site.vendor, site.product, "0.0.1"), certified=None)
    assert result.failed == ["S24-API-017"]


def test_without_an_expected_product_the_version_is_not_judged(fleet, tmp_path):
    result = check(fleet, site_of(fleet, "uncertified_version"), tmp_path / "free", product=None, certified=None)
    assert result.verdict == "pass"
    assert {f.requirement: f.verdict for f in result.findings}["S24-API-017"] == "skip"


def test_product_must_be_vendor_name_version(fleet):
    with pytest.raises(ConfigError, match="VENDOR/NAME/VERSION"):
        make_target("https://127.0.0.1:1", fleet.scenario, product="just-a-name", state=fleet.options.state_dir)


def test_reference_health_names_its_product_valid_against_the_schema(fleet):
    site = site_of(fleet, None)
    health = ProviderCore(Scenario.load(fleet.scenario, site.provider_code),
                          product={"vendor": "V", "name": "N", "version": "1"}).health()
    assert health["product"] == {"vendor": "V", "name": "N", "version": "1"}
    assert is_valid("health", health)
    assert not is_valid("health", {**health, "product": {"vendor": "V", "name": "N"}})
    assert ProviderCore(Scenario.load(fleet.scenario, site.provider_code)).health()["product"]["vendor"] == \
        "silson24-kit"


def test_serve_config_sets_the_reference_product_and_refuses_a_bad_one(tmp_path):
    good = {"provider": [{"reference": True, "product": {"vendor": "V", "name": "N", "version": "1.0"}}]}
    assert serve_config_from(good, tmp_path).reference_product == {"vendor": "V", "name": "N", "version": "1.0"}
    with pytest.raises(ServeConfigError) as refused:
        serve_config_from({"provider": [{"reference": True, "product": {"vendor": "V"}}]}, tmp_path)
    assert refused.value.field == "provider[0].product"


def test_cli_site_profile_exit_codes(fleet, tmp_path):
    runner = CliRunner()
    common = ["check", "--profile", "site", "--scenario", str(fleet.scenario), "--state", str(fleet.options.state_dir),
              *[arg for p in sorted(fleet.certified) for arg in ("--certified", "/".join(p))]]
    for defect, code in ((None, 0), ("closed_port", 1)):
        site = site_of(fleet, defect)
        result = runner.invoke(main, [*common, "--target", site.url, "--provider", site.provider_code,
                                      "--product", "/".join(site.product_triple), "--out", str(tmp_path / str(defect))])
        assert result.exit_code == code, result.output
    refused = runner.invoke(main, [*common, "--target", site.url, "--select", "API"])
    assert refused.exit_code == 2 and "--profile site" in refused.output


def test_serve_fleet_writes_the_csv_the_console_imports(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--fleet", "5", "--state", str(tmp_path / "st"), "--defect-share", "1",
                                       "--duration", "0"])
    assert result.exit_code == 0, result.output
    with (tmp_path / "st" / "fleet" / "sites.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == FLEET_COLUMNS
    assert len(rows) == 5 and all(r["pull_url"].startswith("https://127.0.0.1:") for r in rows)
    assert all(len(r["server_cert_sha256"]) == 64 for r in rows)
    key = json.loads((tmp_path / "st" / "fleet" / "fleet.json").read_text(encoding="utf-8"))
    assert sorted(s["defect"] for s in key["sites"]) == sorted(DEFECTS)


def test_serve_fleet_options_need_fleet(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--defect-share", "0.5", "--state", str(tmp_path)])
    assert result.exit_code == 2 and "--fleet" in result.output

"""The console in real headless Chromium (Selenium + Debian's chromium-driver), against a served fleet:
log in, import the fleet CSV, look at a site, decide on it, download and verify the signed record, export
XLSX. Screenshots of every step are kept (the folder is printed; under CI: artifacts/console-browser/)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from s24kit.conformance.cli import main
from s24kit.conformance.cli.fleet import write_fleet_files
from s24kit.conformance.console import accounts
from s24kit.conformance.console.app import Settings, create_app
from s24kit.conformance.console.audit import SYSTEM
from s24kit.conformance.console.db import default_url, prepare
from s24kit.conformance.console.signing import PUBLIC_KEY_FILE
from s24kit.simulator.fleet import FleetOptions, build_fleet
from s24kit.simulator.serving import serving

from .browser_kit import artefacts, chromium

PASSWORD = "browser test password"
WAIT = 30.0  # seconds any one page may take under a loaded machine (a bound, not an assertion)


def _wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"waited {WAIT:.0f} s for {what}")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A fleet of six sites being served, and the console on loopback with an approver."""
    state = tmp_path_factory.mktemp("browser") / "state"
    fleet = build_fleet(FleetOptions(6, state, seed=3, defect_share=0.34))
    database = prepare(default_url(state), state_dir=state)
    with database.engine.begin() as connection:
        accounts.create_account(connection, SYSTEM, "approver", "approver", PASSWORD, must_change_password=False)
    app = create_app(Settings(state), database)
    with fleet.serving(), serving(app, name="console") as console:
        csv_path = state / "fleet" / "sites.csv"
        write_fleet_files(fleet, csv_path)
        yield {"url": console.url, "csv": csv_path, "fleet": fleet, "state": state}
    database.engine.dispose()


def test_the_console_in_a_browser(world, tmp_path_factory, capsys):
    from selenium.webdriver.common.by import By

    shots = artefacts("console-browser", tmp_path_factory.mktemp("screenshots"))
    downloads = tmp_path_factory.mktemp("downloads")
    with capsys.disabled():
        print(f"\nconsole browser test: screenshots in {shots}")
    url = world["url"]
    with chromium(downloads) as browser:
        def shot(name: str) -> None:
            browser.save_screenshot(str(shots / f"{name}.png"))

        # log in
        browser.get(url + "/sites")
        _wait_for(lambda: browser.find_elements(By.ID, "username"), "the login page")
        shot("01-login")
        browser.find_element(By.ID, "username").send_keys("approver")
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
        _wait_for(lambda: browser.current_url.endswith("/sites"), "the site list after logging in")

        # import the fleet CSV
        browser.get(url + "/sites/import")
        browser.find_element(By.NAME, "file").send_keys(str(world["csv"]))
        shot("02-import-form")
        browser.find_element(By.CSS_SELECTOR, "#import-form button").click()
        codes = [site.provider_code for site in world["fleet"].sites]
        _wait_for(lambda: all(code in browser.page_source for code in codes), "the imported sites in the list")
        assert "imported 6 sites" in browser.page_source or "6곳을 가져왔습니다" in browser.page_source
        shot("03-sites-imported")

        # the same file again: refused whole, every line named
        browser.get(url + "/sites/import")
        browser.find_element(By.NAME, "file").send_keys(str(world["csv"]))
        browser.find_element(By.CSS_SELECTOR, "#import-form button").click()
        table = _wait_for(lambda: browser.find_elements(By.ID, "import-errors"), "the import errors")
        assert len(table[0].find_elements(By.CSS_SELECTOR, "tbody tr")) == 6
        shot("04-import-refused")

        # a site with a defect: rejected on the record, the signed record downloaded and verified offline
        broken = next(site for site in world["fleet"].sites if site.defect)
        browser.get(url + "/sites")
        browser.find_element(By.LINK_TEXT, broken.provider_code).click()
        _wait_for(lambda: browser.find_elements(By.ID, "site-decisions"), "the site page")
        shot("05-site")
        browser.find_element(By.ID, "site-decisions").click()
        form = _wait_for(lambda: browser.find_elements(By.ID, "decision-form"), "the decision form")[0]
        form.find_element(By.CSS_SELECTOR, "select[name=decision] option[value=rejected]").click()
        form.find_element(By.NAME, "reason").send_keys(f"결함: {broken.defect}")
        form.find_element(By.TAG_NAME, "button").click()
        link = _wait_for(lambda: browser.find_elements(By.PARTIAL_LINK_TEXT, "decision-"), "the signed record")[0]
        shot("06-decision-recorded")
        link.click()
        record = _wait_for(lambda: next(iter(downloads.glob("decision-*.json")), None), "the record download")
        key = world["state"] / PUBLIC_KEY_FILE
        verified = CliRunner().invoke(main, ["report", "verify", str(record), "--key", str(key), "--lang", "en"])
        assert verified.exit_code == 0, verified.output

        # export the register as XLSX
        browser.get(url + "/sites")
        browser.find_element(By.ID, "export-xlsx").click()
        workbook = _wait_for(lambda: next(iter(downloads.glob("sites*.xlsx")), None), "the XLSX download")
        _wait_for(lambda: not list(downloads.glob("*.crdownload")), "the download to finish")
        rows = list(load_workbook(Path(workbook)).active.values)
        assert sorted(row[0] for row in rows[1:]) == sorted(codes)
        shot("07-sites-after")

"""The console in real headless Chromium (Selenium + Debian's chromium-driver), against a served fleet, as the
issue asks: log in, import the fleet CSV, certify a product, run a batch of site checks and watch it finish,
open a failing site's report, accept a passing site (signed record, verified offline), export XLSX.
Screenshots of every step are kept (the folder is printed; under CI: artifacts/console-browser/)."""

from __future__ import annotations

import re
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
from s24kit.conformance.console.executor import RunSettings
from s24kit.conformance.console.signing import PUBLIC_KEY_FILE
from s24kit.conformance.console.worker import in_console
from s24kit.simulator.fleet import PRODUCTS, FleetOptions, build_fleet
from s24kit.simulator.serving import serving

from .browser_kit import artefacts, chromium

PASSWORD = "browser test password"
PAGE_WAIT = 30.0  # seconds a page may take on a loaded machine (bounds, never assertions on time)
RUN_WAIT = 300.0  # a full-suite certification or a batch


def _wait_for(predicate, what: str, limit: float = PAGE_WAIT):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            found = predicate()
        except (NoSuchElementException, StaleElementReferenceException):
            found = None  # the page was reloaded or redrawn (live updates) under the lookup: look again
        except WebDriverException as exc:  # chromedriver's way of saying the same while a new document loads
            if "does not belong to the document" not in str(exc):
                raise
            found = None
        if found:
            return found
        time.sleep(0.3)
    pytest.fail(f"waited {limit:.0f} s for {what}")


def _gone(element) -> bool:
    """True once the page holding `element` has been replaced by another."""
    from selenium.common.exceptions import WebDriverException

    try:
        element.is_enabled()
    except WebDriverException:  # stale, or "does not belong to the document" while the new one loads
        return True
    return False


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A fleet of six sites being served, and the console with its workers on loopback, with an approver."""
    state = tmp_path_factory.mktemp("browser") / "state"
    fleet = build_fleet(FleetOptions(6, state, seed=3, defect_share=0.34))
    database = prepare(default_url(state), state_dir=state)
    with database.engine.begin() as connection:
        accounts.create_account(connection, SYSTEM, "approver", "approver", PASSWORD, must_change_password=False)
    app = create_app(Settings(state, on_startup=[in_console(RunSettings(state), 2)]), database)
    with fleet.serving(), serving(app, name="console") as console:
        csv_path = state / "fleet" / "sites.csv"
        write_fleet_files(fleet, csv_path)
        yield {"url": console.url, "csv": csv_path, "fleet": fleet, "state": state}
    database.engine.dispose()


def test_the_console_in_a_browser(world, tmp_path_factory, capsys):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    shots = artefacts("console-browser", tmp_path_factory.mktemp("screenshots"))
    downloads = tmp_path_factory.mktemp("downloads")
    with capsys.disabled():
        print(f"\nconsole browser test: screenshots in {shots}")
    url, fleet = world["url"], world["fleet"]
    with chromium(downloads) as browser:
        def shot(name: str) -> None:
            browser.save_screenshot(str(shots / f"{name}.png"))

        def submit(form) -> None:
            """Click the form's button and wait for the answer's page: a `get` right after a click could
            otherwise cancel the post or be replaced by its redirect (a state change lost, the wrong page)."""
            page = browser.find_element(By.TAG_NAME, "html")
            form.find_element(By.CSS_SELECTOR, "button[type=submit], button").click()
            _wait_for(lambda: _gone(page), "the answer to the form")

        def reload_until(check, what: str, limit: float = RUN_WAIT):
            def look():
                browser.refresh()
                return check()
            return _wait_for(look, what, limit)

        # 1. log in
        browser.get(url + "/sites")
        _wait_for(lambda: browser.find_elements(By.ID, "username"), "the login page")
        shot("01-login")
        browser.find_element(By.ID, "username").send_keys("approver")
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        # the login form is served at /sites itself: wait for the answer, not for the address
        submit(browser.find_element(By.CSS_SELECTOR, "form[action='/login']"))
        _wait_for(lambda: browser.find_elements(By.ID, "export-xlsx"), "the site list after logging in")

        # 2. import the fleet CSV; the same file again is refused whole, every line named
        codes = [site.provider_code for site in fleet.sites]
        browser.get(url + "/sites/import")
        browser.find_element(By.NAME, "file").send_keys(str(world["csv"]))
        shot("02-import-form")
        submit(browser.find_element(By.ID, "import-form"))
        _wait_for(lambda: all(code in browser.page_source for code in codes), "the imported sites in the list")
        shot("03-sites-imported")
        browser.get(url + "/sites/import")
        browser.find_element(By.NAME, "file").send_keys(str(world["csv"]))
        submit(browser.find_element(By.ID, "import-form"))
        table = _wait_for(lambda: browser.find_elements(By.ID, "import-errors"), "the import errors")
        assert len(table[0].find_elements(By.CSS_SELECTOR, "tbody tr")) == len(codes)
        shot("04-import-refused")

        # 3. certify a product: the full suite against one of its correct sites, then the approver's decision
        vendor, product, version, _ = PRODUCTS[0]
        reference = next(s for s in fleet.sites if s.defect is None and s.product_triple == (vendor, product, version))
        browser.get(url + "/runs")
        form = browser.find_element(By.CSS_SELECTOR, "form[action='/runs']")
        Select(form.find_element(By.NAME, "product_version_id")).select_by_visible_text(f"{vendor} {product} {version}")
        form.find_element(By.NAME, "target_url").send_keys(reference.url)
        form.find_element(By.NAME, "provider_code").send_keys(reference.provider_code)
        submit(form)
        certification = int(_wait_for(lambda: re.search(r"/runs/(\d+)$", browser.current_url), "the run page")[1])
        reload_until(lambda: browser.find_element(By.ID, "run-state").text in ("done", "failed"), "the certification")
        shot("05-certification-run")
        assert browser.find_element(By.ID, "run-verdict").text == "pass"
        browser.get(url + "/vendors")
        browser.find_element(By.LINK_TEXT, vendor).click()
        _wait_for(lambda: browser.find_elements(By.LINK_TEXT, version), "the vendor page")[0].click()
        form = _wait_for(lambda: browser.find_elements(By.ID, "decision-form"), "the version page")[0]
        Select(form.find_element(By.NAME, "decision")).select_by_value("certified")
        form.find_element(By.NAME, "run_id").send_keys(str(certification))
        form.find_element(By.NAME, "reason").send_keys("전체 시험 통과 / the full suite passed")
        submit(form)
        _wait_for(lambda: browser.find_elements(By.PARTIAL_LINK_TEXT, "decision-"), "the certification on record")
        shot("06-product-certified")

        # 4. a batch of site checks over every site; watch it finish
        browser.get(url + "/batches")
        form = browser.find_element(By.CSS_SELECTOR, "form[action='/batches']")
        form.find_element(By.NAME, "label").send_keys("browser test: all sites")
        submit(form)
        _wait_for(lambda: re.search(r"/batches/\d+$", browser.current_url), "the batch board")
        shot("07-batch-running")
        reload_until(lambda: browser.find_element(By.CSS_SELECTOR, "[data-field=state]").text == "done",
                     "the batch to finish")
        shot("08-batch-done")
        rows = browser.find_elements(By.CSS_SELECTOR, "#board ~ table tbody tr, h2 + table tbody tr")
        failing = [r for r in rows if r.find_elements(By.CSS_SELECTOR, ".verdict-fail")]
        passing = [r for r in rows if r.find_elements(By.CSS_SELECTOR, ".verdict-pass")]
        defective = {s.provider_code for s in fleet.sites if s.defect}
        assert {r.find_element(By.TAG_NAME, "a").text.split()[0] for r in failing} >= defective
        passing_link = passing[0].find_element(By.TAG_NAME, "a")
        passing_code, passing_run = passing_link.text.split()[0], passing_link.get_attribute("href")

        # 5. a failing site's report
        failing[0].find_element(By.TAG_NAME, "a").click()
        _wait_for(lambda: browser.find_elements(By.LINK_TEXT, "report.html"), "the failing run")
        shot("09-failing-run")
        browser.find_element(By.LINK_TEXT, "report.html").click()
        _wait_for(lambda: "S24-" in browser.page_source, "the report")
        shot("10-failing-report")

        # 6. accept a passing site: testing → passed, then the approver's decision on its site check
        browser.get(passing_run)
        browser.find_element(By.PARTIAL_LINK_TEXT, passing_code).click()
        site_url = _wait_for(lambda: re.search(r"/sites/\d+$", browser.current_url), "the site page").string
        for state in ("testing", "passed"):
            browser.get(site_url)
            form = browser.find_element(By.CSS_SELECTOR, "form[action$='/state']")
            Select(form.find_element(By.NAME, "state")).select_by_value(state)
            submit(form)
        browser.get(site_url + "/decisions")
        form = browser.find_element(By.ID, "decision-form")
        Select(form.find_element(By.NAME, "decision")).select_by_value("accepted")
        form.find_element(By.NAME, "run_id").send_keys(passing_run.rsplit("/", 1)[1])
        form.find_element(By.NAME, "reason").send_keys("사이트 점검 통과 / site check passed")
        submit(form)
        link = _wait_for(lambda: browser.find_elements(By.PARTIAL_LINK_TEXT, "decision-"), "the signed record")[0]
        shot("11-site-accepted")
        link.click()
        record = _wait_for(lambda: next(iter(downloads.glob("decision-*.json")), None), "the record download")
        key = world["state"] / PUBLIC_KEY_FILE
        verified = CliRunner().invoke(main, ["report", "verify", str(record), "--key", str(key), "--lang", "en"])
        assert verified.exit_code == 0, verified.output

        # 7. export the register as XLSX
        browser.get(url + "/sites")
        browser.find_element(By.ID, "export-xlsx").click()
        workbook = _wait_for(lambda: next(iter(downloads.glob("sites*.xlsx")), None), "the XLSX download")
        _wait_for(lambda: not list(downloads.glob("*.crdownload")), "the download to finish")
        rows = list(load_workbook(Path(workbook)).active.values)
        header = rows[0]
        states = {row[0]: row[header.index("state")] for row in rows[1:]}
        assert sorted(states) == sorted(codes) and states[passing_code] == "accepted"
        shot("12-sites-after")

"""Real headless Chromium for the kit's browser tests, driven by Selenium through Debian's chromedriver.

Use the ``chromium`` fixture (tests/conftest.py): a fresh browser with its own profile folder per test; a test
fails instead of skipping when Chromium is missing and ``S24_REQUIRE_ALL=1`` (tests/_require.py). Screenshots
go to ``artifacts/browser/`` (git-ignored) or ``$S24_ARTEFACTS``; ``artefact_path`` prints where.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._require import require

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
CHROMEDRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
INSTALL_HINT = "apt-get install chromium chromium-driver fonts-noto-cjk; pip install -e '.[test]'"
# No network of its own: no QUIC, no background fetches, no component or sync updates; a fresh profile each time.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")


def _first(paths: tuple[str, ...], name: str) -> str | None:
    return next((p for p in paths if os.access(p, os.X_OK)), None) or shutil.which(name)


def browser_paths() -> tuple[str, str]:
    """Chromium and chromedriver, or skip (fail under S24_REQUIRE_ALL=1) naming what to install."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        require(False, f"selenium is not installed ({INSTALL_HINT})")
    binary, driver = _first(CHROMIUM, "chromium"), _first(CHROMEDRIVER, "chromedriver")
    require(binary, f"chromium is not installed ({INSTALL_HINT})")
    require(driver, f"chromedriver is not installed ({INSTALL_HINT})")
    return str(binary), str(driver)


@contextmanager
def headless_chromium(profile: Path, *, width: int = 1280, height: int = 1800) -> Iterator[Any]:
    """A Selenium driver of a headless Chromium with the profile folder ``profile`` (fresh: created here)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = browser_paths()
    profile.mkdir(parents=True, exist_ok=False)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    # Selenium Manager would look for a driver online; the path given here keeps it out of the way.
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()


def artefact_path(name: str) -> Path:
    """Where a test keeps a file for people to look at after the run (printed, so the run's log says where)."""
    folder = Path(os.environ.get("S24_ARTEFACTS") or ROOT / "artifacts" / "browser")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    print(f"artefact: {path}")
    return path


def emulate_media(driver: Any, media: str) -> None:
    """Lay the page out for ``media`` ("print" or "screen"), as the browser does when printing."""
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "" if media == "screen" else media})


def full_page_png(driver: Any, path: Path) -> Path:
    """A PNG of the whole page (beyond the window), as it is laid out now."""
    size = driver.execute_script("return [document.documentElement.scrollWidth, "
                                 "document.documentElement.scrollHeight]")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def pdf(driver: Any, path: Path) -> Path:
    """The page printed to PDF by the browser itself (A4, backgrounds, the page's own @page rules)."""
    printed = driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True})
    path.write_bytes(base64.b64decode(printed["data"]))
    return path

"""Headless Chromium for the console's browser test: Debian's chromium and chromium-driver through Selenium,
with a fresh profile and nothing that reaches out of the machine; screenshots kept as artefacts."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._require import require

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
DRIVER = ("/usr/bin/chromedriver", "chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000")
ROOT = Path(__file__).resolve().parents[1]


def _which(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def artefacts(name: str, fallback: Path) -> Path:
    """Where screenshots go: ``artifacts/<name>`` of the clone under CI (git-ignored), else ``fallback``."""
    folder = ROOT / "artifacts" / name if os.environ.get("CI") else fallback
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium(downloads: Path) -> Iterator[object]:
    """A Selenium driver of headless Chromium, downloads going to ``downloads``."""
    binary, driver_path = _which(CHROMIUM), _which(DRIVER)
    require(binary and driver_path, "the browser test needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="s24kit-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    # An explicit driver path: Selenium Manager would try to download one.
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

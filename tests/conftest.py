"""Shared helpers for the kit's own tests."""

from __future__ import annotations

import copy
import functools
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s24kit.conformance.cli.generate import generate
from s24kit.simulator.pki import TestPKI, ensure_pki
from s24kit.simulator.provider import Scenario

from ._databases import fresh_postgres_database, fresh_sqlite_url, postgres_unreachable_reason
from ._require import require
from .browser import headless_chromium

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "schemas" / "kit-v1" / "examples"


def load_example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``pytest.mark.anyio``) run on asyncio, the loop the simulator serves on."""
    return "asyncio"


@pytest.fixture
def example():
    """``example("prescription")`` → a fresh deep copy of a shipped example."""
    return lambda name: copy.deepcopy(load_example(name))


def generated_scenario(tmp_path_factory: pytest.TempPathFactory, *generate_args: str) -> Path:
    """A scenario written by ``s24kit generate *generate_args --quiet`` into a fresh temporary directory."""
    out = tmp_path_factory.mktemp("scenario") / "s"
    result = CliRunner().invoke(generate, [*generate_args, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


@functools.cache
def kit_pki() -> TestPKI:
    """One test PKI per test process, for in-process callers that present a role's certificate."""
    return ensure_pki(Path(tempfile.mkdtemp(prefix="s24kit-test-pki-")))


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> TestPKI:
    """The kit's test PKI, one per test module (modules that need other hosts define their own)."""
    return ensure_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def state_pki(tmp_path_factory) -> TestPKI:
    """The kit's test PKI inside a state folder (``STATE/pki``), as ``s24kit serve`` keeps it: ``--state STATE``
    (``state_pki.directory.parent``) finds it."""
    return ensure_pki(tmp_path_factory.mktemp("state") / "pki")


@pytest.fixture(scope="module")
def scenario(scenario_dir) -> Scenario:
    """The scenario of the module's ``scenario_dir`` fixture, loaded for its default provider."""
    return Scenario.load(scenario_dir)


@pytest.fixture
def chromium(tmp_path) -> Iterator[Any]:
    """A Selenium driver of a real headless Chromium with a fresh profile (tests/browser.py); skips when it is
    missing, fails instead under S24_REQUIRE_ALL=1."""
    with headless_chromium(tmp_path / "chromium-profile") as driver:
        yield driver


@pytest.fixture(params=["sqlite", "postgresql"])
def console_database(request, tmp_path) -> Iterator[str]:
    """A fresh, empty console database URL per test: ``sqlite:///…`` and ``postgresql://…`` (psycopg 3).

    PostgreSQL is the test server of ``S24_TEST_POSTGRES_URL`` (started by ``.ci/run``); without it the
    PostgreSQL case skips, or fails under ``S24_REQUIRE_ALL=1``.
    """
    if request.param == "sqlite":
        yield fresh_sqlite_url(tmp_path)
        return
    require(postgres_unreachable_reason() is None, postgres_unreachable_reason() or "")
    with fresh_postgres_database() as url:
        yield url

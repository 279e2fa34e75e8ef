"""pytest fixtures for vendors' test suites: the kit's simulator, in-process by default, over TLS on request.

Shipped through the ``pytest11`` entry point ``s24kit-simulator``, so installing the kit is enough::

    def test_my_claim_is_paid(s24_simulator):
        record = next(s24_simulator.stack.claims())
        status = s24_simulator.replay(record)
        assert status["insurers"][0]["payout_total"] == record["expected"]["INSA"]["total"]

Fixtures: ``s24_scenario`` (a generated scenario directory, or ``--s24-sim-scenario DIR``),
``s24_simulator`` (in-process, no sockets), ``s24_simulator_tls`` (every party on loopback with mutual TLS),
``s24_relay``, ``s24_insurers``, ``s24_provider`` (sync httpx clients of the in-process simulator, each
presenting the certificate its caller has: the patient app's to the relay, the relay's to insurers and
providers), ``s24_admin`` (the relay's ``/__admin/…`` routes, with the admin certificate). docs/security.md
says who may call what.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# The simulator is imported inside the fixtures: this plugin loads with every pytest run where the kit is
# installed, and must not make the runs that never use it slower.
if TYPE_CHECKING:
    import httpx

    from ..simulator.harness import Simulator


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("s24kit-simulator", "silson24-kit simulator fixtures")
    group.addoption("--s24-sim-scenario", metavar="DIR", type=Path,
                    help="Scenario directory (s24kit generate) for the s24_simulator fixtures; default: "
                         "a small one generated once per session.")
    group.addoption("--s24-sim-patients", metavar="N", type=int, default=12,
                    help="Patients in the generated default scenario (default 12).")


@pytest.fixture(scope="session")
def s24_scenario(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario every simulator fixture serves."""
    given = request.config.getoption("--s24-sim-scenario")
    if given is not None:
        from ..simulator.scenario_files import exists

        if not exists(given / "expected" / "index.jsonl"):
            raise pytest.UsageError(f"--s24-sim-scenario {given}: not a scenario written by s24kit generate")
        return given
    from ..simulator.generator.context import Options
    from ..simulator.generator.scenario import write_scenario

    out = tmp_path_factory.mktemp("s24kit") / "scenario"
    write_scenario(out, Options(patients=request.config.getoption("--s24-sim-patients"), seed=1).resolved())
    return out


def _simulator(scenario: Path, state: Path, *, network: bool) -> Simulator:
    from ..simulator.harness import Simulator
    from ..simulator.stack import SimClock, Stack, StackOptions

    return Simulator(Stack(StackOptions(scenario, state, clock=SimClock(), persistent=network)), network=network)


@pytest.fixture
def s24_simulator(s24_scenario: Path, tmp_path: Path) -> Iterator[Simulator]:
    """Relay, insurers and every provider of the scenario, in-process (fresh state for each test)."""
    with _simulator(s24_scenario, tmp_path / "s24kit-state", network=False) as simulator:
        yield simulator


@pytest.fixture
def s24_simulator_tls(s24_scenario: Path, tmp_path: Path) -> Iterator[Simulator]:
    """The same over real sockets: uvicorn on loopback with mutual TLS from the kit's test CA."""
    with _simulator(s24_scenario, tmp_path / "s24kit-state", network=True) as simulator:
        yield simulator


@pytest.fixture
def s24_relay(s24_simulator: Simulator) -> httpx.Client:
    """The relay as the patient app's backend calls it (certificate role ``patient-app``)."""
    return s24_simulator.client("relay")


@pytest.fixture
def s24_admin(s24_simulator: Simulator) -> httpx.Client:
    """The relay's admin API (certificate role ``admin``)."""
    return s24_simulator.admin()


@pytest.fixture
def s24_insurers(s24_simulator: Simulator) -> dict[str, httpx.Client]:
    return {name.split(":", 1)[1]: s24_simulator.client(name) for name in s24_simulator.urls
            if name.startswith("insurer:")}


@pytest.fixture
def s24_provider(s24_simulator: Simulator, s24_scenario: Path) -> httpx.Client:
    """The reference provider with the most visits (the scenario's default provider)."""
    from ..simulator.provider import Scenario

    return s24_simulator.client(f"provider:{Scenario.load(s24_scenario).provider_code}")

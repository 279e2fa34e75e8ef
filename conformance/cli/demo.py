"""``s24kit demo``: the whole kit end to end on loopback, with zero configuration.

Generates a scenario, starts relay + insurers + the reference provider over mutual TLS, sends a few patient
claims through them, then runs the full conformance suite against the reference provider and against one
faulty provider, writes both sets of reports and prints where they are. Exit 0 when every claim paid the
scenario's expected amount, the reference provider passes and the faulty one fails every requirement its
defect breaks.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .params import OutputFolder, Seconds
from .usage import OneLineCommand, OneLineError, wide_console

# The simulator and the suite are imported inside the functions: `s24kit demo --help` loads neither.
if TYPE_CHECKING:
    from rich.console import Console

    from ...simulator.harness import Simulator
    from ...simulator.stack import SimClock
    from ..runner import SuiteRun

    Judged = tuple[SuiteRun, dict[str, Path]]

DEMO_PROVIDER = "99310001"  # a clinic (의원): every document type and rule has something to judge
DEFAULT_FAULT = "wrong_total"


def _scenario(state: Path, patients: int, console: Console) -> Path:
    from ...simulator.generator.context import Options
    from ...simulator.generator.scenario import write_scenario

    target = state / "scenario"
    if not (target / "manifest.json").is_file():
        with console.status(f"시나리오 생성 / generating a scenario ({patients} patients)"):
            write_scenario(target, Options(patients=patients, seed=1, provider=DEMO_PROVIDER).resolved(),
                           force=True)
    return target


def _claims(simulator: Simulator, clock: SimClock, count: int) -> list[tuple[dict, dict]]:
    """Replay ``count`` of the scenario's claims, each at its own date; (status, record) pairs."""
    from ...simulator.stack import KST

    outcomes = [(simulator.replay(record), record) for record, _ in zip(simulator.stack.claims(), range(count),
                                                                        strict=False)]
    clock.now = dt.datetime.now(KST)  # back to the present for the suite's consents
    return outcomes


def _suite(url: str, scenario: Path, state: Path, out: Path, lang: str, console: Console, label: str) -> Judged:
    from ..reproduction import REQUESTS
    from ..runner import make_target, run_suite, write_reports

    target = make_target(url, scenario, provider_code=DEMO_PROVIDER, state=state)
    with console.status(f"적합성 시험 / conformance suite → {label}") as status:
        def progress(result, index: int, total: int) -> None:
            status.update(f"적합성 시험 / conformance suite → {label}: {index}/{total} {result.requirement}")
        run = run_suite(target, lang=lang, progress=progress, requests_dir=out / REQUESTS)
    return run, write_reports(run, out, lang=lang)


@click.command("demo", cls=OneLineCommand)
@click.option("--state", default=Path(".s24kit/demo"), show_default=True, type=OutputFolder(),
              help="State directory (scenario, certificates, databases).")
@click.option("--out", default=Path("s24kit-demo"), show_default=True, type=OutputFolder(),
              help="Where the reports go.")
@click.option("--fault", default=DEFAULT_FAULT, show_default=True, metavar="NAME",
              help="The faulty provider to catch (a name of simulator/provider/faulty.py; a wrong one lists them).")
@click.option("--patients", default=30, show_default=True, type=click.IntRange(5, 2000))
@click.option("--lang", default="ko", show_default=True, type=click.Choice(["ko", "en"]))
@click.option("--console", "with_console", is_flag=True,
              help="Instead: serve a fleet of sites and open the acceptance console on it, one product certified.")
@click.option("--sites", default=20, show_default=True, type=click.IntRange(2, 2000),
              help="With --console: how many simulated sites.")
@click.option("--port", default=8470, show_default=True, type=click.IntRange(0, 65535),
              help="With --console: the console's port on 127.0.0.1 (0: any free port).")
@click.option("--duration", type=Seconds(min=0), help="With --console: stop after this many seconds (default: Ctrl-C).")
def demo(state: Path, out: Path, fault: str, patients: int, lang: str, with_console: bool, sites: int, port: int,
         duration: float | None) -> None:
    """데모: 시뮬레이터 + 적합성 시험 전체 / the whole kit end to end on loopback (no configuration).

    With --console: the acceptance console on a served fleet, the fleet imported and one product certified;
    it prints the address and the admin's login (docs/console.md §15).
    """
    if with_console:
        raise SystemExit(_console_demo(state, sites, port, duration, lang))
    from ...simulator.faults import FaultSwitch
    from ...simulator.generator.context import OptionError
    from ...simulator.generator.scenario import ScenarioError
    from ...simulator.harness import Simulator
    from ...simulator.pki import PkiError
    from ...simulator.provider import Scenario
    from ...simulator.provider.faulty import FAULTY, create_faulty_app, faulty_server_context
    from ...simulator.serving import ServeError, serving
    from ...simulator.stack import SimClock, Stack, StackOptions
    from ..runner import ConfigError, TargetUnreachable

    if fault not in FAULTY:
        raise OneLineError(f"--fault {fault!r}: 알 수 없는 결함입니다 — {', '.join(sorted(FAULTY))} 중 하나를 쓰십시오",
                           f"--fault {fault!r}: no such faulty provider — use one of {', '.join(sorted(FAULTY))}")
    console = wide_console()
    try:
        scenario = _scenario(state, patients, console)
        clock = SimClock()
        # every provider of the scenario (pharmacies too): a patient's claims build on each other
        stack = Stack(StackOptions(scenario, state, faults=FaultSwitch(), clock=clock))
        with Simulator(stack, network=True) as simulator:
            with console.status("청구 흐름 / claims through relay → provider → insurers"):
                outcomes = _claims(simulator, clock, 8)
            provider_url = simulator.urls[f"provider:{DEMO_PROVIDER}"]
            reference = _suite(provider_url, scenario, state, out / "reference", lang, console,
                               "reference provider")
            core_scenario = Scenario.load(scenario, DEMO_PROVIDER)
            faulty_app = create_faulty_app(fault, core_scenario)
            with serving(faulty_app, tls=faulty_server_context(fault, stack.pki), name=f"faulty-{fault}") as bad:
                faulty = _suite(bad.url, scenario, state, out / f"faulty-{fault}", lang, console,
                                f"faulty provider {fault}")
    except (ServeError, PkiError, ConfigError) as exc:
        raise OneLineError(exc.message_ko, exc.message_en) from None
    except (OptionError, ScenarioError) as exc:
        raise OneLineError(f"--state {state}: 시나리오를 만들 수 없습니다 — {exc.message_ko}",
                           f"--state {state}: cannot generate the scenario — {exc.message_en}") from None
    except OSError as exc:
        raise OneLineError(f"--state {state} / --out {out}: 쓸 수 없습니다 ({exc.strerror or exc}) — "
                           "다른 폴더를 고르십시오",
                           f"--state {state} / --out {out}: cannot write ({exc.strerror or exc}) — choose other folders"
                           ) from None
    except TargetUnreachable as exc:
        raise OneLineError(exc.message_ko, exc.message_en, exit_code=3) from None
    caught = {r.requirement for r in faulty[0].results if r.verdict == "fail"}
    expected = FAULTY[fault].expected_failures
    paid_as_expected = all(i.get("payout_total", 0) == record["expected"][i["insurer_code"]]["total"]
                           for status, record in outcomes for i in status["insurers"])
    ok = paid_as_expected and not reference[0].failed_must() and expected <= caught
    _print(console, lang, outcomes, reference, faulty, fault, expected, caught)
    raise SystemExit(0 if ok else 1)


def _print(console: Console, lang: str, outcomes: list[tuple[dict, dict]], reference: Judged, faulty: Judged,
           fault: str, expected: frozenset[str], caught: set[str]) -> None:
    from rich.table import Table

    from ...simulator.provider.faulty import FAULTY

    ko = lang == "ko"
    flow = Table(title="청구 흐름: 중계기관 → 요양기관 → 보험사" if ko else "Claims: relay → provider → insurers")
    for column in (("청구", "claim"), ("상태", "state"), ("보험사별 지급 (시나리오 기대값과 비교)",
                                                          "payout per insurer (against the scenario's expected)")):
        flow.add_column(column[0] if ko else column[1])
    for status, record in outcomes:
        paid = []
        for insurer in status["insurers"]:
            got, want = insurer.get("payout_total", 0), record["expected"][insurer["insurer_code"]]["total"]
            paid.append(f"{insurer['insurer_code']} {got:,}원 {'✓' if got == want else f'✗ (≠ {want:,}원)'}")
        flow.add_row(status["claim_id"], status["state"], ", ".join(paid))
    console.print(flow)
    table = Table(title="적합성 시험" if ko else "Conformance suite")
    for column in (("대상", "target"), ("판정", "verdict"), ("적합/부적합/경고/건너뜀", "pass/fail/warn/skip"),
                   ("보고서", "reports")):
        table.add_column(column[0] if ko else column[1], overflow="fold")
    for label, (run, paths) in (("reference provider", reference), (f"faulty: {fault}", faulty)):
        counts = run.counts()
        verdict = "[red]FAIL[/]" if run.failed_must() else "[green]PASS[/]"
        table.add_row(label, verdict, f"{counts['pass']}/{counts['fail']}/{counts['warn']}/{counts['skip']}",
                      str(paths["html"]))
    console.print(table)
    defect = FAULTY[fault]
    console.print(f"{'결함' if ko else 'defect'} {fault}: {defect.description_ko if ko else defect.description_en}")
    console.print(f"{'잡아낸 요구사항' if ko else 'caught'}: {', '.join(sorted(caught & expected))}"
                  + (f" — {'놓친 것' if ko else 'missed'}: {', '.join(sorted(expected - caught))}"
                     if expected - caught else ""), highlight=False)
    console.print(f"{'증거 묶음' if ko else 'evidence bundles'}: {reference[1]['bundle']}, {faulty[1]['bundle']} "
                  "(s24kit report verify …)", highlight=False)


def _console_demo(state: Path, sites: int, port: int, duration: float | None, lang: str) -> int:
    from ...simulator.generator.context import OptionError
    from ...simulator.generator.scenario import ScenarioError
    from ...simulator.pki import PkiError
    from ...simulator.serving import ServeError
    from .demo_console import console_demo

    try:
        return console_demo(wide_console(), state, sites, port, duration, lang)
    except (ServeError, PkiError) as exc:
        raise OneLineError(exc.message_ko, exc.message_en) from None
    except (OptionError, ScenarioError) as exc:
        raise OneLineError(f"--state {state}: 시나리오를 만들 수 없습니다 — {exc.message_ko}",
                           f"--state {state}: cannot generate the scenario — {exc.message_en}") from None

"""``s24kit serve --fleet N``: N simulated sites on loopback, and the fleet CSV the console imports."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ...simulator.fleet import EXPECTED_FAILURE, Fleet, FleetOptions, build_fleet
from ...simulator.generator.context import OptionError
from ...simulator.generator.scenario import ScenarioError
from ...simulator.pki import PkiError
from ...simulator.serving import ServeError
from ..console.csvformat import write_fleet_csv
from .interrupt import stop_on_ctrl_c
from .usage import OneLineError


def write_fleet_files(fleet: Fleet, csv_path: Path) -> Path:
    """The fleet CSV at ``csv_path`` and, beside it, ``fleet.json``: every site's defect (the answer key the
    console never reads: tests, the benchmark and the demo compare the console's findings with it)."""
    write_fleet_csv(csv_path, ({**site.as_json(), "mode": "pull", "pull_url": site.url, "contact_name": "연계 담당",
                                "contact_phone": f"070-0000-{i % 10_000:04d}"} for i, site in enumerate(fleet.sites)))
    key = csv_path.with_name("fleet.json")
    key.write_text(json.dumps(fleet.answer_key(), ensure_ascii=False, indent=2), encoding="utf-8")
    return key


def serve_fleet(console: Console, state: Path, size: int, *, csv_path: Path | None, defect_share: float, seed: int,
                duration: float | None) -> None:
    """Build, serve and describe the fleet until Ctrl-C or ``duration``."""
    csv_path = csv_path if csv_path is not None else state / "fleet" / "sites.csv"
    try:
        fleet = build_fleet(FleetOptions(size, state, seed=seed, defect_share=defect_share))
    except (OptionError, ScenarioError) as exc:
        raise OneLineError(f"--state {state}: 시나리오를 만들 수 없습니다 — {exc.message_ko}",
                           f"--state {state}: cannot generate the scenario — {exc.message_en}") from None
    except PkiError as exc:
        raise OneLineError(exc.message_ko, exc.message_en) from None
    try:
        with stop_on_ctrl_c() as stop, fleet.serving():
            key = write_fleet_files(fleet, csv_path)
            _describe(console, fleet, csv_path, key)
            stop.wait(duration)
    except ServeError as exc:
        raise OneLineError(exc.message_ko, exc.message_en) from None
    except OSError as exc:
        raise OneLineError(f"--fleet-csv {csv_path}: 쓸 수 없습니다 ({exc.strerror})",
                           f"--fleet-csv {csv_path}: cannot write ({exc.strerror})") from None
    console.print("정상 종료 / stopped cleanly")


def _describe(console: Console, fleet: Fleet, csv_path: Path, key: Path) -> None:
    defects: dict[str, int] = {}
    for site in fleet.sites:
        defects[site.defect or "correct"] = defects.get(site.defect or "correct", 0) + 1
    table = Table(title=f"s24kit serve --fleet — {len(fleet.sites)} 사이트 / sites", title_justify="left")
    for column in ("결함 / defect", "사이트 / sites", "실패할 요구사항 / must fail"):
        table.add_column(column)
    for name, count in sorted(defects.items()):
        table.add_row(name, str(count), EXPECTED_FAILURE.get(name, "-"))
    console.print(table)
    certified = ", ".join(sorted("/".join(p) for p in fleet.certified))
    console.print(f"fleet CSV: {csv_path}\nanswer key: {key}\nscenario: {fleet.scenario}\n"
                  f"CA bundle: {fleet.pki.ca_cert}\ncertified: {certified}", highlight=False, soft_wrap=True)
    console.print("[dim]Ctrl-C 로 종료 / Ctrl-C to stop[/]")

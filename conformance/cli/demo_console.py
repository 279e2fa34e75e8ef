"""``s24kit demo --console``: a served fleet of simulated sites and the acceptance console on it, with the
fleet imported and one product version certified on the record — ready to run batches and decide.

What it does, in order: ``s24kit serve --fleet N`` in-process (most sites correct, a seeded share with one
defect each), a fresh console register in the state directory, an ``admin`` account whose password it prints
(no change asked at first login: a demo), the fleet CSV imported, a certification run (the full suite) of the
first product's certified version against one of its correct sites, and the approver's ``certified`` decision
signed over that run's evidence. Then it serves the console (with its workers) on loopback until Ctrl-C or
``--duration``. docs/console.md §15 describes what to try.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from ...simulator.fleet import PRODUCTS, Fleet, FleetOptions, build_fleet
from ...simulator.serving import ServeError, serving
from .fleet import write_fleet_files
from .interrupt import stop_on_ctrl_c
from .usage import OneLineError

DEMO_USERNAME = "admin"


def console_demo(console: Console, state: Path, sites: int, port: int, duration: float | None, lang: str) -> int:
    """Build, certify and serve; the exit code: 0 when the certification passed and was recorded."""
    from ..console import accounts
    from ..console.app import Settings, create_app
    from ..console.db import DATABASE_FILE, default_url, prepare
    from ..console.executor import RunSettings
    from ..console.worker import in_console

    fleet = build_fleet(FleetOptions(sites, state))
    for leftover in state.glob(DATABASE_FILE + "*"):  # the demo's own register of an earlier run
        leftover.unlink()
    database = prepare(default_url(state), state_dir=state)
    password = accounts.one_time_password()
    with fleet.serving():
        csv_path = write_fleet_csv_of(fleet, state)
        with console.status("콘솔 준비 / preparing the console: import, certification run (full suite)"):
            certified = _prepare_register(database, state, fleet, csv_path, password)
        settings = Settings(state, on_startup=[in_console(RunSettings(state), 4)])
        app = create_app(settings, database)
        try:
            with serving(app, port=port, name="console") as served:
                _describe(console, served.url, password, fleet, certified, csv_path, lang)
                with stop_on_ctrl_c() as stop:
                    stop.wait(duration)
        except ServeError as exc:
            raise OneLineError(exc.message_ko, exc.message_en) from None
    database.engine.dispose()
    return 0 if certified["verdict"] == "pass" else 1


def write_fleet_csv_of(fleet: Fleet, state: Path) -> Path:
    csv_path = state / "fleet" / "sites.csv"
    write_fleet_files(fleet, csv_path)
    return csv_path


def _prepare_register(database: Any, state: Path, fleet: Fleet, csv_path: Path, password: str) -> dict[str, Any]:
    from sqlalchemy import select

    from ..console import accounts, decisions, runs
    from ..console.audit import SYSTEM
    from ..console.executor import RunSettings
    from ..console.importing import import_sites
    from ..console.tables import product_versions, products, vendors
    from ..console.worker import Worker

    vendor, product, version, _ = PRODUCTS[0]
    reference = next(s for s in fleet.sites if s.defect is None and s.product_triple == (vendor, product, version))
    with database.engine.begin() as connection:
        admin = accounts.create_account(connection, SYSTEM, DEMO_USERNAME, "admin", password,
                                        must_change_password=False)
        import_sites(connection, admin.actor, csv_path.read_bytes())
        version_id = connection.execute(
            select(product_versions.c.id).join(products, products.c.id == product_versions.c.product_id)
            .join(vendors, vendors.c.id == products.c.vendor_id)
            .where(vendors.c.name == vendor, products.c.name == product, product_versions.c.version == version)
        ).scalar_one()
        run = runs.start_run(connection, admin.actor, {
            "kind": "certification", "product_version_id": version_id, "target_url": reference.url,
            "provider_code": reference.provider_code})
    Worker(database, RunSettings(state), threads=1, monitor=False).run_until_idle(max_jobs=1)
    with database.engine.begin() as connection:
        facts = decisions.run_facts(connection, run["id"])
        outcome = {"run_id": run["id"], "verdict": facts.verdict if facts else None,
                   "product": f"{vendor} {product} {version}", "version_id": version_id,
                   "reference": reference.provider_code}
        if facts is not None and facts.verdict == "pass":
            decided = decisions.decide(connection, admin.actor, "admin", state, subject_kind="product_version",
                                       subject_id=version_id, decision="certified", run=facts,
                                       reason="데모: 전체 시험 통과 / demo: the full suite passed")
            outcome["decision_id"] = decided["id"]
    return outcome


def _describe(console: Console, url: str, password: str, fleet: Fleet, certified: dict[str, Any], csv_path: Path,
              lang: str) -> None:
    ko = lang == "ko"
    defects = sum(1 for s in fleet.sites if s.defect)
    console.print(f"[bold]s24kit console[/]: {url}/", highlight=False)
    console.print(f"로그인 / log in: [bold]{DEMO_USERNAME}[/] / [bold]{password}[/]", highlight=False)
    console.print(f"{'사이트' if ko else 'sites'}: {len(fleet.sites)} ({'결함' if ko else 'with a defect'}: "
                  f"{defects}), CSV {csv_path}", highlight=False)
    verdict = certified["verdict"] or "error"
    console.print(f"{'인증 실행' if ko else 'certification run'} {certified['run_id']} ({certified['product']}, "
                  f"{certified['reference']}): {verdict}"
                  + (f" — {'인증됨, 결정' if ko else 'certified, decision'} {certified['decision_id']}"
                     if "decision_id" in certified else ""), highlight=False)
    console.print("[dim]Ctrl-C 로 종료 / Ctrl-C to stop[/]")



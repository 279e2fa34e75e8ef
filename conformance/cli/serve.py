"""``s24kit serve``: relay + insurers + the reference provider on loopback over mutual TLS.

With no options it generates a default scenario into the state directory, starts everything on fixed
ports, prints the URLs, the CA bundle and the certificate paths a connector needs, writes a sample claim,
and runs until Ctrl-C. ``--config FILE`` (TOML, see :mod:`s24kit.simulator.stack_config`) sets the rest.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ...simulator.private import private_file
from ...simulator.served import write_served
from ...simulator.tenancy import MAX_TENANTS
from .interrupt import stop_on_ctrl_c
from .params import InputFile, Loaded, OutputFile, OutputFolder, Seconds, writable_folder
from .usage import OneLineCommand, OneLineError, wide_console

if TYPE_CHECKING:  # the simulator and rich load when the command runs, not for its --help
    from rich.console import Console

    from ...simulator.stack import Stack
    from ...simulator.stack_config import ServeConfig

#: Relay workers of ``--relay-workers``: beyond a few per core they only contend for the database's write lock.
MAX_RELAY_WORKERS = 16


def ensure_scenario(config: ServeConfig, console: Console) -> Path:
    """The configured scenario, or the default one generated once into the state directory."""
    from ...simulator import scenario_files
    from ...simulator.generator.context import OptionError, Options
    from ...simulator.generator.scenario import ScenarioError, write_scenario

    if config.scenario is not None:
        if not scenario_files.exists(config.scenario / "expected" / "index.jsonl"):
            raise OneLineError(f"scenario: {config.scenario}은(는) s24kit generate 가 만든 시나리오가 아닙니다",
                               f"scenario: {config.scenario} is not a directory written by s24kit generate")
        return config.scenario
    target = config.state_dir / "scenario"
    if (target / "manifest.json").is_file():
        return target
    console.print(f"[dim]시나리오 생성 / generating a scenario ({config.patients} patients, seed {config.seed}) "
                  f"→ {target}[/]")
    try:
        write_scenario(target, Options(patients=config.patients, seed=config.seed).resolved(), force=True)
    except (OptionError, ScenarioError) as exc:
        raise OneLineError(f"state_dir {config.state_dir}: 시나리오를 만들 수 없습니다 — {exc.message_ko}",
                           f"state_dir {config.state_dir}: cannot generate the scenario — {exc.message_en}") from None
    return target


def build_stack(config: ServeConfig, console: Console, *, agent: bool = False, tenants: int = 0,
                relay_workers: int = 1) -> Stack:
    from ...simulator.provider import Scenario
    from ...simulator.stack import Stack, StackOptions

    if tenants and (agent or config.reference_mode == "agent"):
        raise OneLineError("--tenants: 벤더 서버는 pull 방식입니다 "
                           "(--agent 나 mode = \"agent\" 와 함께 쓸 수 없습니다)",
                           "--tenants: a vendor's server is pulled from (not with --agent or mode = \"agent\")")
    if tenants and config.reference_code:
        raise OneLineError("--tenants: 벤더 서버는 시나리오의 요양기관을 모두 대신합니다 "
                           "(reference code 를 지우십시오)",
                           "--tenants: a vendor's server answers for the scenario's providers (remove the "
                           "reference provider's code)")
    scenario = ensure_scenario(config, console)
    try:
        code = config.reference_code or Scenario.load(scenario).provider_code
        agents = [code] if agent or config.reference_mode == "agent" else []
        return Stack(StackOptions(scenario, config.state_dir, insurers=config.insurers,
                                  providers=None if tenants else [code], agents=agents, external=config.external,
                                  faults=config.faults, allowed_provider_hosts=config.allowed_provider_hosts,
                                  host=config.host, ports=config.ports(code), tenants=tenants,
                                  relay_workers=relay_workers,
                                  products={code: config.reference_product} if config.reference_product else {}))
    except ValueError as exc:
        raise OneLineError(f"시나리오를 쓸 수 없습니다: {exc}", f"cannot use the scenario: {exc}") from None


def write_sample_claim(stack: Stack) -> Path | None:
    """A claim of the scenario with a consent valid now, ready to POST to the relay."""
    for record in stack.claims():
        claim = stack.fresh_claim(record, f"sample-{stack.clock():%Y%m%d%H%M%S}")
        if claim is not None:
            path = stack.options.state_dir / "sample-claim.json"
            private_file(path)  # a synthetic person, but a person's fields: the owner's alone, as the state is
            path.write_text(json.dumps(claim, ensure_ascii=False, indent=2), encoding="utf-8")
            return path
    return None


def write_tenants(stack: Stack) -> Path:
    """``tenants.jsonl`` in the state directory: each clinic the vendor's server answers for, its base URL
    (what the relay registered) and the scenario provider it is a copy of (null: the scenario's own)."""
    path = stack.options.state_dir / "tenants.jsonl"
    private_file(path)
    with path.open("w", encoding="utf-8") as out:
        for tenant in stack.tenants:
            out.write(json.dumps({"provider_code": tenant.provider_code, "copy_of": tenant.copy_of,
                                  "base_url": stack.urls[f"provider:{tenant.provider_code}"]}) + "\n")
    return path


def describe(stack: Stack, sample: Path | None, console: Console) -> None:
    from rich.table import Table

    from ...simulator.provider.vendor import VENDOR
    from ...simulator.stack import journal_sources

    pki = stack.pki
    table = Table(title="s24kit serve — kit-v1 시뮬레이터 / simulator (mutual TLS)", title_justify="left")
    for column in ("역할 / party", "URL", "비고 / notes"):
        table.add_column(column, overflow="fold")
    workers = stack.options.relay_workers
    table.add_row("relay 중계기관", stack.urls["relay"], "claims, events, agent/poll, /__admin/"
                  + (f" — {workers} workers, one database" if workers > 1 else ""))
    table.add_row("register 중복가입 조회", stack.urls["register"], "lookups (insurer certificates only)")
    for name, url in stack.urls.items():
        if name.startswith("insurer:"):
            behaviour = stack.insurer_configs[name.split(":", 1)[1]].behaviour
            table.add_row(f"insurer 보험사 {name.split(':', 1)[1]}", url, f"behaviour {behaviour}")
        elif name == VENDOR:
            copies = sum(1 for t in stack.tenants if t.copy_of)
            table.add_row("vendor 벤더 서버", url + "/{provider_code}",
                          f"{len(stack.tenants)} provider codes ({copies} copies): {write_tenants(stack)}")
        elif name.startswith("provider:") and not stack.tenants:
            table.add_row(f"provider 요양기관 {name.split(':', 1)[1]}", url, "reference provider (pull)")
    for code in stack.options.agents:
        table.add_row(f"agent 에이전트 {code}", "→ " + stack.urls["relay"], "reference provider (agent mode)")
    for registration in stack.options.external:
        table.add_row(f"connector under test {registration.code}", registration.base_url or "(agent)",
                      f"{registration.mode} — registered with the relay")
    console.print(table)
    files = Table(show_header=False, box=None)
    files.add_row("CA bundle", str(pki.ca_cert))
    for role, note in (("relay-client", "the relay's client certificate (your connector must accept it)"),
                       ("provider-server", "a server certificate for your connector"),
                       ("provider-agent", "the client certificate of an agent"),
                       ("patient-app", "the patient app's certificate: claims to the relay"),
                       ("admin", "the admin certificate: /__admin/ routes")):
        files.add_row(role, f"{pki[role].cert}  {pki[role].key}", note)
    for code in sorted(stack.insurer_configs):  # what a load or script acting as that insurer presents
        client = pki.insurer_client(code)
        files.add_row(f"insurer {code}", f"{client.cert}  {client.key}",
                      f"insurer {code}'s client certificate: events from the relay, the register")
    if stack.processes is not None:  # a journal file per writing process, shown as one by the admin journal
        files.add_row("journal", "\n".join(str(source.path) for source in journal_sources(stack.options)),
                      "GET /__admin/journal: all of them as one")
    else:
        files.add_row("journal", str(stack.options.state_dir / "journal.sqlite"))
    files.add_row("security", "docs/security.md", "who may call each route / 경로별 호출 권한")
    console.print(files)
    if sample is not None:
        console.print("[bold]청구 보내기 / send a claim:[/]", highlight=False)
        console.print(_curl(stack, "patient-app", f"-H 'content-type: application/json' --data-binary "
                                                  f"@{shlex.quote(str(sample))} {stack.urls['relay']}/relay/v1/claims"),
                      highlight=False, soft_wrap=True)
        console.print("[bold]관리 API / admin API:[/]", highlight=False)
        console.print(_curl(stack, "admin", f"{stack.urls['relay']}/__admin/claims"), highlight=False, soft_wrap=True)
    console.print("[dim]Ctrl-C 로 종료 / Ctrl-C to stop[/]")


def _curl(stack: Stack, role: str, rest: str) -> str:
    pki = stack.pki
    return (f"curl --cacert {shlex.quote(str(pki.ca_cert))} --cert {shlex.quote(str(pki[role].cert))} "
            f"--key {shlex.quote(str(pki[role].key))} {rest}")


def warn_if_exposed(host: str, console: Console) -> None:
    """A loud warning when the listeners are reachable from other machines (anything but loopback)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        console.print(f"[bold red]경고: 모든 수신 포트가 {host} 에 열립니다 — 이 PC 밖에서도 접속할 수 있습니다. "
                      "시험용 인증서와 합성 데이터뿐이지만, 믿을 수 있는 망에서만 쓰십시오.\n"
                      f"WARNING: every listener binds {host}, reachable from other machines. Test certificates and "
                      "synthetic data only, but use it on a trusted network only.[/]", highlight=False)


@click.command("serve", cls=OneLineCommand)
@click.option("--config", "config_file", type=InputFile("toml"), help="TOML configuration file.")
@click.option("--state", "state_dir", type=OutputFolder(),
              help="State directory (certificates, databases, journal); default .s24kit.")
@click.option("--agent", is_flag=True, help="Run the reference provider in agent mode (outbound polling).")
@click.option("--duration", type=Seconds(min=0), help="Stop after this many seconds (default: Ctrl-C).")
@click.option("--processes", is_flag=True,
              help="Run each party (relay, each insurer, each provider or the vendor) in its own process "
                   "(docs/performance.md §4).")
@click.option("--relay-workers", type=click.IntRange(1, MAX_RELAY_WORKERS), default=1, show_default=True,
              metavar="N", help="--processes: N relay processes accepting on the relay's port over one database "
                                "(docs/performance.md §4).")
@click.option("--tenants", type=click.IntRange(1, MAX_TENANTS), default=None,
              help="Serve the reference provider as an EMR vendor's central server answering for this many "
                   "provider codes at /{provider_code}/s24/v1/… (docs/performance.md §3).")
@click.option("--fleet", "fleet_size", type=click.IntRange(1, 2000), metavar="N",
              help="Serve N simulated sites instead (one provider code each, a seeded share with one defect each) "
                   "and write the fleet CSV the console imports (docs/console.md §5).")
@click.option("--fleet-csv", type=OutputFile(), metavar="FILE",
              help="--fleet: where to write the CSV [default: STATE/fleet/sites.csv].")
@click.option("--defect-share", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="--fleet: share of sites given one defect each.")
@click.option("--seed", type=int, default=1, show_default=True, help="--fleet: seed of the defects and data.")
def serve(config_file: Loaded | None, state_dir: Path | None, agent: bool, duration: float | None,
          fleet_size: int | None, fleet_csv: Path | None, defect_share: float, seed: int,
          tenants: int | None, processes: bool, relay_workers: int) -> None:
    """시뮬레이터 실행 / run relay, insurers and the reference provider on loopback over mutual TLS."""
    from ...simulator.pki import PkiError
    from ...simulator.relay import ConfigError
    from ...simulator.serving import ServeError
    from ...simulator.stack_config import ServeConfig, serve_config_from
    from .fleet import serve_fleet

    console = wide_console()
    if fleet_size is None and (fleet_csv is not None or defect_share != 0.2 or seed != 1):
        raise OneLineError("--fleet-csv, --defect-share, --seed: --fleet N 과 함께만 씁니다",
                           "--fleet-csv, --defect-share, --seed: only with --fleet N")
    if relay_workers > 1 and not processes:
        raise OneLineError("--relay-workers: --processes 와 함께만 씁니다 (작업자마다 프로세스 하나)",
                           "--relay-workers: only with --processes (one process per worker)")
    if fleet_size is not None and (tenants is not None or processes):
        raise OneLineError("--tenants, --processes: --fleet 와 함께 쓸 수 없습니다",
                           "--tenants, --processes: cannot be combined with --fleet")
    if fleet_size is not None:
        if config_file is not None or agent:
            raise OneLineError("--fleet: --config, --agent 와 함께 쓸 수 없습니다",
                               "--fleet: cannot be combined with --config or --agent")
        state = state_dir if state_dir is not None else Path(".s24kit")
        writable_folder(state, "--state")
        serve_fleet(console, state, fleet_size, csv_path=fleet_csv, defect_share=defect_share, seed=seed,
                    duration=duration)
        return
    try:
        config = serve_config_from(config_file.value, config_file.path.parent) if config_file else ServeConfig()
    except ConfigError as exc:
        where = f"--config {config_file.path}: {exc.field}" if config_file else exc.field
        raise OneLineError(f"{where}: {exc.message_ko}", f"{where}: {exc.message_en}") from None
    if state_dir is not None:
        config.state_dir = state_dir
    else:
        writable_folder(config.state_dir, f"--config {config_file.path}: state_dir" if config_file else "--state")
    try:
        with stop_on_ctrl_c() as stop:  # a Ctrl-C while the stack starts stops it as soon as it is up
            stack = build_stack(config, console, agent=agent, tenants=tenants or 0, relay_workers=relay_workers)
            warn_if_exposed(config.host, console)
            with stack.network(processes=processes):
                write_served(stack.options.state_dir, stack.urls["relay"], stack.insurer_configs,
                             register_url=stack.urls["register"])
                describe(stack, write_sample_claim(stack), console)
                stop.wait(duration)
    except (ServeError, PkiError) as exc:
        raise OneLineError(exc.message_ko, exc.message_en) from None
    except OSError as exc:
        raise OneLineError(f"시작할 수 없습니다: {exc}", f"cannot start: {exc}") from None
    console.print("정상 종료 / stopped cleanly")

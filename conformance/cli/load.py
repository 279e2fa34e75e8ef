"""``s24kit load``: load a relay, a provider or a vendor's central server with Locust.

The kit supplies the user classes (``conformance/load/locustfile.py``) and each worker's share of a
generated scenario; Locust does the rest — its own process (gevent never touches this one), its
master/worker distribution, web UI, CSV and HTML reports. When a run ends here (alone, or as the master),
the kit reads Locust's CSV back and writes the summary against the national targets.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from ...simulator.served import served_insurers
from ..load.settings import TRAFFIC, Settings, locustfile
from ..load.summary import markdown, summarise
from ..load.workload import WorkloadError, busiest_provider, check_scenario, claim_providers, read_tenants
from .params import DEFAULT_STATE, InputFile, InputFolder, OutputFolder, Seconds, option_name
from .usage import OneLineCommand, OneLineError

EXIT_OK, EXIT_FAILURES = 0, 1
CSV_PREFIX = "locust"
RESULTS = "locust-final.json"


class TrafficFile(InputFile):
    """``FILE`` (for every traffic) or ``TRAFFIC=FILE`` (for one: ``patients=app.pem``) → ``(traffic, path)``."""

    name = "[traffic=]file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        traffic, sep, path = str(value).partition("=")
        if sep and traffic in TRAFFIC:
            return traffic, super().convert(path, param, ctx)
        if sep and re.fullmatch(r"[a-z]+", traffic) and not Path(value).exists():  # not a file named with "="
            option, known = option_name(param), ", ".join(TRAFFIC)
            raise OneLineError(f"{option} {traffic}=…: 알 수 없는 트래픽입니다 ({known} 중 하나)",
                               f"{option} {traffic}=…: unknown traffic (one of {known})")
        return None, super().convert(value, param, ctx)


def _per_traffic(option: str, given: tuple[tuple[str | None, Path], ...], traffic: list[str]) -> dict[str, str]:
    """Each chosen traffic's file of ``option``: its own (``TRAFFIC=FILE``), else the one for every traffic."""
    for_all = [path for kind, path in given if kind is None]
    own: dict[str, Path] = {}
    for kind, path in given:
        if kind is None:
            continue
        if kind not in traffic:
            raise OneLineError(f"{option} {kind}=…: --traffic {kind} 를 고르지 않았습니다",
                               f"{option} {kind}=…: --traffic {kind} is not chosen")
        if kind in own:
            raise OneLineError(f"{option} {kind}=… 가 두 번 주어졌습니다", f"{option} {kind}=… is given twice")
        own[kind] = path
    if len(for_all) > 1:
        raise OneLineError(f"{option} FILE 이 두 번 주어졌습니다: 트래픽마다 {option} patients=FILE 처럼 주십시오",
                           f"{option} FILE is given twice: name each one's traffic ({option} patients=FILE)")
    out = {}
    for kind in traffic:
        path = own.get(kind) or (for_all[0] if for_all else None)
        if path is None:
            raise OneLineError(f"{option}: {kind} 트래픽의 파일이 없습니다 ({option} {kind}=FILE 또는 모든 트래픽에 "
                               f"{option} FILE)",
                               f"{option}: no file for the {kind} traffic (give {option} {kind}=FILE, or one "
                               f"{option} FILE for every traffic)")
        out[kind] = str(path.absolute())
    return out


def _certificates(traffic: list[str], state: Path | None, ca: Path | None,
                  certs: tuple[tuple[str | None, Path], ...],
                  keys: tuple[tuple[str | None, Path], ...]) -> tuple[str, dict[str, tuple[str, str]]]:
    """The CA and each traffic's client certificate: ``--ca/--cert/--key`` (a certificate for every traffic or
    one per traffic: a patient app's and an agent's are of different roles; the CA may come from ``--state``),
    or the state's PKI."""
    roles = [TRAFFIC[t][1] for t in traffic]
    if ca is None and state is not None and (certs or keys):
        ca = state / "pki" / "ca.pem"
    if certs or keys or ca:
        if not (certs and keys and ca and ca.is_file()):
            raise OneLineError("--cert 와 --key 는 함께, --ca 나 pki/ca.pem 이 있는 --state 와 함께 주어야 합니다",
                               "--cert and --key go together, with --ca or a --state holding pki/ca.pem "
                               "(or give none of them, with --state)")
        cert_of, key_of = _per_traffic("--cert", certs, traffic), _per_traffic("--key", keys, traffic)
        for kind in traffic:
            _usable_pair(kind, cert_of[kind], key_of[kind])
        return str(ca.absolute()), {TRAFFIC[t][1]: (cert_of[t], key_of[t]) for t in traffic}
    pki = (state or DEFAULT_STATE) / "pki"
    files = {"patient-app": "patient-app", "relay": "relay-client", "provider-agent": "provider-agent"}
    found = {role: (pki / f"{files[role]}.pem", pki / f"{files[role]}.key") for role in roles}
    missing = [str(p) for pair in found.values() for p in pair if not p.is_file()]
    if not (pki / "ca.pem").is_file() or missing:
        absent = ", ".join(missing) or pki / "ca.pem"
        where_ko, where_en = ((f"--state {state}",) * 2 if state else
                              (f"{DEFAULT_STATE} (s24kit serve 의 기본 상태 폴더)",
                               f"{DEFAULT_STATE} (the default state folder of s24kit serve)"))
        raise OneLineError(f"{where_ko}: 시험 인증서가 없습니다 ({absent}): "
                           f"s24kit serve 의 --state 폴더를 주거나 --ca/--cert/--key 를 주십시오",
                           f"{where_en}: no test certificates ({absent}); name the "
                           f"--state folder of s24kit serve, or give --ca/--cert/--key")
    return str((pki / "ca.pem").absolute()), {r: (str(c.absolute()), str(k.absolute())) for r, (c, k) in found.items()}


def _usable_pair(traffic: str, cert: str, key: str) -> None:
    """Refuse before the run a certificate and key that TLS cannot use together (each user would fail its first
    handshake as ``transport:tls``, with the cause nowhere)."""
    from ..tls.pair import pair_refusal

    if (refusal := pair_refusal(cert, key)) is not None:
        why_ko, why_en = refusal
        raise OneLineError(f"--cert/--key ({traffic}) {cert} {key}: 함께 쓸 수 없습니다: {why_ko} — "
                           f"PEM 인증서와 그 인증서의 개인 키를 주십시오",
                           f"--cert/--key ({traffic}) {cert} {key}: cannot be used together: {why_en}; give a PEM "
                           f"certificate and its own private key")


def _providers(scenario: Path, given: tuple[str, ...]) -> list[str] | None:
    """The providers whose claims are sent (None: all), each checked against the scenario's claims."""
    try:
        check_scenario(scenario)
        if "all" in given:
            return None
        if not given:
            return [busiest_provider(scenario)]
    except WorkloadError as exc:
        raise OneLineError(f"--scenario {exc.message_ko}", f"--scenario {exc.message_en}") from None
    known = claim_providers(scenario)
    unknown = sorted(set(given) - known)
    if unknown:
        some = ", ".join(sorted(known)[:5]) + (" …" if len(known) > 5 else "")
        raise OneLineError(f"--provider {', '.join(unknown)}: 시나리오에 이 요양기관의 청구가 없습니다 "
                           f"(있는 요양기관: {some}; 또는 --provider all)",
                           f"--provider {', '.join(unknown)}: the scenario has no claim of this provider "
                           f"(its providers: {some}; or --provider all)")
    return sorted(set(given))


def _check_tenants(tenants_file: Path | None, wanted: list[str] | None, target: str | None) -> None:
    """``--tenants`` spreads every provider's claims over its clinics: it needs ``--provider all``."""
    if tenants_file is None:
        return
    if wanted is not None:
        raise OneLineError("--tenants: --provider all 과 함께 씁니다 (모든 요양기관의 청구를 그 사본들에 보냄)",
                           "--tenants: give --provider all with it (every provider's claims, sent to its copies)")
    if target is not None and "{provider}" not in target:
        raise OneLineError("--tenants: --target 에 {provider} 가 필요합니다 (예: https://127.0.0.1:18450/{provider})",
                           "--tenants: --target needs {provider} (e.g. https://127.0.0.1:18450/{provider})")
    try:
        read_tenants(tenants_file)
    except WorkloadError as exc:
        raise OneLineError(f"--tenants {exc.message_ko}", f"--tenants {exc.message_en}") from None


def _served_insurers(state: Path | None, ca: Path | None) -> list[str] | None:
    """The insurers the kit's relay serves (``s24kit serve`` writes them in its state); None: not known, every
    insurer of each claim. A relay that is not the kit's (``--ca`` …) is told by ``--insurer``."""
    if ca is not None:
        return None
    return served_insurers(state or DEFAULT_STATE)


def _locust_command(traffic: list[str], out: Path, target: str | None, users: int, spawn_rate: float | None,
                    run_time: float, workers: int, role: str, master_host: str, master_port: int, web: bool,
                    extra: tuple[str, ...]) -> list[str]:
    command = [sys.executable, "-m", "locust", "-f", str(locustfile()), "--loglevel", "WARNING"]
    if role == "worker":
        return [*command, "--worker", "--master-host", master_host, "--master-port", str(master_port), *extra,
                *(TRAFFIC[t][0] for t in traffic)]
    command += ["--host", target or "", "-u", str(users), "-r", f"{spawn_rate or users:g}",
                "--csv", str(out / CSV_PREFIX), "--html", str(out / "report.html")]
    # the web UI on loopback only (Locust binds every interface otherwise); it quits when the run ends, so
    # the kit's summary is written as without it
    command += ["--autostart", "--autoquit", "0", "--web-host", "127.0.0.1"] if web else ["--headless"]
    command += ["-t", f"{run_time:g}s"]
    if role == "master":
        command += ["--master", "--master-bind-host", master_host, "--master-bind-port", str(master_port),
                    "--expect-workers", str(workers), "--expect-workers-max-wait", "120"]
    elif workers > 1:
        command += ["--processes", str(workers)]
    return [*command, *extra, *(TRAFFIC[t][0] for t in traffic)]


@click.command("load", cls=OneLineCommand)
@click.option("--traffic", "traffic", multiple=True, type=click.Choice(sorted(TRAFFIC)),
              help="patients (→ a relay), relay (→ a provider or vendor server), agents (→ a relay); "
                   "repeat for several. Default: patients.")
@click.option("--target", metavar="URL",
              help="Base URL of the target (it may carry a base path); {provider} in it is replaced by each claim's "
                   "provider code: give --provider all (and --tenants for a vendor's clinics).")
@click.option("--scenario", type=InputFolder(), required=True,
              help="Scenario of s24kit generate (the same seed on every machine of a run).")
@click.option("--state", type=InputFolder(), help="State folder of s24kit serve: its pki/ (default .s24kit).")
@click.option("--ca", type=InputFile("text"), help="CA bundle that signed the target's certificate.")
@click.option("--cert", "certs", type=TrafficFile("text"), multiple=True,
              help="Client certificate (PEM) for every traffic chosen, or TRAFFIC=FILE for one (patients=, relay=, "
                   "agents=; repeat): a mixed run needs a certificate of each role.")
@click.option("--key", "keys", type=TrafficFile("text"), multiple=True,
              help="Its private key (PEM), the same way (FILE, or TRAFFIC=FILE).")
@click.option("--provider", "providers", multiple=True, metavar="CODE",
              help="Send the claims of this provider (repeat; 'all': every provider). Default: the provider "
                   "with the most visits, the one s24kit serve serves.")
@click.option("--insurer", "insurers", multiple=True, metavar="CODE",
              help="Address claims only to this insurer (repeat): the insurers the target relay knows. "
                   "Default: every insurer of each claim.")
@click.option("--tenants", "tenants_file", type=InputFile("text"), metavar="FILE",
              help="tenants.jsonl of s24kit serve --tenants N (in its --state): with --provider all, each claim "
                   "goes to every clinic the vendor's server answers for (a {provider} target).")
@click.option("--users", "-u", type=click.IntRange(1, 100_000), default=10, show_default=True,
              help="Concurrent Locust users (in all).")
@click.option("--spawn-rate", "-r", type=Seconds(min=0.01), help="Users started per second (default: all at once).")
@click.option("--run-time", "-t", type=Seconds(min=1, max=30 * 86400), default=60, show_default=True,
              help="Seconds the run lasts.")
@click.option("--claims", type=click.IntRange(1), help="Claims in all (split between the workers); then users stop.")
@click.option("--workers", type=click.IntRange(1, 1024), default=1, show_default=True,
              help="Worker processes: here (with neither --master nor --worker), or expected by --master; give "
                   "every --worker of the run the same number (the scenario is split in that many parts).")
@click.option("--master", "role", flag_value="master", help="Be the master of workers on other machines.")
@click.option("--worker", "role", flag_value="worker", help="Be a worker of the --master-host master.")
@click.option("--master-host", default="127.0.0.1", show_default=True,
              help="Address the master binds (--master) or connects to (--worker).")
@click.option("--master-port", type=click.IntRange(1, 65535), default=5557, show_default=True)
@click.option("--web", is_flag=True, help="Keep Locust's web UI (http://127.0.0.1:8089) open during the run.")
@click.option("--out", type=OutputFolder(), default="load-report", show_default=True,
              help="Folder for Locust's CSV and HTML reports and the kit's summary.")
@click.option("--record-ids", is_flag=True, help="Each worker writes the request ids it sent to OUT/ids/.")
@click.option("--poll-wait", type=Seconds(min=0, max=60), default=20, show_default=True,
              help="Seconds of each long poll (claim status, agent poll).")
@click.argument("locust_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- LOCUST OPTIONS]")
def load(traffic: tuple[str, ...], target: str | None, scenario: Path, state: Path | None, ca: Path | None,
         certs: tuple[tuple[str | None, Path], ...], keys: tuple[tuple[str | None, Path], ...],
         providers: tuple[str, ...], insurers: tuple[str, ...], users: int,
         spawn_rate: float | None,
         run_time: float, claims: int | None, workers: int, role: str | None, master_host: str, master_port: int,
         web: bool, out: Path, record_ids: bool, poll_wait: float, tenants_file: Path | None,
         locust_args: tuple[str, ...]) -> None:
    """부하 시험 (Locust) / load a relay, provider or vendor server with Locust.

    Patients submitting claims and long-polling their status, the relay pulling documents, provider agents
    polling — from a generated scenario, split so that no two workers send the same patient or request id.
    The summary (OUT/summary.md, .json) sets completed claims/s against the national average (3/s), the
    peak (30/s) and ten times the peak (300/s), with failures by problem code. Exit 0: no failure; 1:
    failures (see the summary); 2: bad options.
    """
    chosen = list(dict.fromkeys(traffic)) or ["patients"]
    if role != "worker" and not target:
        raise OneLineError("--target 이 필요합니다 (예: https://127.0.0.1:18443)",
                           "--target is required (e.g. https://127.0.0.1:18443)")
    ca_file, certificates = _certificates(chosen, state, ca, certs, keys)
    agent_provider = None
    wanted = _providers(scenario, providers)
    _check_tenants(tenants_file, wanted, target)
    served = sorted(set(insurers)) or _served_insurers(state, ca)
    if "agents" in chosen:
        agent_provider = wanted[0] if wanted else busiest_provider(scenario)
    out = out.absolute()
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS
    results.unlink(missing_ok=True)  # a summary must never come from an earlier run
    settings = Settings(scenario=str(scenario.absolute()), ca=ca_file, certificates=certificates, providers=wanted,
                        insurers=served, tenants=str(tenants_file.absolute()) if tenants_file else None,
                        workers=workers, run=time.strftime("%H%M%S"), claims=claims,
                        results=str(results), record_ids=str(out / "ids") if record_ids else None,
                        poll_wait=poll_wait,
                        agent_provider=agent_provider)
    command = _locust_command(chosen, out, target, users, spawn_rate, run_time, workers, role or "local",
                              master_host, master_port, web, locust_args)
    try:
        finished = subprocess.run(command, env=os.environ | settings.to_environment(), check=False)
    except KeyboardInterrupt:
        raise OneLineError("중단되었습니다", "interrupted", 130) from None
    if role == "worker":
        sys.exit(finished.returncode)
    if not results.is_file():
        raise OneLineError(f"Locust 가 결과를 남기지 않았습니다 (종료 코드 {finished.returncode}): "
                           "위의 Locust 출력을 보십시오",
                           f"Locust left no results (exit {finished.returncode}); see Locust's output above",
                           EXIT_FAILURES)
    summary = summarise(results, chosen)
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    text = markdown(summary)
    (out / "summary.md").write_text(text, encoding="utf-8")
    click.echo(text)
    click.echo(f"보고서 / reports: {out / 'report.html'}, {out / 'summary.md'}, {out / CSV_PREFIX}_*.csv")
    failed = any(h["failed"] for h in summary["headlines"]) or bool(summary["failures_by_problem"]) \
        or bool(summary["nothing_completed"]) or bool(summary["run_errors"])  # a run that sent nothing measured nothing
    sys.exit(EXIT_FAILURES if failed else EXIT_OK)


"""``s24kit doctor``: layer-by-layer connection diagnosis toward a provider, or (--outbound) toward the relay."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .params import InputFile, Seconds
from .usage import OneLineCommand, OneLineError

if TYPE_CHECKING:
    from rich.console import Console

    from ..net.doctor import DoctorOptions, DoctorReport, Layer

SYMBOLS = {"ok": "[green]✓[/]", "fail": "[red]✗[/]", "warn": "[yellow]![/]", "skip": "[dim]–[/]"}
RELAY_ENV = "S24KIT_RELAY"


@click.command("doctor", cls=OneLineCommand)
@click.argument("target", required=False, metavar="[TARGET]")
@click.option("--outbound", is_flag=True,
              help="Diagnose from the clinic's side toward the relay (--relay URL) instead of toward TARGET.")
@click.option("--relay", metavar="URL", envvar=RELAY_ENV, help=f"The relay's URL for --outbound (env {RELAY_ENV}).")
@click.option("--timeout", type=Seconds(0.1, 120), default=3.0, show_default=True,
              help="Seconds allowed per layer (a filtered port is diagnosed after this long).")
@click.option("--ca", "ca", metavar="FILE", type=InputFile(),
              help="CA bundle that must verify the server (default: system store).")
@click.option("--cert", metavar="FILE", type=InputFile(),
              help="Client certificate (PEM) to present: the relay's, or the agent's.")
@click.option("--key", metavar="FILE", type=InputFile(), help="Private key of --cert (PEM), if not in the same file.")
@click.option("--server-name", metavar="NAME", help="Name to verify and send as SNI (default: the host of the URL).")
@click.option("--expect-source", metavar="IP", help="With --outbound: the source address registered with the relay.")
@click.option("--tls-checks/--no-tls-checks", default=None,
              help="Run the full TLS check set at the TLS layers (default: on toward TARGET, off with --outbound).")
@click.option("--health-path", default="/s24/v1/health", show_default=True, help="Path of the kit-v1 health answer.")
@click.option("--lang", type=click.Choice(["ko", "en"]), default="ko", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def doctor(ctx: click.Context, target: str | None, outbound: bool, relay: str | None, timeout: float, ca: Path | None,
           cert: Path | None, key: Path | None, server_name: str | None, expect_source: str | None,
           tls_checks: bool | None, health_path: str, lang: str, fmt: str) -> None:
    """연결 진단 / layered connection diagnosis: DNS → TCP → TLS → certificate → mTLS → HTTP → health.

    TARGET is https://host:port or host:port (the provider's endpoint, seen from the relay). With --outbound
    the relay's endpoint (--relay or TARGET) is diagnosed from this machine, ending with the source address
    the relay sees. Exit 0: all good; 1: a layer is broken; 2: usage error; 3: unreachable (DNS or TCP).
    """
    from ..net.doctor import run_doctor  # here, not at the top: `s24kit doctor --help` loads no TLS machinery

    options = _options(target, outbound, relay, timeout, ca, cert, key, server_name, expect_source, tls_checks,
                       health_path)
    report = run_doctor(options)
    if fmt == "json":
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        _print(report, lang)
    ctx.exit(report.exit_code)


def _options(target: str | None, outbound: bool, relay: str | None, timeout: float, ca: Path | None,
             cert: Path | None, key: Path | None, server_name: str | None, expect_source: str | None,
             tls_checks: bool | None, health_path: str) -> DoctorOptions:
    from ..net.doctor import DoctorOptions

    url = (relay or target) if outbound else target
    if not url:
        if outbound:
            raise OneLineError(f"--outbound에는 중계기관 주소가 필요합니다: --relay URL (또는 환경 변수 {RELAY_ENV})",
                               f"--outbound needs the relay's address: --relay URL (or env {RELAY_ENV})")
        raise OneLineError("진단할 주소가 필요합니다: s24kit doctor https://host:port",
                           "give the address to diagnose: s24kit doctor https://host:port")
    _check_url(url)
    if expect_source is not None:
        if not outbound:
            raise OneLineError("--expect-source는 --outbound와 함께만 씁니다",
                               "--expect-source only applies with --outbound")
        try:
            expect_source = str(ipaddress.ip_address(expect_source))
        except ValueError:
            raise OneLineError(f"--expect-source 값 {expect_source!r}은(는) IP 주소가 아닙니다 (예: 203.0.113.10)",
                               f"--expect-source {expect_source!r} is not an IP address (e.g. 203.0.113.10)") from None
    if key and not cert:
        raise OneLineError("--key는 --cert와 함께 주어야 합니다", "--key needs --cert")
    _check_credentials(ca, cert, key)
    if not health_path.startswith("/"):
        raise OneLineError(f"--health-path는 /로 시작해야 합니다 (받은 값 {health_path!r})",
                           f"--health-path must start with / (got {health_path!r})")
    return DoctorOptions(url, outbound=outbound, timeout=timeout, anchors=ca, client_cert=cert,
                         client_key=key, server_name=server_name, expect_source=expect_source,
                         tls_checks=(not outbound) if tls_checks is None else tls_checks, health_path=health_path)


def _check_url(url: str) -> None:
    from ..net.target import NetTarget

    example = "https://clinic.example:8443"
    if "://" in url and not url.lower().startswith("https://"):
        raise OneLineError(f"주소 {url!r}: kit-v1은 HTTPS만 씁니다 (예: {example})",
                           f"address {url!r}: kit-v1 uses HTTPS only (e.g. {example})")
    try:
        NetTarget.from_url(url)
    except ValueError:
        raise OneLineError(f"주소 {url!r}을(를) 해석할 수 없습니다: https://호스트:포트 또는 호스트:포트 "
                           f"(예: {example})",
                           f"cannot parse the address {url!r}: use https://host:port or host:port "
                           f"(e.g. {example})") from None


def _check_credentials(anchors: Path | None, cert: Path | None, key: Path | None) -> None:
    """Load the files once here, so a wrong file is a usage error (exit 2), not a diagnosis."""
    import ssl

    from ..tls.pair import pair_refusal

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if anchors is not None:
        try:
            context.load_verify_locations(cafile=str(anchors))
        except (ssl.SSLError, ValueError) as exc:
            raise OneLineError(f"--ca {anchors}은(는) PEM 형식 CA 인증서가 아닙니다 ({exc})",
                               f"--ca {anchors} is not a PEM CA certificate ({exc})") from None
    if cert is not None and (refusal := pair_refusal(cert, key)) is not None:
        raise OneLineError(f"--cert/--key를 쓸 수 없습니다: PEM 인증서와 짝이 맞는 개인 키가 필요합니다 ({refusal[0]})",
                           f"cannot use --cert/--key: a PEM certificate and its matching private key are needed "
                           f"({refusal[1]})")


def _print(report: DoctorReport, lang: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..net.doctor import NOT_REACHED

    ko = lang == "ko"
    console = Console()
    if not console.is_terminal:  # piped: wide enough that rows stay whole
        console = Console(width=160)
    side = ("클리닉 → 중계기관" if ko else "clinic → relay") if report.options.outbound else (
        "중계기관 → 요양기관" if ko else "relay → provider")
    table = Table(title=f"s24kit doctor: {report.options.url} ({side})", title_justify="left")
    for ko_head, en_head in (("계층", "Layer"), ("결과", "Result"), ("시간", "Time"), ("내용", "Details")):
        table.add_column(ko_head if ko else en_head, overflow="fold")
    for layer in report.layers:
        shown = NOT_REACHED[0] if ko and layer.detail == NOT_REACHED[1] else layer.detail
        if layer.diagnosis is not None:
            shown = f"{layer.diagnosis.title(lang)}\n[dim]{shown}[/]" if shown else layer.diagnosis.title(lang)
        time_shown = f"{layer.elapsed_ms:,.0f} ms" if layer.elapsed_ms else ""
        table.add_row(layer.title(lang), SYMBOLS[layer.status], time_shown, shown)
    console.print(table)
    for layer in report.layers:
        _print_problems(console, layer, lang)
    console.print(_summary(report, lang), highlight=False)


def _print_problems(console: Console, layer: Layer, lang: str) -> None:
    ko = lang == "ko"
    if layer.diagnosis is not None and layer.status in ("fail", "warn"):
        console.print(f"{SYMBOLS[layer.status]} [bold]{layer.title(lang)}[/]: {layer.diagnosis.title(lang)}",
                      highlight=False)
        console.print(f"   {'조치' if ko else 'Remedy'}: {layer.diagnosis.remedy(lang)}", highlight=False,
                      soft_wrap=True)
    for result in layer.checks:
        # A failed S24-NET check is the layer's own diagnosis, printed above; list the TLS checks only.
        if result.verdict not in ("fail", "warn") or result.requirement.startswith("S24-NET-"):
            continue
        item = result.as_json()
        title = item["title_ko"] if ko else item["title_en"]
        console.print(f"   {SYMBOLS[result.verdict]} {item['requirement']} {title}: {item.get('reason', '')}",
                      highlight=False, soft_wrap=True)
        console.print(f"      {'조치' if ko else 'Remedy'}: {item['remedy_ko' if ko else 'remedy_en']}",
                      highlight=False, soft_wrap=True)


def _summary(report: DoctorReport, lang: str) -> str:
    ko = lang == "ko"
    stopped = next((layer for layer in report.layers if layer.blocking), None)
    tail = (f"종료 코드 {report.exit_code}" if ko else f"exit code {report.exit_code}") + \
        f", {report.elapsed_ms / 1000:.2f} s"
    failing = sum(1 for layer in report.layers if layer.status == "fail")
    if stopped is not None:
        where = stopped.title(lang)
        text = f"진단: '{where}' 계층에서 막혔습니다" if ko else f"Diagnosis: broken at the '{where}' layer"
        return f"[red]{text}[/] ({tail})"
    if failing:
        text = (f"연결은 되지만 문제가 있는 계층 {failing}개" if ko
                else f"Connected, but {failing} layer(s) have problems")
        return f"[yellow]{text}[/] ({tail})"
    return f"[green]{'모든 계층이 정상입니다' if ko else 'Every layer is fine'}[/] ({tail})"

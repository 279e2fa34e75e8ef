"""The ``s24kit`` command line: one module per command in this package, each imported only when run.

``s24kit --help`` lists the commands from :data:`_LazyGroup.summaries` without importing any of them, and
each command module imports what its work needs inside the command, so ``s24kit X --help`` loads click
and little else (``tests/test_cli_startup.py`` counts the modules).
"""

from __future__ import annotations

import importlib
from typing import ClassVar

import click

from ...schemas.profile import PROFILE
from .usage import OneLineGroup


def _kit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # only for --version: it loads ~50 modules

    try:
        return version("silson24-kit")
    except PackageNotFoundError:
        return "0+unknown"


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"s24kit {_kit_version()} (profile {PROFILE})")
        ctx.exit()


class _LazyGroup(OneLineGroup):
    """Commands defined in other modules are imported only when run (or asked for their own help), so a
    command does not pay for the start-up of all the others (doctor is meant to answer within seconds)."""

    lazy: ClassVar[dict[str, str]] = {
        "catalogue": "catalogue:catalogue", "check": "check:check", "console": "console:console",
        "demo": "demo:demo", "doctor": "doctor:doctor", "generate": "generate:generate", "load": "load:load",
        "payout": "payout:payout", "pki": "pki:pki", "report": "report:report",
        "rules": "rules:rules_command", "serve": "serve:serve", "validate": "validate:validate_command"}
    #: The first line of each command's help, as ``s24kit --help`` lists it (a test keeps them equal).
    summaries: ClassVar[dict[str, str]] = {
        "catalogue": "요구사항 목록 / the requirement catalogue (suite kit-v1).",
        "check": "적합성 시험: 공급자 연계 모듈을 중계기관 입장에서 검사 / "
                 "run the conformance suite against a provider.",
        "console": "검수 콘솔 / the acceptance console: register, site checks, decisions (web pages and a JSON API).",
        "demo": "데모: 시뮬레이터 + 적합성 시험 전체 / the whole kit end to end on loopback (no configuration).",
        "doctor": "연결 진단 / layered connection diagnosis: DNS → TCP → TLS → certificate → mTLS → HTTP → health.",
        "generate": "합성 시나리오 생성: EMR 적재 자료, 기대 서류, 청구, 계약 / write a synthetic scenario.",
        "load": "부하 시험 (Locust) / load a relay, provider or vendor server with Locust.",
        "payout": "보험금 산정 (가상 보험사 지급 엔진) / payout engine of the fake insurers (docs/domain.md §4).",
        "pki": "시험용 인증서: 보기, 서버 인증서 발급, 내보내기 / the kit's test certificates: show, issue, export.",
        "report": "보고서 검증과 변환 / "
                  "verify evidence bundles, render reports, rebuild a reproduction's request body.",
        "rules": "서류 규칙 목록 / list the document rules (S24-DOC-nnn) of profile kit-v1.",
        "serve": "시뮬레이터 실행 / run relay, insurers and the reference provider on loopback over mutual TLS.",
        "validate": "서류 검사 / check kit-v1 documents or bundles (JSON, JSON Lines, or directories of them)."}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, attr = self.lazy[name].split(":")
            self.add_command(getattr(importlib.import_module(f"{__package__}.{module}"), attr), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Click's own listing, from the summaries of the commands not imported yet."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.commands or name not in self.summaries:
                command = self.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:
                rows.append((name, click.Command(name, help=self.summaries[name]).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group("s24kit", cls=_LazyGroup)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
              help="Show the version and exit.")
def main() -> None:
    """silson24-kit: 실손24 연계 적합성 시험 도구 / conformance kit for 실손24 (reference profile kit-v1)."""

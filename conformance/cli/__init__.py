"""The ``s24kit`` command line: one module per command in this package, each imported only when run."""

from __future__ import annotations

import importlib
from typing import ClassVar

import click

from ...schemas.loader import PROFILE
from .usage import OneLineGroup


def _kit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("silson24-kit")
    except PackageNotFoundError:
        return "0+unknown"


class _LazyGroup(OneLineGroup):
    """Commands defined in other modules are imported only when run (or listed in --help), so a command
    does not pay for the start-up of all the others (doctor is meant to answer within seconds)."""

    lazy: ClassVar[dict[str, str]] = {
        "catalogue": "catalogue:catalogue", "check": "check:check", "console": "console:console",
        "demo": "demo:demo", "doctor": "doctor:doctor",
        "generate": "generate:generate", "payout": "payout:payout", "pki": "pki:pki", "report": "report:report",
        "rules": "rules:rules_command", "serve": "serve:serve", "validate": "validate:validate_command"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, attr = self.lazy[name].split(":")
            self.add_command(getattr(importlib.import_module(f"{__package__}.{module}"), attr), name)
        return super().get_command(ctx, name)


@click.group("s24kit", cls=_LazyGroup)
@click.version_option(_kit_version(), prog_name="s24kit", message=f"%(prog)s %(version)s (profile {PROFILE})")
def main() -> None:
    """silson24-kit: 실손24 연계 적합성 시험 도구 / conformance kit for 실손24 (reference profile kit-v1)."""

"""One-line usage errors for every ``s24kit`` command: Korean and English, exit 2, never a traceback."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

EXIT_USAGE = 2


class OneLineError(click.ClickException):
    """A usage or configuration error shown as a single Korean / English line."""

    exit_code = EXIT_USAGE

    def __init__(self, message_ko: str, message_en: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message_en)
        self.message_ko, self.message_en, self.exit_code = message_ko, message_en, exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"오류: {self.message_ko} / error: {self.message_en}", err=True)


class OneLineCommand(click.Command):
    """Turns click's own parsing errors (unknown option, missing value …) into one line too."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            name = f"s24kit {info_name or self.name}"
            raise OneLineError(f"명령행이 잘못되었습니다: {exc.format_message()} (도움말: {name} --help)",
                               f"{exc.format_message()} (see {name} --help)") from None


def wide_console() -> Console:
    """A console for people: wrapped to the terminal, or wide when piped so that lines stay whole."""
    console = Console()
    return console if console.is_terminal else Console(width=200)

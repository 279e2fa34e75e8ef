"""One-line errors for every ``s24kit`` command: Korean and English on one line of stderr, never a traceback.

Every command is a :class:`OneLineCommand` and every group a :class:`OneLineGroup`; click's own usage errors
(unknown option or command, missing or bad value, bad choice, number out of range) become one line naming
the option and pointing at ``--help`` instead of click's usage block. Exit codes shared by all commands:
``2`` usage, configuration or unusable input; ``3`` target unreachable (commands that reach one say so);
``70`` internal error — a kit defect, shown as one line asking for a report (the traceback only with
``S24KIT_TRACEBACK=1``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from rich.console import Console

EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE of sysexits.h
TRACEBACK_ENV = "S24KIT_TRACEBACK"
HELP_OPTIONS = ["-h", "--help"]
_KIT = Path(__file__).resolve().parents[2]  # the folder holding conformance/, simulator/, schemas/


class OneLineError(click.ClickException):
    """A usage or configuration error shown as a single Korean / English line."""

    exit_code = EXIT_USAGE

    def __init__(self, message_ko: str, message_en: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message_en)
        self.message_ko, self.message_en, self.exit_code = message_ko, message_en, exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"오류: {self.message_ko} / error: {self.message_en}", err=True)


class _OneLine:
    """What every command and group of the kit shares: one-line usage errors and a last-resort handler."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["context_settings"] = {"help_option_names": HELP_OPTIONS, **(kwargs.get("context_settings") or {})}
        super().__init__(*args, **kwargs)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)  # type: ignore[misc]
        except click.UsageError as exc:
            raise one_line_usage(exc, self, info_name, parent) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except click.UsageError as exc:  # raised by a command body, or by a plain click subcommand
            raise one_line_usage(exc, self, ctx.info_name, ctx.parent) from None

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)  # type: ignore[misc]
        except Exception as exc:
            if not standalone_mode or os.environ.get(TRACEBACK_ENV):
                raise
            internal_error(exc)


class OneLineCommand(_OneLine, click.Command):
    """A command whose every usage error is one line (see the module's docstring)."""


class OneLineGroup(_OneLine, click.Group):
    """A group whose own usage errors (no or unknown subcommand, bad option) are one line too; its
    subcommands are :class:`OneLineCommand` / :class:`OneLineGroup` unless they say otherwise."""

    command_class = OneLineCommand
    group_class = type  # subgroups are of this same class

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:
            raise OneLineError(f"명령을 주십시오: {', '.join(self.list_commands(ctx))} "
                               f"(도움말: {ctx.command_path} --help)",
                               f"a command is needed: {', '.join(self.list_commands(ctx))} "
                               f"(see {ctx.command_path} --help)")
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                            list[str]]:
        name = args[0]
        if self.get_command(ctx, name) is None and not name.startswith("-") and not ctx.resilient_parsing:
            known = ", ".join(self.list_commands(ctx))
            raise OneLineError(f"알 수 없는 명령 {name!r}: {known} 중 하나를 쓰십시오 "
                               f"(도움말: {ctx.command_path} --help)",
                               f"no such command {name!r}: use one of {known} (see {ctx.command_path} --help)")
        return super().resolve_command(ctx, args)


def one_line_usage(exc: click.UsageError, command: click.Command, info_name: str | None,
                   parent: click.Context | None) -> OneLineError:
    """Click's usage error as one line naming the option (or argument) and the fix."""
    path = exc.ctx.command_path if exc.ctx else " ".join(
        part for part in (parent.command_path if parent else "", info_name or command.name or "") if part)
    see_ko, see_en = f"(도움말: {path} --help)", f"(see {path} --help)"
    if isinstance(exc, click.NoSuchOption):
        maybe = sorted(exc.possibilities or ())
        return OneLineError(f"알 수 없는 옵션 {exc.option_name}" + (f": 혹시 {', '.join(maybe)}?" if maybe else "")
                            + f" {see_ko}",
                            f"no such option {exc.option_name}" + (f": did you mean {', '.join(maybe)}?"
                                                                   if maybe else "") + f" {see_en}")
    if isinstance(exc, click.BadOptionUsage):
        if "requires" in exc.message:
            return OneLineError(f"{exc.option_name} 옵션에 값이 필요합니다 {see_ko}",
                                f"option {exc.option_name} needs a value {see_en}")
        return OneLineError(f"{exc.option_name} 옵션을 잘못 썼습니다 ({exc.message}) {see_ko}",
                            f"option {exc.option_name}: {exc.message} {see_en}")
    if isinstance(exc, click.MissingParameter):
        hint = _hint(exc)
        return OneLineError(f"{hint} 값이 필요합니다 {see_ko}", f"missing {hint} {see_en}")
    if isinstance(exc, click.BadParameter):
        hint = _hint(exc)
        return OneLineError(f"{hint} 값이 잘못되었습니다: {_expected_ko(exc.param)} {see_ko}",
                            f"bad value for {hint}: {exc.message} {see_en}")
    if exc.message.startswith("Got unexpected extra argument"):
        extra = exc.message.partition("(")[2].rstrip(")")
        return OneLineError(f"필요 없는 인수가 있습니다: {extra} {see_ko}",
                            f"unexpected extra argument: {extra} {see_en}")
    return OneLineError(f"명령행이 잘못되었습니다: {exc.message} {see_ko}", f"{exc.message} {see_en}")


def _hint(exc: click.BadParameter) -> str:
    """The option as typed (``--lang``) or the argument's name (``CLAIM``)."""
    if exc.param_hint is not None:
        return exc.param_hint if isinstance(exc.param_hint, str) else " / ".join(exc.param_hint)
    param = exc.param
    if param is None:
        return "값"
    if isinstance(param, click.Option):
        return " / ".join(param.opts)
    return param.human_readable_name


def _expected_ko(param: click.Parameter | None) -> str:
    """What a parameter accepts, in Korean."""
    kind = param.type if param is not None else None
    if isinstance(kind, click.Choice):
        return f"{', '.join(map(str, kind.choices))} 중 하나를 쓰십시오"
    if isinstance(kind, click.IntRange | click.FloatRange):
        low = "" if kind.min is None else f"{kind.min}{' 초과' if kind.min_open else ' 이상'}"
        high = "" if kind.max is None else f"{kind.max}{' 미만' if kind.max_open else ' 이하'}"
        return f"{' '.join(part for part in (low, high) if part)}의 수를 쓰십시오"
    if isinstance(kind, click.DateTime):
        shown = (f.replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD") for f in kind.formats)
        return f"{' 또는 '.join(shown)} 형식의 날짜를 쓰십시오"
    if kind is click.INT:
        return "정수를 쓰십시오"
    if kind is click.FLOAT:
        return "숫자를 쓰십시오"
    return "형식을 확인하십시오"


def internal_error(exc: BaseException) -> NoReturn:
    """The last resort: an exception nothing expected is a kit defect, reported without a traceback.

    Only the exception's type and the kit's own innermost frame are shown: its message may quote the input.
    """
    import traceback  # only on this rare path

    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if Path(frame.filename).is_relative_to(_KIT)]
    where = f" {Path(frames[-1].filename).relative_to(_KIT).as_posix()}:{frames[-1].lineno}" if frames else ""
    what = f"{type(exc).__name__}{where}"
    click.echo(f"오류: 키트 내부 오류입니다 ({what}): 키트의 결함이니 명령행과 이 줄을 붙여 알려 주십시오 "
               f"({TRACEBACK_ENV}=1 로 자세히 볼 수 있습니다) / error: internal error ({what}): a kit defect — "
               f"please report it with the command line and this line ({TRACEBACK_ENV}=1 shows the details)",
               err=True)
    sys.exit(EXIT_INTERNAL)


def wide_console() -> Console:
    """A console for people: wrapped to the terminal, or wide when piped so that lines stay whole."""
    from rich.console import Console  # not at import: the group and --help do without rich

    console = Console()
    return console if console.is_terminal else Console(width=200)

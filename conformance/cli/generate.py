"""``s24kit generate``: write a synthetic scenario (EMR seed, expected documents, claims, policies).

Wired into the main command group with ``main.add_command(generate)``. Every bad option ends with one
line in Korean and English and exit code 2, never a traceback; an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import shutil
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ...simulator.generator.options import DEFAULT_HARD_CASE_RATE, OptionError, Options, check_count
from .params import OutputFolder
from .usage import OneLineCommand, OneLineError

if TYPE_CHECKING:
    from ...simulator.generator.scenario import Estimate

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
MAX_WORKERS = 256


def _day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise OneLineError(f"{option} 값은 YYYY-MM-DD 형식의 날짜여야 합니다 (받은 값 {value!r})",
                           f"{option} must be a date YYYY-MM-DD (got {value!r})") from None


def _number(option: str, value: str, kind: type) -> Any:
    try:
        return kind(value)
    except ValueError:
        what_ko, what_en = ("정수", "a whole number") if kind is int else ("숫자", "a number")
        raise OneLineError(f"{option} 값은 {what_ko}여야 합니다 (받은 값 {value!r})",
                           f"{option} must be {what_en} (got {value!r})") from None


def _named(exc: OptionError) -> OneLineError:
    """The generator's message, led by the option it is about when it does not say so itself."""
    lead = "" if exc.option in exc.message_en else f"{exc.option}: "
    return OneLineError(lead + exc.message_ko, lead + exc.message_en)


@click.command("generate", cls=OneLineCommand)
@click.option("--patients", default="100", show_default=True, metavar="N", help="Patients to draw.")
@click.option("--seed", default="0", show_default=True, metavar="S",
              help="Seed: the same seed and kit version give the same bytes.")
@click.option("--out", "out", required=True, metavar="DIR", type=OutputFolder(),
              help="Scenario directory to create (new or empty).")
@click.option("--provider", metavar="CODE",
              help="Provider code (요양기관기호) of the provider under test: its visits are all there.")
@click.option("--provider-type", metavar="TYPE",
              help="Facility type (종별코드) of that provider: 31, 21, 11, 01, 81, 28, 29, 41, 51, 71.")
@click.option("--from", "start", metavar="DATE", help="First visit day (default: one year before --to).")
@click.option("--to", "end", metavar="DATE",
              help="Last visit day (default: 2026-10-31); claims are made the day after.")
@click.option("--workers", default="1", show_default=True, metavar="N",
              help="Processes; the output does not depend on it.")
@click.option("--hard-cases", default=str(DEFAULT_HARD_CASE_RATE), show_default=True, metavar="RATE",
              help="Share of patients given a deliberate hard case (0-1).")
@click.option("--compress", is_flag=True,
              help="Write the JSON Lines and CSV files gzip'ed (.jsonl.gz, .csv.gz): every command reads them.")
@click.option("--force", is_flag=True, help="Replace a non-empty --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, no summary.")
def generate(patients: str, seed: str, out: Path, provider: str | None, provider_type: str | None, start: str | None,
             end: str | None, workers: str, hard_cases: str, compress: bool, force: bool, quiet: bool) -> None:
    """합성 시나리오 생성: EMR 적재 자료, 기대 서류, 청구, 계약 / write a synthetic scenario.

    Patients, policies, visits and the four kit-v1 documents, consistent by construction, with the hard
    cases tagged. The size is estimated from the first patients and said before writing starts (refused
    when the disk cannot hold it). Exit 0: written; 1: failed while writing; 2: bad options; 130: interrupted.
    """
    # here, not at the top: `s24kit generate --help` loads neither Faker nor rich (tests/test_cli_startup.py)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from ...simulator.generator.scenario import Generator, ScenarioError, estimate, write_scenario

    try:
        n_workers = _number("--workers", workers, int)
        check_count("--workers", n_workers, MAX_WORKERS)
        options = Options(patients=_number("--patients", patients, int), seed=_number("--seed", seed, int),
                          start=_day("--from", start), end=_day("--to", end), provider=provider,
                          provider_type=provider_type, hard_cases=_number("--hard-cases", hard_cases, float)
                          ).resolved()
    except OptionError as exc:
        raise _named(exc) from None
    console = Console(stderr=True)
    show = not quiet and console.is_terminal
    try:
        generator = Generator(options)
        expected = estimate(generator)
        if not quiet:
            click.echo(_size_line(expected, compress), err=True)
        # the high end of the range: better to refuse now than to fill the disk half-way through
        _check_room(out, round((expected.compressed_bytes if compress else expected.plain_bytes) * expected.high))
        if show:
            # No refresh thread (auto_refresh=False): worker processes may be forked while the bar is shown.
            with Progress(TextColumn("[bold]시나리오 생성 / generating"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
                          auto_refresh=False) as bar:
                task = bar.add_task("patients", total=options.patients)

                def advance(done: int) -> None:
                    bar.advance(task, done)
                    bar.refresh()

                manifest = write_scenario(out, options, workers=n_workers, force=force, progress=advance,
                                          compress=compress, generator=generator)
        else:
            manifest = write_scenario(out, options, workers=n_workers, force=force, compress=compress,
                                      generator=generator)
    except OptionError as exc:
        raise _named(exc) from None
    except ScenarioError as exc:
        raise OneLineError(exc.message_ko, exc.message_en) from None
    except KeyboardInterrupt:
        raise OneLineError("중단되었습니다: 시나리오를 쓰지 않았습니다", "interrupted: no scenario was written",
                           EXIT_INTERRUPTED) from None
    except OSError as exc:
        raise OneLineError(f"시나리오를 쓰지 못했습니다: {exc}", f"could not write the scenario: {exc}",
                           EXIT_FAILED) from None
    if not quiet:
        c = manifest["counts"]
        docs = sum(c["documents"].values())
        click.echo(f"{out}: 환자 {c['patients']:,}명, 내원 {c['visits']:,}건, 서류 {docs:,}건, "
                   f"청구 {c['claims']:,}건 / {c['patients']:,} patients, {c['visits']:,} visits, "
                   f"{docs:,} documents, {c['claims']:,} claims",
                   file=sys.stdout)


def _size(count: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count} B"


def _size_line(expected: Estimate, compress: bool) -> str:
    """The estimate with its range, and the other choice's size (so a user about to write 9 GB learns of
    --compress)."""
    chosen, other = ((expected.compressed_bytes, expected.plain_bytes) if compress
                     else (expected.plain_bytes, expected.compressed_bytes))
    between = (f" ({_size(round(chosen * expected.low))}–{_size(round(chosen * expected.high))})"
               if expected.high > expected.low else "")
    if compress:
        return (f"예상 크기 / estimated size: {_size(chosen)}{between} (gzip; 압축 없이 / plain {_size(other)}), "
                f"내원 / visits ≈ {expected.visits:,}")
    return (f"예상 크기 / estimated size: {_size(chosen)}{between}, 내원 / visits ≈ {expected.visits:,} "
            f"(--compress: {_size(other)})")


def _check_room(out: Path, needed: int) -> None:
    """Refuse before writing when the disk of ``out`` cannot hold the scenario."""
    existing = next(p for p in (out, *out.absolute().parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise OneLineError(f"--out {out}: 디스크 여유 공간 {_size(free)}에 예상 크기 {_size(needed)}이(가) 들어가지 "
                           "않습니다: --compress 를 쓰거나 환자 수를 줄이거나 다른 폴더를 쓰십시오",
                           f"--out {out}: the scenario (about {_size(needed)}) does not fit in the {_size(free)} "
                           "free on that disk; use --compress, fewer --patients or another folder")

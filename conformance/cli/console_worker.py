"""``s24kit console worker``: run the console's queued jobs from another process or machine.

Workers share the console's database (PostgreSQL for more than one machine): each claims jobs with
``SELECT … FOR UPDATE SKIP LOCKED`` and records the runs there (docs/console.md §3). ``--until-idle`` stops
when nothing is left to claim (scripts, CI); without it the worker waits for work until Ctrl-C.
"""

from __future__ import annotations

from pathlib import Path

import click

from .interrupt import stop_on_ctrl_c
from .params import InputFile, InputFolder, OutputFolder, Seconds
from .usage import OneLineCommand, OneLineError


@click.command("worker", cls=OneLineCommand)
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True, help="Jobs run at once.")
@click.option("--scenario", type=InputFolder(), metavar="DIR",
              help="Scenario the site checks ask for [default: STATE/fleet/scenario].")
@click.option("--reports", type=OutputFolder(), metavar="DIR",
              help="Where run reports go [default: STATE/console/runs].")
@click.option("--ca", type=InputFile(), metavar="FILE", help="CA of the sites' server certificates [default: test CA].")
@click.option("--cert", type=InputFile(), metavar="FILE", help="Relay client certificate [default: test PKI].")
@click.option("--key", type=InputFile(), metavar="FILE", help="Its private key.")
@click.option("--timeout", type=Seconds(min=0, min_open=True), default=5.0, show_default=True,
              help="Answer timeout a site must meet.")
@click.option("--until-idle", is_flag=True, help="Stop once no job is left to claim.")
@click.pass_obj
def worker(options, threads: int, scenario: Path | None, reports: Path | None, ca: Path | None, cert: Path | None,
           key: Path | None, timeout: float, until_idle: bool) -> None:
    """작업자 / run queued site checks and certifications from the console's database."""
    from ..console.executor import RunSettings
    from ..console.worker import Worker

    if (cert is None) != (key is None):
        raise OneLineError("--cert 와 --key 는 함께 주어야 합니다", "--cert and --key go together")
    database = options.database()
    settings = RunSettings(options.state_dir, scenario, reports, ca, cert, key, timeout)
    runner = Worker(database, settings, threads=threads)
    click.echo(f"s24kit console worker {runner.name}: {database.url}")
    if until_idle:
        click.echo(f"{runner.run_until_idle()} jobs")
        return
    with stop_on_ctrl_c() as stop:
        runner.run_forever(stop)

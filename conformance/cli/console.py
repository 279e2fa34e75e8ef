"""``s24kit console``: the acceptance console for relay staff (docs/console.md).

``s24kit console --init`` creates the first admin account and prints its one-time password (shown once; the
console asks for a new password at the first login). ``s24kit console`` then serves the console on
loopback (``--listen``), over HTTPS with ``--cert``/``--key``; ``--database postgresql://…`` shares one
register between consoles and workers, SQLite in the state directory is the default. Subcommands (such as
``worker``) share the group's options. SQLAlchemy and the web stack are imported only when the command runs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .params import InputFile, InputFolder, OutputFolder
from .usage import OneLineError, OneLineGroup

DEFAULT_LISTEN = "127.0.0.1:8470"


@dataclass(frozen=True)
class ConsoleOptions:
    """The group's options, for the subcommands (``ctx.obj``)."""

    state_dir: Path
    database_url: str | None

    def database(self) -> Any:
        """The migrated database, or a one-line error naming ``--database``."""
        from ..console.db import DatabaseError, default_url, prepare

        try:
            return prepare(self.database_url or default_url(self.state_dir), state_dir=self.state_dir)
        except DatabaseError as exc:
            raise OneLineError(exc.message_ko, exc.message_en) from None


class Listen(click.ParamType):
    """``HOST:PORT`` (IPv6 in brackets, ``[::1]:8470``); the host is an IP address or ``localhost``."""

    name = "host:port"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        host, sep, port = str(value).rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            if not sep or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError
            if host != "localhost":
                ipaddress.ip_address(host)
        except ValueError:
            self.fail(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8470, [::1]:8470)", param, ctx)
        return host, int(port)


def _tls(cert: Path | None, key: Path | None) -> None:
    if (cert is None) != (key is None):
        raise OneLineError("--cert 와 --key 는 함께 주어야 합니다", "--cert and --key go together")
    if cert is None or key is None:
        return
    from ..tls.pair import pair_refusal

    if (refusal := pair_refusal(cert, key)) is not None:
        raise OneLineError(f"--cert {cert} --key {key}: 인증서와 키를 쓸 수 없습니다 ({refusal[0]})",
                           f"--cert {cert} --key {key}: cannot use this certificate and key ({refusal[1]})")


def _init(options: ConsoleOptions, username: str) -> None:
    from ..console import accounts
    from ..console.audit import SYSTEM
    from ..console.validation import FieldError, check

    try:
        check("AccountNew", {"username": username, "role": "admin"})
        database = options.database()  # only once the name is right: a refused --init leaves nothing behind
        password = accounts.one_time_password()
        with database.engine.begin() as connection:
            accounts.create_account(connection, SYSTEM, username, "admin", password)
    except FieldError as exc:
        raise OneLineError(f"--username {username}: {exc.message_ko}", f"--username {username}: {exc.message_en}") \
            from None
    click.echo(f"관리자 계정을 만들었습니다: {username} / admin account {username} created ({database.url})")
    click.echo(f"일회용 비밀번호 / one-time password: {password}")
    click.echo("첫 로그인 때 새 비밀번호를 정해야 합니다. 이 비밀번호는 다시 보이지 않습니다. / "
               "It must be changed at the first login and is not shown again.")


def _listening(host: str, port: int) -> Any:
    """The console's listening socket, bound before anything is printed: a port in use (or not ours) is one
    line naming --listen, as ``s24kit serve`` says it, never uvicorn's own error after the banner."""
    from ...simulator.serving import ServeError, bind

    shown = f"[{host}]" if ":" in host else host
    try:
        return bind(host, port)
    except ServeError as exc:
        raise OneLineError(f"--listen {shown}:{port}: {exc.message_ko}", f"--listen {shown}:{port}: {exc.message_en}"
                           ) from None


def _serve(options: ConsoleOptions, listen: tuple[str, int], cert: Path | None, key: Path | None, workers: int = 4,
           scenario: Path | None = None) -> None:
    import threading

    import uvicorn

    from ..console.app import Settings, create_app
    from ..console.executor import RunSettings
    from ..console.worker import in_console
    from .interrupt import stop_on_ctrl_c

    host, port = listen
    sock = _listening(host, port)  # first: a busy port is refused before the state folder gets anything
    try:
        database = options.database()
        hooks = [in_console(RunSettings(options.state_dir, scenario), workers)] if workers else []
        app = create_app(Settings(options.state_dir, options.database_url, https=cert is not None,
                                  on_startup=hooks), database)
    except BaseException:
        sock.close()
        raise
    port = sock.getsockname()[1]
    scheme = "https" if cert else "http"
    shown = f"[{host}]" if ":" in host else host
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        click.echo(f"경고: 콘솔이 {host} 에서 열립니다 — 이 PC 밖에서도 접속할 수 있습니다"
                   f"{'' if cert else ', 그리고 HTTPS 가 아닙니다 (--cert/--key)'} / WARNING: the console listens on "
                   f"{host}, reachable from other machines{'' if cert else ', and not over HTTPS (--cert/--key)'}",
                   err=True)
    click.echo(f"s24kit console: {scheme}://{shown}:{port}/  ({database.url}); Ctrl-C 로 종료 / Ctrl-C to stop")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", ssl_certfile=cert, ssl_keyfile=key,
                            server_header=False, proxy_headers=False,
                            timeout_graceful_shutdown=5)  # a live-progress page open holds Ctrl-C 5 s at most
    server = uvicorn.Server(config)
    # uvicorn serves in a thread of its own; Ctrl-C (stop_on_ctrl_c) asks it to finish, as `s24kit serve` does:
    # the running requests end, the workers stop, and the command says so — no "Aborted!", no traceback.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="console", daemon=True)
    with stop_on_ctrl_c() as stop:
        thread.start()
        while thread.is_alive() and not stop.wait(0.5):
            pass
        server.should_exit = True
        thread.join()
    sock.close()
    if not stop.is_set():
        raise OneLineError("콘솔이 예기치 않게 멈췄습니다 (위의 기록을 보십시오)",
                           "the console stopped unexpectedly (see the log above)", exit_code=3)
    click.echo("정상 종료 / stopped cleanly")


@click.group("console", cls=OneLineGroup, invoke_without_command=True)
@click.option("--state", "--state-dir", "state_dir", type=OutputFolder(), default=".s24kit", show_default=True,
              help="State directory: the SQLite database, the session key.")
@click.option("--database", "database_url", metavar="URL",
              help="sqlite:///FILE or postgresql://user@host/name (default: SQLite in the state directory).")
@click.option("--listen", type=Listen(), default=DEFAULT_LISTEN, show_default=True, help="HOST:PORT to serve on.")
@click.option("--cert", type=InputFile("text"), help="PEM certificate (chain) to serve HTTPS with; needs --key.")
@click.option("--key", type=InputFile("text"), help="PEM private key of --cert.")
@click.option("--init", is_flag=True, help="Create the first admin account, print its one-time password, and exit.")
@click.option("--username", default="admin", show_default=True, help="With --init: the admin's username.")
@click.option("--workers", type=click.IntRange(0, 64), default=4, show_default=True,
              help="Jobs (site checks, certifications) the console itself runs at once; 0: only `console worker`s.")
@click.option("--scenario", type=InputFolder(), metavar="DIR",
              help="Scenario the site checks ask for [default: STATE/fleet/scenario].")
@click.pass_context
def console(ctx: click.Context, state_dir: Path, database_url: str | None, listen: tuple[str, int],
            cert: Path | None, key: Path | None, init: bool, username: str, workers: int,
            scenario: Path | None) -> None:
    """검수 콘솔 / the acceptance console: register, site checks, decisions (web pages and a JSON API)."""
    options = ctx.obj = ConsoleOptions(state_dir, database_url)
    if ctx.invoked_subcommand is not None:
        return
    if init:
        _init(options, username)
        return
    _tls(cert, key)
    _serve(options, listen, cert, key, workers, scenario)


from .console_worker import worker  # noqa: E402  (a subcommand of its own module)

console.add_command(worker)

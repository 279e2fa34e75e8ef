"""Each party of the simulator in its own process: ``s24kit serve --processes``.

In one process every party shares one interpreter lock, so the relay, the insurers and the providers take turns
on one core however many the machine has. Here the parent binds every listening socket (so the URLs are known
before anything starts, and a port in use is reported as in one process), then starts one child per server with
the ``spawn`` method; each child builds its party from the same :class:`~.stack.StackOptions`, serves it on the
socket it inherited, and stops when the parent says so or is gone. The parties share nothing in memory: the
relay's state is in ``relay.sqlite``, each insurer's in its own file, the journal in ``journal.sqlite`` (written
by the relay's process only), all in WAL mode at the ``synchronous`` levels of docs/durability.md, so an
acknowledged claim is as durable as in one process. docs/performance.md §4 has the figures.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import signal
import socket
import ssl
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .serving import ServeError, start

#: Seconds a child has to build its server and accept connections, then to stop when asked.
STARTUP_TIMEOUT, STOP_TIMEOUT = 120.0, 10.0
#: How often a child looks whether its parent is still there (a parent killed with SIGKILL cannot tell it).
ORPHAN_CHECK = 0.5


@dataclass(frozen=True)
class ServerSpec:
    """One server to run in a child: ``factory`` (``"module:function"``) called with ``args`` gives the ASGI
    app and its TLS context; it is served on ``sock``."""

    name: str
    factory: str
    args: tuple[Any, ...]
    sock: socket.socket


async def _echo(request: Request) -> Response:
    return JSONResponse(await request.json())


def echo_server(pki_dir: str) -> tuple[Any, ssl.SSLContext]:
    """A bare JSON echo (``POST /echo``) behind the provider's server certificate with mutual TLS: the baseline
    of benchmarks/relay.py, served by the same code as the parties."""
    from .pki import ensure_pki

    return Starlette(routes=[Route("/echo", _echo, methods=["POST"])]), \
        ensure_pki(Path(pki_dir)).server_context("provider-server")


def _child(spec: ServerSpec, report: Connection) -> None:
    """A server's process: build it, serve it, say "ready" (or why not) on ``report``, run until the parent
    says "stop" there, closes it, or is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides
    parent = os.getppid()
    try:
        module, _, function = spec.factory.partition(":")
        app, tls = getattr(importlib.import_module(module), function)(*spec.args)
        served = start(app, tls=tls, name=spec.name.replace(":", "-"), sock=spec.sock,
                       startup_timeout=STARTUP_TIMEOUT)
    except Exception as exc:  # reported to the parent, which names the server in one line
        report.send(("failed", getattr(exc, "message_ko", str(exc)), getattr(exc, "message_en", str(exc))))
        return
    report.send(("ready", "", ""))
    try:
        # a pipe of its own, not an Event shared by every child: a child killed with SIGKILL while it held the
        # Event's lock left the parent waiting for that lock forever when it stopped the others
        while not report.poll(ORPHAN_CHECK):
            if os.getppid() != parent:
                break
    finally:
        served.stop(STOP_TIMEOUT)


@dataclass
class _Child:
    name: str
    process: Any
    report: Connection


class ServerProcesses:
    """Servers each in its own child process; :meth:`stop` ends them all."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self.children: list[_Child] = []

    def start(self, specs: list[ServerSpec]) -> None:
        """Start one child per spec and wait until each serves; :class:`ServeError` names the first that
        could not (the others are stopped)."""
        try:
            for spec in specs:
                mine, theirs = self._context.Pipe()
                process = self._context.Process(target=_child, args=(spec, theirs),
                                                name=f"s24kit-{spec.name.replace(':', '-')}", daemon=True)
                process.start()
                theirs.close()
                self.children.append(_Child(spec.name, process, mine))
            deadline = time.monotonic() + STARTUP_TIMEOUT
            for child in self.children:
                _await_ready(child, deadline)
        except BaseException:
            self.stop()
            raise

    def pids(self) -> dict[str, int]:
        return {child.name: child.process.pid for child in self.children}

    def stop(self) -> None:
        for child in self.children:
            with contextlib.suppress(OSError):  # a child that is gone already
                child.report.send("stop")
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self.children:
            child.process.join(max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                child.process.kill()
                child.process.join(STOP_TIMEOUT)
            with contextlib.suppress(OSError):
                child.report.close()
        self.children.clear()


def _await_ready(child: _Child, deadline: float) -> None:
    while not child.report.poll(0.05):
        if not child.process.is_alive() or time.monotonic() > deadline:
            reason = f"exit code {child.process.exitcode}" if not child.process.is_alive() else "did not start in time"
            raise ServeError(f"{child.name} 프로세스를 시작하지 못했습니다: {reason}",
                             f"{child.name} process failed to start: {reason}")
    state, message_ko, message_en = child.report.recv()
    if state != "ready":
        raise ServeError(f"{child.name}: {message_ko}", f"{child.name}: {message_en}")


@contextlib.contextmanager
def serving_in_processes(specs: list[ServerSpec]):
    """``with serving_in_processes([...]) as servers: …`` — start them all, yield, always stop."""
    servers = ServerProcesses()
    try:
        servers.start(specs)
    finally:
        for spec in specs:
            spec.sock.close()  # the children hold their own copies
    try:
        yield servers
    finally:
        servers.stop()


__all__ = ["ServerProcesses", "ServerSpec", "echo_server", "serving_in_processes"]

"""Serve any of the kit's ASGI apps over the network: uvicorn in a background thread, TLS or mutual TLS.

In-process use needs nothing from here (``httpx.ASGITransport(app)``); this module is for real sockets:
vendors' connectors written in other languages, the suite's own traffic, and benchmarks. The client
certificate a peer presented is handed to the app as the ASGI TLS extension
(``scope["extensions"]["tls"]["client_cert_chain"]``), which uvicorn itself does not provide.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

# (server port, client host, client port) → TLS facts of that connection; written by the protocol below.
_PEERS: dict[tuple[int, str, int], dict[str, Any]] = {}


class ServeError(RuntimeError):
    """A server could not start; the message says why in Korean and English."""

    def __init__(self, message_ko: str, message_en: str) -> None:
        super().__init__(f"{message_ko} / {message_en}")
        self.message_ko, self.message_en = message_ko, message_en


#: Seconds a client has to send a request's headers, then its whole body (docs/security.md); past them the
#: connection is closed. Idle keep-alive connections are uvicorn's ``timeout_keep_alive``.
HEADER_TIMEOUT, BODY_TIMEOUT = 10.0, 30.0
#: Connections plus running requests per listener; beyond it uvicorn answers 503.
MAX_CONCURRENCY = 500


class _TlsAwareH11(H11Protocol):
    """uvicorn's h11 protocol that remembers each TLS connection's peer certificate, and closes a connection
    whose request headers or body do not arrive in time (uvicorn alone waits for them forever)."""

    header_timeout, body_timeout = HEADER_TIMEOUT, BODY_TIMEOUT
    _reading: str | None = None  # "headers" or "body" while a deadline runs for it
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect("headers")
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Without it a TLS response (headers and body written apart) waits ~40 ms for a delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None and self.server and self.client:
            der = ssl_object.getpeercert(binary_form=True)
            chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
            _PEERS[(self.server[1], *self.client)] = {
                "client_cert_chain": chain, "tls_version": ssl_object.version(),
                "cipher_suite": (ssl_object.cipher() or ("",))[0],
            }

    def handle_events(self) -> None:
        super().handle_events()
        their = self.conn.their_state
        if their is h11.SEND_BODY:
            self._expect("body")
        elif their is h11.IDLE and (self.conn.trailing_data[0] or self.cycle is None):
            self._expect("headers")  # part of a request, or nothing yet on a new connection
        else:
            self._expect(None)  # a whole request, or an idle keep-alive connection (uvicorn's timeout)

    def _expect(self, reading: str | None) -> None:
        """Start the deadline for what the client must send now (kept while it stays the same)."""
        if reading == self._reading:
            return
        if self._deadline is not None:
            self._deadline.cancel()
        self._reading, self._deadline = reading, None
        if reading is not None and not self.transport.is_closing():
            delay = self.header_timeout if reading == "headers" else self.body_timeout
            self._deadline = self.loop.call_later(delay, self._too_slow)

    def _too_slow(self) -> None:
        # abort, not close: a TLS close would wait for the slow peer's close_notify
        self.logger.warning("closing %s: request %s not received in time", self.client, self._reading)
        self.transport.abort()

    def shutdown(self) -> None:
        # An idle keep-alive connection is aborted, not closed: a TLS close waits for the peer's
        # close_notify, and a client's idle pool never sends one, which held every shutdown for seconds.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._expect(None)
        if self.server and self.client:
            _PEERS.pop((self.server[1], *self.client), None)
        super().connection_lost(exc)


class _TlsExtension:
    """ASGI middleware: add the connection's TLS facts to ``scope["extensions"]["tls"]``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("server") and scope.get("client"):
            peer = _PEERS.get((scope["server"][1], *scope["client"]))
            if peer is not None:
                scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": peer}}
        await self.app(scope, receive, send)


def client_certificate(scope: dict) -> str | None:
    """The PEM client certificate of the connection behind ``scope`` (None over plain HTTP or without one)."""
    chain = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or []
    return chain[0] if chain else None


def bind(host: str, port: int, name: str = "") -> socket.socket:
    """A listening socket, or :class:`ServeError` naming the party and address when it is taken or not ours."""
    who = f"{name}: " if name else ""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"{who}{host}:{port} 포트를 이미 다른 프로그램이 쓰고 있습니다 (다른 포트를 지정하십시오)",
                             f"{who}port {host}:{port} is already in use (choose another port)") from None
        raise ServeError(f"{who}{host}:{port}에 바인드할 수 없습니다: {exc.strerror}",
                         f"{who}cannot bind {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    return sock


@dataclass
class Served:
    """A running server: its URL, and ``stop()``."""

    name: str
    url: str
    host: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start(app: Any, *, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None,
          name: str = "app", sock: socket.socket | None = None, startup_timeout: float = 10.0,
          header_timeout: float = HEADER_TIMEOUT, body_timeout: float = BODY_TIMEOUT,
          max_concurrency: int = MAX_CONCURRENCY) -> Served:
    """Start ``app`` on ``host:port`` (0 = any free port) in a daemon thread; return once it accepts."""
    sock = sock or bind(host, port)
    bound_port = sock.getsockname()[1]
    protocol = type("_Guarded", (_TlsAwareH11,), {"header_timeout": header_timeout, "body_timeout": body_timeout})
    config = uvicorn.Config(_TlsExtension(app), http=protocol, lifespan="on", log_level="warning",
                            access_log=False, server_header=False, date_header=True, timeout_keep_alive=30,
                            limit_concurrency=max_concurrency,
                            ssl_context_factory=(lambda cfg, default: tls) if tls else None)
    server = uvicorn.Server(config)
    # uvicorn would install its own signal handlers; the caller owns Ctrl-C.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the starting thread below
            failure.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name=f"s24kit-{name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            reason = repr(failure[0]) if failure else "did not start in time"
            raise ServeError(f"{name} 서버를 시작하지 못했습니다: {reason}", f"{name} server failed to start: {reason}")
        time.sleep(0.005)
    shown = f"[{host}]" if ":" in host else host
    return Served(name, f"{'https' if tls else 'http'}://{shown}:{bound_port}", host, bound_port, server, thread)


@contextlib.contextmanager
def serving(app: Any, **options: Any) -> Iterator[Served]:
    """``with serving(app, tls=ctx) as served: …`` — start, yield, always stop."""
    served = start(app, **options)
    try:
        yield served
    finally:
        served.stop()

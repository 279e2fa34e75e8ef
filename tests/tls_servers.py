"""Deliberately (mis)configured TLS servers on 127.0.0.1 for the TLS check tests.

Every server binds port 0, runs in daemon threads or a child process, and stops when its context
manager exits. Import from a test module as ``from .tls_servers import tls_server`` (pytest runs with
--import-mode=importlib, like tests/_require.py).
"""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import select
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from s24kit.simulator.pki import Credential

from ._require import require

LOCAL = "127.0.0.1"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class TcpServer:
    """Accept loop on an ephemeral 127.0.0.1 port; each connection goes to `handler` in a thread."""

    def __init__(self, handler: Callable[[socket.socket, threading.Event], None], max_connections: int = 400):
        self.handler, self.max_connections = handler, max_connections
        self.stop = threading.Event()
        self.sock = socket.create_server((LOCAL, 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self) -> TcpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _accept_loop(self) -> None:
        for _ in range(self.max_connections):
            conn = self._accept()
            if conn is None:
                return
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _accept(self) -> socket.socket | None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
                return conn
            except TimeoutError:
                continue
            except OSError:
                return None
        return None

    def _run(self, conn: socket.socket) -> None:
        conn.settimeout(3)
        try:
            with conn:
                self.handler(conn, self.stop)
        except Exception as exc:  # a refused handshake is the point of most fixtures; keep it for debugging
            self.errors.append(f"{type(exc).__name__}: {exc}")


def server_context(
    cred: Credential,
    *,
    minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    maximum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
    ciphers: str | None = "ECDHE+AESGCM:ECDHE+CHACHA20",
    client_ca: Path | None = None,
    verify_mode: ssl.VerifyMode = ssl.CERT_REQUIRED,
    verify_flags: int | None = None,
) -> ssl.SSLContext:
    """A stdlib server context; `ciphers` is set before the certificate so weak keys load at SECLEVEL=0."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version, ctx.maximum_version = minimum, maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    ctx.load_cert_chain(str(cred.cert), str(cred.key))
    if client_ca is not None:
        ctx.load_verify_locations(cafile=str(client_ca))
        ctx.verify_mode = verify_mode
        if verify_flags is not None:
            ctx.verify_flags = verify_flags
    return ctx


def _serve_http(ctx: ssl.SSLContext) -> Callable[[socket.socket, threading.Event], None]:
    def handle(conn: socket.socket, _stop: threading.Event) -> None:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = tls.recv(4096)
                if not chunk:
                    return
                data += chunk
            tls.sendall(RESPONSE)

    return handle


@contextlib.contextmanager
def tls_server(cred: Credential, *, max_connections: int = 400, **options: object) -> Iterator[TcpServer]:
    """A stdlib TLS server answering every request with 200; `options` go to `server_context`.

    It serves `max_connections` connections, then stops accepting (scanners such as sslyze need ~500).
    """
    ctx = server_context(cred, **options)  # type: ignore[arg-type]
    with TcpServer(_serve_http(ctx), max_connections) as server:
        yield server


@contextlib.contextmanager
def openssl_server(cred: Credential, *args: str) -> Iterator[int]:
    """`openssl s_server -www` on an ephemeral port; yields the port and always stops the process."""
    require(shutil.which("openssl"), "the openssl binary is not installed")
    cmd = ["openssl", "s_server", "-accept", f"{LOCAL}:0", "-cert", str(cred.cert), "-key", str(cred.key),
           "-www", *args]
    # Unbuffered: select() below must see every byte that readline() has not consumed yet.
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0)
    try:
        yield _wait_for_accept(proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        assert proc.stdout is not None
        proc.stdout.close()


def _wait_for_accept(proc: subprocess.Popen[bytes], limit: float = 10.0) -> int:
    assert proc.stdout is not None
    deadline, seen = time.monotonic() + limit, []
    while (remaining := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        line = proc.stdout.readline() if ready else b""
        if not line:
            break
        seen.append(line)
        if line.startswith(b"ACCEPT"):
            return int(line.rsplit(b":", 1)[1])
    raise AssertionError(f"openssl s_server did not start: {b''.join(seen)!r}")


@contextlib.contextmanager
def legacy_server(cred: Credential, *, max_connections: int = 400) -> Iterator[TcpServer]:
    """tlslite-ng serving only SSLv3 + TLS 1.0 with 3DES and RC4 (RSA key exchange; needs an RSA key)."""
    require(importlib.util.find_spec("tlslite"), "tlslite-ng is not installed (pip install tlslite-ng)")
    with warnings.catch_warnings():  # tlslite-ng 0.8 imports the deprecated asyncore module
        warnings.simplefilter("ignore", DeprecationWarning)
        from tlslite import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey

    chain = X509CertChain()
    chain.parsePemList(cred.cert.read_text())
    key = parsePEMKey(cred.key.read_text(), private=True)
    wanted = HandshakeSettings()
    wanted.minVersion, wanted.maxVersion = (3, 0), (3, 1)
    wanted.cipherNames = ["3des", "rc4"]
    wanted.keyExchangeNames = ["rsa"]
    validated = wanted.validate()

    def handle(conn: socket.socket, _stop: threading.Event) -> None:
        TLSConnection(conn).handshakeServer(certChain=chain, privateKey=key, settings=validated)

    with TcpServer(handle, max_connections) as server:
        yield server


@contextlib.contextmanager
def plain_http_server() -> Iterator[int]:
    """An ordinary HTTP server (no TLS) on the port."""

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((LOCAL, 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(timeout=10)


def _reset(conn: socket.socket, _stop: threading.Event) -> None:
    conn.recv(5)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@contextlib.contextmanager
def silent_server() -> Iterator[TcpServer]:
    """Accepts TCP and never answers (a dead service behind a port forward)."""
    with TcpServer(_silent) as server:
        yield server


@contextlib.contextmanager
def reset_server() -> Iterator[TcpServer]:
    """Reads the start of the ClientHello, then resets the connection (an IPS or SSL-inspection box)."""
    with TcpServer(_reset) as server:
        yield server


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port bound but not listening, so nothing else can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        yield sock.getsockname()[1]

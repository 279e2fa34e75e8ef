"""One HTTPS GET to a chosen address, bounded in time and size: the HTTP, health and whoami layers."""

from __future__ import annotations

import http.client
import io
import json
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_BODY = 1024 * 1024
MAX_HEADERS = 64 * 1024


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """The status and body of one GET, or the error that prevented it (``status`` None)."""

    status: int | None
    content_type: str
    body: bytes
    error: str | None
    elapsed_ms: float
    closed_early: bool = False  # the peer closed (or reset) the connection without a byte of HTTP


    def json(self) -> Any:
        """The body as JSON; ValueError when it is not UTF-8 JSON."""
        return json.loads(self.body.decode("utf-8"))


def client_context(anchors: Path | None, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """A client context that verifies like the relay: TLS 1.2+, the given trust anchors, the name."""
    context = ssl.create_default_context(cafile=str(anchors) if anchors else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def https_get(address: str, port: int, server_name: str, path: str, context: ssl.SSLContext,
              timeout: float = 3.0, max_body: int = MAX_BODY) -> HttpAnswer:
    """GET ``path`` from ``address:port`` over TLS, verifying ``server_name``; never raises.

    The whole exchange (connect, handshake, answer) must finish within ``timeout``.
    """
    start = time.monotonic()
    deadline = start + timeout
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=server_name) as tls:
            host = f"[{server_name}]" if ":" in server_name else server_name
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n"
                        "User-Agent: s24kit-doctor\r\nConnection: close\r\n\r\n".encode("ascii", "replace"))
            data = _read_all(tls, deadline, max_body + MAX_HEADERS)
        if not data:
            return HttpAnswer(None, "", b"", "closed without an answer", _ms(start), closed_early=True)
        response = http.client.HTTPResponse(_Received(data))  # type: ignore[arg-type]
        response.begin()
        body = response.read()
        kind = (response.getheader("content-type") or "").split(";")[0].strip().lower()
        if len(body) > max_body:
            return HttpAnswer(response.status, kind, b"", f"body larger than {max_body} bytes", _ms(start))
        return HttpAnswer(response.status, kind, body, None, _ms(start))
    except TimeoutError:
        return HttpAnswer(None, "", b"", f"no answer within {timeout:g} s", _ms(start))
    except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
        # After a completed handshake this is how many servers refuse a client certificate on TLS 1.3.
        return HttpAnswer(None, "", b"", f"closed without an answer ({type(exc).__name__})", _ms(start), True)
    except ssl.SSLError as exc:
        return HttpAnswer(None, "", b"", f"{exc.reason or type(exc).__name__} ({exc.library or 'ssl'})", _ms(start))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return HttpAnswer(None, "", b"", f"{type(exc).__name__}: {exc}", _ms(start))


def _read_all(tls: ssl.SSLSocket, deadline: float, limit: int) -> bytes:
    """Everything the server sends until it closes (we asked for Connection: close), bounded."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        tls.settimeout(remaining)
        if hasattr(socket, "TCP_QUICKACK"):
            # Acknowledge at once: a server that writes headers and body apart with Nagle on (uvicorn over
            # TLS) otherwise waits for our delayed ACK, adding 40 ms to every answer.
            tls.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = tls.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class _Received:
    """What http.client.HTTPResponse needs from a socket, over bytes already read."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self._data)


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)

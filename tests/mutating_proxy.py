"""A mutating reverse proxy: it sits on the wire between the suite and a provider and changes one thing.

The proxy is an ASGI app served by the kit's own serving code over mutual TLS on loopback, with the kit's
provider-server certificate; it calls the provider with the relay's client certificate. Each
:class:`Mutation` rewrites the requests on their way in and/or the answers on their way out — a defect a
connector might have, or a harmless variation a correct connector may well produce::

    with mutating_proxy(upstream_url, pki, Mutation(response=on_json(drop_last_visit))) as url:
        run_suite(Target(url, …))

Import from a test module as ``from .mutating_proxy import …`` (pytest runs with --import-mode=importlib).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from s24kit.simulator.pki import TestPKI, certificate_role
from s24kit.simulator.serving import client_certificate, serving

#: Headers that describe one hop, not the answer: the proxy sets its own.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
                        "date", "server", "host", "te", "trailer", "upgrade", "accept-encoding"})
JSON_TYPES = ("application/json", "application/problem+json")
CHUNK = 1024  # bytes per chunk of a chunked answer


@dataclass(frozen=True)
class Request:
    """A request as the proxy forwards it (header names lower-case)."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The parsed body (None when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class Response:
    """An answer as the proxy sends it back (header names lower-case; ``chunked``: sent in pieces, no length)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    chunked: bool = False

    @property
    def media_type(self) -> str:
        return next((v for k, v in self.headers if k == "content-type"), "").split(";")[0].strip().lower()


#: What the proxy answers a caller whose certificate is not the relay's.
FORBIDDEN = Response(403, [("content-type", "application/problem+json")], json.dumps(
    {"type": "about:blank", "title": "Forbidden", "status": 403, "code": "forbidden"}).encode())


@dataclass(frozen=True)
class Mutation:
    """One transformation: of each request before it reaches the provider, of each answer before the suite."""

    request: Callable[[Request], Request] | None = None
    response: Callable[[Request, Response], Response] | None = None


def on_json(change: Callable[[Request, int, Any], Any], *, indent: int | None = None) -> Callable[
        [Request, Response], Response]:
    """A response mutation that rewrites JSON answers with ``change(request, status, value) -> value``."""
    def mutate(request: Request, response: Response) -> Response:
        if response.media_type not in JSON_TYPES:
            return response
        try:
            value = json.loads(response.body)
        except ValueError:
            return response
        changed = change(request, response.status, value)
        separators = (",", ":") if indent is None else (",", ": ")
        return replace(response, body=json.dumps(changed, ensure_ascii=False, indent=indent,
                                                 separators=separators).encode("utf-8"))
    return mutate


def on_request_json(change: Callable[[str, Any], Any]) -> Callable[[Request], Request]:
    """A request mutation that rewrites JSON requests with ``change(operation, value) -> value``."""
    def mutate(request: Request) -> Request:
        value = request.json()
        if not isinstance(value, dict):
            return request
        operation = request.path.rsplit("/", 1)[-1]
        return replace(request, body=json.dumps(change(operation, value), ensure_ascii=False).encode("utf-8"))
    return mutate


@dataclass
class MutatingProxy:
    """The ASGI app: forward to ``upstream`` with ``client`` (made in the serving loop), apply ``mutation``."""

    upstream: str
    verify: Any  # the relay's client TLS context
    mutation: Mutation
    client: httpx.AsyncClient | None = field(default=None, init=False)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        path = scope["raw_path"].decode() + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
        if not path.endswith("/health") and certificate_role(client_certificate(scope)) != "relay":
            # The upstream sees the proxy's relay certificate, not the caller's: the proxy checks the role itself,
            # as a TLS-terminating nginx in front of a connector must ($ssl_client_s_dn's OU).
            await _send(FORBIDDEN, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        request = Request(scope["method"], path, headers, bytes(body))
        if self.mutation.request is not None:
            request = self.mutation.request(request)
        if self.client is None:  # made here: it belongs to the serving thread's event loop
            self.client = httpx.AsyncClient(verify=self.verify, timeout=30.0)
        answer = await self.client.request(request.method, self.upstream + request.path, content=request.body,
                                           headers={k: v for k, v in request.headers.items() if k not in HOP_BY_HOP})
        response = Response(answer.status_code, [(k.lower(), v) for k, v in answer.headers.items()
                                                 if k.lower() not in HOP_BY_HOP], answer.content)
        if self.mutation.response is not None:
            response = self.mutation.response(request, response)
        await _send(response, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _send(response: Response, send: Any) -> None:
    headers = [(k.encode(), v.encode()) for k, v in response.headers]
    if not response.chunked:
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if not response.chunked:
        await send({"type": "http.response.body", "body": response.body})
        return
    pieces = [response.body[i:i + CHUNK] for i in range(0, len(response.body), CHUNK)] or [b""]
    for i, piece in enumerate(pieces):  # no content-length and several body messages: uvicorn sends it chunked
        await send({"type": "http.response.body", "body": piece, "more_body": i < len(pieces) - 1})


@contextlib.contextmanager
def mutating_proxy(upstream: str, pki: TestPKI, mutation: Mutation, *,
                   tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve the proxy in front of ``upstream`` over mutual TLS on loopback; yield its URL.

    ``tls``: its server context (default: the kit's provider-server certificate, client certificates required).
    """
    app = MutatingProxy(upstream.rstrip("/"), pki.client_context("relay-client"), mutation)
    with serving(app, tls=tls or pki.server_context("provider-server"), name="mutating-proxy") as served:
        yield served.url


# -- reusable transformations --------------------------------------------------------------------------------

def gzipped(request: Request, response: Response) -> Response:
    """The answer gzip-compressed, when the request said it accepts gzip (as every HTTP client may)."""
    accepted = [part.split(";")[0].strip().lower() for part in request.headers.get("accept-encoding", "").split(",")]
    if "gzip" not in accepted:
        return response
    return replace(response, body=gzip.compress(response.body), headers=[*response.headers,
                                                                         ("content-encoding", "gzip")])


def chunked(request: Request, response: Response) -> Response:
    return replace(response, chunked=True)


def reversed_keys(value: Any) -> Any:
    """Every object with its members in reverse order (JSON objects are unordered)."""
    if isinstance(value, dict):
        return {k: reversed_keys(value[k]) for k in reversed(value)}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value

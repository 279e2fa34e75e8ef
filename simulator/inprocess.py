"""In-process wiring: parties call each other by URL, and the calls land on ASGI apps without sockets.

A caller's client certificate travels as it does over sockets, in the ASGI TLS extension
(``scope["extensions"]["tls"]["client_cert_chain"]``), so every party checks roles the same way in-process.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from .pki import Credential, leaf_pem

Certificate = Credential | Path | str | None


def _leaf(certificate: Certificate) -> str | None:
    if certificate is None:
        return None
    if isinstance(certificate, Credential):
        return certificate.leaf_pem()
    return leaf_pem(certificate.read_bytes() if isinstance(certificate, Path) else certificate)


def as_caller(app: Any, certificate: Certificate) -> Any:
    """``app`` as seen by a caller presenting ``certificate`` (a credential, its PEM file or PEM text; None:
    no certificate) — what :mod:`.serving` hands the app over a mutual TLS connection."""
    pem = _leaf(certificate)
    # no handshake happens in-process: no version or suite to report, only who is calling
    tls = {"client_cert_chain": [pem] if pem else [], "tls_version": None, "cipher_suite": None}

    async def presenting(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": tls}}
        await app(scope, receive, send)

    return presenting


class AsgiRouter(httpx.AsyncBaseTransport):
    """Dispatch by ``scheme://host[:port]`` to an app's ASGITransport; anything else goes to ``fallback``.

    ``AsgiRouter({"https://provider.test": provider_app, "http://relay.test": relay_app})`` lets the relay call
    ``https://provider.test/s24/v1/health`` in-process. ``client`` sets the peer address the apps see,
    ``certificate`` the client certificate they see (see :func:`as_caller`).
    """

    def __init__(self, apps: Mapping[str, Any], *, fallback: httpx.AsyncBaseTransport | None = None,
                 client: tuple[str, int] = ("127.0.0.1", 50000), certificate: Certificate = None) -> None:
        self.client, self.certificate = client, certificate
        self.routes: dict[str, httpx.ASGITransport] = {}
        for origin, app in apps.items():
            self.add(origin, app)
        self.fallback = fallback

    def add(self, origin: str, app: Any, client: tuple[str, int] | None = None) -> None:
        self.routes[origin.rstrip("/")] = httpx.ASGITransport(as_caller(app, self.certificate),
                                                              client=client or self.client)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        transport = self.routes.get(origin) or self.fallback
        if transport is None:
            raise httpx.ConnectError(f"no in-process app at {origin}", request=request)
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self.fallback is not None:
            await self.fallback.aclose()

"""In-process wiring: parties call each other by URL, and the calls land on ASGI apps without sockets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx


class AsgiRouter(httpx.AsyncBaseTransport):
    """Dispatch by ``scheme://host[:port]`` to an app's ASGITransport; anything else goes to ``fallback``.

    ``AsgiRouter({"https://provider.test": provider_app, "http://relay.test": relay_app})`` lets the relay call
    ``https://provider.test/s24/v1/health`` in-process. ``client`` sets the peer address the apps see.
    """

    def __init__(self, apps: Mapping[str, Any], *, fallback: httpx.AsyncBaseTransport | None = None,
                 client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        self.routes = {origin.rstrip("/"): httpx.ASGITransport(app, client=client) for origin, app in apps.items()}
        self.fallback = fallback

    def add(self, origin: str, app: Any, client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        self.routes[origin.rstrip("/")] = httpx.ASGITransport(app, client=client)

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

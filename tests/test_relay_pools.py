"""The relay's outgoing client keeps one connection pool per origin (docs/performance.md §2): httpcore looks
over every pooled connection on each request, so one shared pool made a call to one party pay for all."""

from __future__ import annotations

import httpx
import pytest

from s24kit.simulator.relay.app import PoolPerOrigin

pytestmark = pytest.mark.anyio


class Made:
    """Transports made by the pool, each answering with its own number and remembering whether it was closed."""

    def __init__(self) -> None:
        self.made: list[httpx.MockTransport] = []
        self.closed: list[int] = []

    def __call__(self) -> httpx.AsyncBaseTransport:
        number = len(self.made)
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"pool": number}))
        original = transport.aclose

        async def aclose() -> None:
            self.closed.append(number)
            await original()

        transport.aclose = aclose  # type: ignore[method-assign]
        self.made.append(transport)
        return transport


async def test_each_origin_has_its_own_pool_and_an_origin_keeps_its_pool():
    made = Made()
    async with httpx.AsyncClient(transport=PoolPerOrigin(made)) as client:
        pools = [(await client.get(url)).json()["pool"] for url in (
            "https://127.0.0.1:18450/99350012/s24/v1/health", "https://127.0.0.1:18450/99350013/s24/v1/health",
            "https://127.0.0.1:18451/insurer/v1/claims", "http://127.0.0.1:18451/insurer/v1/claims",
            "https://localhost:18450/s24/v1/health")]
    # one vendor (two clinics behind one origin), an insurer over https and http, another host name
    assert pools == [0, 0, 1, 2, 3]
    assert sorted(made.closed) == [0, 1, 2, 3]  # closing the client closes every pool

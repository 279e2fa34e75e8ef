"""A synchronous handle on a running :class:`Stack`, for test suites that are not async.

In-process, the stack lives in an event loop on a background thread and the clients handed out forward
each request into that loop (no sockets); over the network, the clients speak mutual TLS to the servers.
The pytest fixtures of the kit's plugin are thin wrappers around this.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from .inprocess import as_caller
from .relay.states import FINAL
from .stack import SimClock, Stack


class _LoopTransport(httpx.BaseTransport):
    """A sync transport that runs an async one inside another thread's event loop."""

    def __init__(self, inner: httpx.AsyncBaseTransport, loop: asyncio.AbstractEventLoop) -> None:
        self.inner, self.loop = inner, loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=body,
                                      extensions=request.extensions)
            response = await self.inner.handle_async_request(forwarded)
            content = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
            await response.aclose()
            return response.status_code, response.headers.raw, content

        status, headers, content = asyncio.run_coroutine_threadsafe(call(), self.loop).result()
        return httpx.Response(status, headers=headers, content=content, request=request)


class Simulator:
    """Relay, insurers and providers of one scenario, with sync clients for each party."""

    def __init__(self, stack: Stack, *, network: bool = False) -> None:
        self.stack, self.network = stack, network
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._context: Any = None
        self._clients: list[httpx.Client] = []

    # -- life -----------------------------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self.network:
            self._context = self.stack.network()
            self._context.__enter__()
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        async def main() -> None:
            self._closing = asyncio.Event()
            try:
                async with self.stack.inprocess():
                    ready.set()
                    await self._closing.wait()
            except BaseException as exc:
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(main(),),
                                        name="s24kit-simulator", daemon=True)
        self._thread.start()
        ready.wait(60)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        if self.network and self._context is not None:
            self._context.__exit__(None, None, None)
        elif self._loop is not None and self._closing is not None:
            self._loop.call_soon_threadsafe(self._closing.set)
            self._thread.join(10)
            self._loop.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- clients --------------------------------------------------------------------------------------------

    @property
    def urls(self) -> dict[str, str]:
        return self.stack.urls

    def client(self, party: str = "relay", *, certificate: str | None = None, anonymous: bool = False) -> httpx.Client:
        """A client for ``party`` ("relay", "insurer:INSA", "provider:99…") presenting ``certificate`` (a
        test-PKI credential name; by default the patient app's for the relay, the relay's for providers and
        insurers; ``anonymous`` presents none). Over the network it trusts the kit's CA."""
        base = self.urls[party]
        name = None if anonymous else certificate or ("patient-app" if party == "relay" else "relay-client")
        if self.network:
            client = httpx.Client(verify=self.stack.pki.client_context(name), base_url=base, timeout=10.0)
        else:
            app = as_caller(self._app(party), self.stack.pki[name] if name else None)
            transport = _LoopTransport(httpx.ASGITransport(app), self._loop)
            client = httpx.Client(transport=transport, base_url=base, timeout=10.0)
        self._clients.append(client)
        return client

    def _app(self, party: str) -> Any:
        if party == "relay":
            return self.stack.relay_app
        kind, code = party.split(":", 1)
        return (self.stack.insurer_apps if kind == "insurer" else self.stack.provider_apps)[code]

    # -- claims ---------------------------------------------------------------------------------------------

    def submit(self, claim: dict[str, Any]) -> dict[str, Any]:
        """POST a patient claim to the relay; returns its claim status (raises on a refusal)."""
        response = self.client("relay").post("/relay/v1/claims", json=claim)
        response.raise_for_status()
        return response.json()

    def wait(self, claim_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll the relay until the claim is paid, denied, failed or waiting for documents."""
        relay, deadline = self.client("relay"), time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            status = relay.get(f"/relay/v1/claims/{claim_id}", params={"wait": f"{max(min(left, 20), 0):.2f}"},
                               timeout=left + 10).json()
            if status["state"] in FINAL:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"claim {claim_id} still {status['state']} after {timeout} s")

    def replay(self, record: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Send a scenario claim (a ``claims.jsonl`` record) at its own time when the stack runs on a
        :class:`SimClock`, and wait for its outcome: the payouts then equal ``record["expected"]``."""
        if isinstance(self.stack.clock, SimClock):
            granted = dt.datetime.fromisoformat(record["claim"]["consent"]["granted_at"])
            self.stack.clock.now = granted + dt.timedelta(minutes=1)
        return self.wait(self.submit(record["claim"])["claim_id"], timeout)

    def admin(self, party: str = "relay") -> httpx.Client:
        """A client for ``party``'s ``/__admin/…`` routes, presenting the admin certificate."""
        return self.client(party, certificate="admin")

    def journal(self, **query: Any) -> list[dict[str, Any]]:
        """The relay's journal entries matching ``query`` (party, route, method, status, q …)."""
        return self.admin().get("/__admin/journal", params={"limit": 1000, **query}).json()["entries"]


@contextlib.contextmanager
def running(stack: Stack, *, network: bool = False) -> Iterator[Simulator]:
    with Simulator(stack, network=network) as simulator:
        yield simulator

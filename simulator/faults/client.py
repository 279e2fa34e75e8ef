"""Faults on outgoing calls: an httpx transport that applies the current fault plan before/after ``inner``.

``party`` is the callee as the caller names it ("provider:99350012", "insurer:I02", "relay"); rules match it.
A request may name its own callee with ``extensions={"s24_party": "insurer:I02"}`` (one client calling many
parties: :class:`PartyFaultTransport`).
The exceptions raised are the ones httpx raises for the real failure, so callers' error handling is tested
as is. Messages end with "(s24kit fault plan)" so journals show the failure was simulated.

``out_of_order_events`` models a network that reorders: the caller gets ``202`` at once (body
``{"held_by_fault": "out_of_order_events"}``), the request itself is delivered after the next matching
request has been delivered, or after ``hold_ms`` (default 1 s), whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from ..problems import problem_body
from .plan import Fault, FaultKind, FaultPlan, FaultRule, FaultSwitch

CLIENT_KINDS = frozenset(FaultKind)
SIMULATED = "(s24kit fault plan)"


def damaged_json(body: bytes, style: str) -> bytes:
    """A body that no JSON parser accepts, in one of the plan's styles."""
    if style == "cut":
        return body[:max(len(body) * 2 // 3, 1)] if len(body) > 1 else b"{"
    if style == "trailing_garbage":
        return body + b"\x00}garbage"
    if style == "html":
        return b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    return body[:1] + b"\xff\xfe" + body[1:]  # bad_utf8


def _without_length(headers: httpx.Headers, length: int | None) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in headers.multi_items() if k.lower() not in ("content-length", "transfer-encoding")]
    return kept + ([("content-length", str(length))] if length is not None else [])


class _PartialStream(httpx.AsyncByteStream):
    """Yield part of a body (optionally slowly), then fail like a connection closed mid-body (or just stop)."""

    def __init__(self, body: bytes, *, chunk: int | None = None, pause: float = 0.0,
                 fail: BaseException | None = None) -> None:
        self.body, self.chunk, self.pause, self.fail = body, chunk or max(len(body), 1), pause, fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), self.chunk):
            if start and self.pause:
                await asyncio.sleep(self.pause)
            yield self.body[start:start + self.chunk]
        if self.fail is not None:
            raise self.fail


class FaultTransport(httpx.AsyncBaseTransport):
    """Apply the plan from ``plan_source()`` to each call to ``party``; an inactive plan costs one check."""

    def __init__(self, inner: httpx.AsyncBaseTransport, plan_source: Callable[[], FaultPlan], party: str) -> None:
        self.inner, self.plan_source, self.party = inner, plan_source, party
        self._held: list[tuple[FaultRule, asyncio.Event]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def _party(self, request: httpx.Request) -> str:
        return request.extensions.get("s24_party", self.party)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        plan = self.plan_source()
        if not plan.active:
            return await self.inner.handle_async_request(request)
        fault = plan.pick(self._party(request), request.method, request.url.path, kinds=CLIENT_KINDS)
        if fault is not None and fault.kind is FaultKind.OUT_OF_ORDER_EVENTS:
            return await self._hold(plan, fault, request)
        if fault is None:
            response = await self.inner.handle_async_request(request)
        else:
            response = await self._apply(fault, request)
        self._release(request)
        return response

    def _release(self, request: httpx.Request) -> None:
        """A matching request got through: requests held back for reordering may go now."""
        for rule, event in self._held:
            if rule.matches(self._party(request), request.method, request.url.path):
                event.set()

    async def _apply(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        kind = fault.kind
        if kind is FaultKind.LATENCY:
            await asyncio.sleep(fault.delay_ms / 1000)
            return await self.inner.handle_async_request(request)
        if kind is FaultKind.ERROR_STATUS:
            return self._problem(fault, request)
        if kind is FaultKind.PARTY_DOWN:
            raise httpx.ConnectError(f"[Errno 111] Connection refused: {self._party(request)} is down {SIMULATED}",
                                     request=request)
        if kind is FaultKind.CONNECTION_RESET:
            if fault["at"] == "connect":
                raise httpx.ConnectError(f"[Errno 104] Connection reset by peer {SIMULATED}", request=request)
            response = await self.inner.handle_async_request(request)  # delivered; the answer is lost
            await response.aclose()
            raise httpx.RemoteProtocolError(f"Server disconnected without sending a response {SIMULATED}",
                                            request=request)
        if kind is FaultKind.TIMEOUT:
            read = (request.extensions.get("timeout") or {}).get("read")
            bound = fault["bound_ms"] / 1000
            await asyncio.sleep(bound if read is None else min(bound, read))
            raise httpx.ReadTimeout(f"timed out {SIMULATED}", request=request)
        if kind is FaultKind.DUPLICATE_EVENT:
            await request.aread()  # a byte stream can be sent twice
            first = await self.inner.handle_async_request(request)
            await first.aread()
            await first.aclose()
            return await self.inner.handle_async_request(request)
        return await self._damage(fault, request)

    def _problem(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        status, code = fault["status"], fault["code"]
        body = problem_body(status, code, f"Simulated {status}",
                            f"결함 계획 규칙 {fault.rule}에 따른 응답 / answer from fault plan rule {fault.rule} "
                            f"{SIMULATED}")
        headers = {"content-type": "application/problem+json"}
        if "retry_after" in fault.params:
            headers["retry-after"] = str(fault["retry_after"])
        return httpx.Response(status, headers=headers, content=json.dumps(body, ensure_ascii=False).encode(),
                              request=request, extensions={"s24_fault": str(fault.kind)})

    async def _damage(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """Faults on the response body: call inner, read its body, hand back a damaged or slow one."""
        response = await self.inner.handle_async_request(request)
        try:
            body = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
        finally:
            await response.aclose()
        extensions = {**response.extensions, "s24_fault": str(fault.kind)}
        if fault.kind is FaultKind.SLOW_BODY:
            rate = fault["bytes_per_second"]
            chunk = max(rate // 10, 1)  # about ten chunks a second
            stream = _PartialStream(body, chunk=chunk, pause=chunk / rate)
            return httpx.Response(response.status_code, headers=response.headers, stream=stream,
                                  request=request, extensions=extensions)
        if fault.kind is FaultKind.TRUNCATED_BODY:
            part = body[:int(len(body) * fault["fraction"])]
            if fault["declare_length"]:  # the promised length is broken: httpx raises, like a real cut
                failure = httpx.RemoteProtocolError(
                    f"peer closed connection without sending complete message body: received {len(part)} bytes, "
                    f"expected {len(body)} {SIMULATED}", request=request)
                return httpx.Response(response.status_code, headers=_without_length(response.headers, len(body)),
                                      stream=_PartialStream(part, fail=failure), request=request,
                                      extensions=extensions)
            return httpx.Response(response.status_code, headers=_without_length(response.headers, len(part)),
                                  stream=httpx.ByteStream(part), request=request, extensions=extensions)
        damaged = damaged_json(body, fault["style"])
        return httpx.Response(response.status_code, headers=_without_length(response.headers, len(damaged)),
                              stream=httpx.ByteStream(damaged), request=request, extensions=extensions)

    async def _hold(self, plan: FaultPlan, fault: Fault, request: httpx.Request) -> httpx.Response:
        await request.aread()
        rule = plan.rules[fault.rule]
        released = asyncio.Event()
        held = (rule, released)
        self._held.append(held)

        async def deliver_later() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(released.wait(), fault["hold_ms"] / 1000)
            self._held.remove(held)
            outcome: dict[str, Any] = {"released_by": "next request" if released.is_set() else "hold_ms"}
            try:
                response = await self.inner.handle_async_request(request)
                await response.aread()
                await response.aclose()
                outcome["delivered_status"] = response.status_code
            except Exception as exc:  # nobody awaits this delivery: the log is where failures show
                outcome["delivery_error"] = f"{type(exc).__name__}: {exc}"
            plan.note(fault, **outcome)

        task = asyncio.create_task(deliver_later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return httpx.Response(202, json={"held_by_fault": str(fault.kind)}, request=request,
                              extensions={"s24_fault": str(fault.kind)})

    async def drain(self) -> None:
        """Deliver every held request now and wait for the deliveries."""
        for _, event in list(self._held):
            event.set()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await self.drain()
        await self.inner.aclose()


class PartyFaultTransport(FaultTransport):
    """A :class:`FaultTransport` for a client that calls many parties: each request names its callee in
    ``extensions["s24_party"]`` (``default_party`` otherwise). ``faults`` is a :class:`FaultSwitch` or a
    plan source."""

    def __init__(self, inner: httpx.AsyncBaseTransport, faults: FaultSwitch | Callable[[], FaultPlan],
                 default_party: str = "unknown") -> None:
        super().__init__(inner, faults.source if isinstance(faults, FaultSwitch) else faults, default_party)

"""Faults on incoming calls: pure ASGI middleware for apps served to vendors' connectors over the network.

A dropped connection (``connection_reset``, the end of ``timeout``, the cut of ``truncated_body``) aborts
the TCP connection with a reset when the server exposes its transport (uvicorn does, through the bound
``send``); elsewhere (in-process) it raises :class:`FaultDrop`, which the caller sees as the failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import Any

from ..problems import ProblemResponse, problem_body
from .client import SIMULATED, damaged_json
from .plan import Fault, FaultKind, FaultPlan

SERVER_KINDS = frozenset({FaultKind.LATENCY, FaultKind.ERROR_STATUS, FaultKind.SLOW_BODY, FaultKind.TRUNCATED_BODY,
                          FaultKind.MALFORMED_JSON, FaultKind.CONNECTION_RESET, FaultKind.TIMEOUT,
                          FaultKind.PARTY_DOWN})


class FaultDrop(ConnectionResetError):
    """Raised to drop the connection when the server gives no way to abort it."""


async def _drop(send: Any, *, reset: bool = True) -> None:
    """Drop the client's connection through uvicorn's transport, else raise FaultDrop.

    ``reset``: abort with SO_LINGER 0 (an RST, what a crashed peer or middlebox sends); otherwise close
    after flushing what was sent (a FIN: the client keeps the partial body and sees it end early).
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise FaultDrop(f"connection dropped {SIMULATED}")
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    for _ in range(3):  # let connection_lost run so the server does not try to answer on a dead socket
        await asyncio.sleep(0)


async def _captured(app: Any, scope: dict[str, Any], receive: Any) -> tuple[dict[str, Any], bytes]:
    """Run the app, keeping its response start message and whole body instead of sending them."""
    start: dict[str, Any] = {}
    body = bytearray()

    async def keep(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, keep)
    return start, bytes(body)


def _headers(start: dict[str, Any], length: int) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"transfer-encoding")]
    return [*kept, (b"content-length", str(length).encode())]


class FaultMiddleware:
    """Apply the plan from ``plan_source()`` to requests the app receives; an inactive plan calls the app."""

    def __init__(self, app: Any, plan_source: Callable[[], FaultPlan], party: str) -> None:
        self.app, self.plan_source, self.party = app, plan_source, party

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        plan = self.plan_source()
        if not plan.active:
            await self.app(scope, receive, send)
            return
        fault = plan.pick(self.party, scope["method"], scope["path"], kinds=SERVER_KINDS)
        if fault is None:
            await self.app(scope, receive, send)
        else:
            await self._apply(fault, scope, receive, send)

    async def _apply(self, fault: Fault, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = fault.kind
        if kind is FaultKind.LATENCY:
            await asyncio.sleep(fault.delay_ms / 1000)
            await self.app(scope, receive, send)
        elif kind is FaultKind.ERROR_STATUS:
            body = problem_body(fault["status"], fault["code"], f"Simulated {fault['status']}",
                                f"결함 계획 규칙 {fault.rule}에 따른 응답 / answer from fault plan rule {fault.rule} "
                                f"{SIMULATED}")
            headers = {"retry-after": str(fault["retry_after"])} if "retry_after" in fault.params else None
            await ProblemResponse(body, status_code=fault["status"], headers=headers)(scope, receive, send)
        elif kind in (FaultKind.CONNECTION_RESET, FaultKind.PARTY_DOWN):
            await _drop(send)
        elif kind is FaultKind.TIMEOUT:
            await asyncio.sleep(fault["bound_ms"] / 1000)
            await _drop(send)
        else:
            await self._damage(fault, scope, receive, send)

    async def _damage(self, fault: Fault, scope: dict[str, Any], receive: Any, send: Any) -> None:
        start, body = await _captured(self.app, scope, receive)
        if fault.kind is FaultKind.TRUNCATED_BODY:
            part = body[:int(len(body) * fault["fraction"])]
            if not fault["declare_length"]:  # a short but well-framed body
                await send({**start, "headers": _headers(start, len(part))})
                await send({"type": "http.response.body", "body": part})
                return
            await send({**start, "headers": _headers(start, len(body))})  # the full length is promised
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await _drop(send, reset=False)
            return
        if fault.kind is FaultKind.MALFORMED_JSON:
            damaged = damaged_json(body, fault["style"])
            await send({**start, "headers": _headers(start, len(damaged))})
            await send({"type": "http.response.body", "body": damaged})
            return
        rate = fault["bytes_per_second"]  # slow_body
        chunk = max(rate // 10, 1)
        await send({**start, "headers": _headers(start, len(body))})
        for offset in range(0, len(body), chunk):
            if offset:
                await asyncio.sleep(chunk / rate)
            await send({"type": "http.response.body", "body": body[offset:offset + chunk], "more_body": True})
        await send({"type": "http.response.body", "body": b""})

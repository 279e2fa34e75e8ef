"""The provider's outbound agent: for clinics with no inbound firewall opening, it polls the relay for
pending requests, answers them from the same :class:`ProviderCore` as the HTTP endpoints, and posts the
answers back. Only outbound HTTPS from the clinic's registered address is needed."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from .core import ProviderCore

log = logging.getLogger(__name__)


class ProviderAgent:
    """Poll ``relay_url`` for ``core``'s provider; ``client`` carries the agent's client certificate."""

    def __init__(self, core: ProviderCore, relay_url: str, client: httpx.AsyncClient, *,
                 agent_id: str = "agent-1", wait: float = 2.0, max_requests: int = 10) -> None:
        self.core, self.client = core, client
        self.relay_url = relay_url.rstrip("/")
        self.agent_id, self.wait, self.max_requests = agent_id, wait, max_requests
        self.answered = 0
        self.last_error: str | None = None

    async def poll_once(self) -> int:
        """One poll (long-polling up to ``wait`` s) and the replies; returns how many requests were answered."""
        response = await self.client.post(
            f"{self.relay_url}/relay/v1/agent/poll", params={"wait": f"{self.wait:g}"},
            json={"provider_code": self.core.scenario.provider_code, "agent_id": self.agent_id,
                  "max_requests": self.max_requests},
            timeout=self.wait + 10)
        response.raise_for_status()
        done, refused = 0, []
        for work in response.json()["requests"]:
            status, body = self.core.answer(work["operation"], work["body"])
            reply = await self.client.post(f"{self.relay_url}/relay/v1/agent/replies", json={
                "request_id": work["request_id"], "operation": work["operation"], "status": status, "body": body})
            if reply.is_success:
                done += 1
            else:  # one refused reply (e.g. a request withdrawn meanwhile) must not drop the rest of the batch
                refused.append(f"{work['request_id']}: HTTP {reply.status_code}")
        self.answered += done
        if refused:
            self.last_error = "replies refused: " + ", ".join(refused)
            log.warning("agent replies refused: %s", self.last_error)
        return done

    async def run(self) -> None:
        """Poll until cancelled; a failed poll is logged and retried after a pause, never fatal."""
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("agent poll failed: %s", self.last_error)
                await asyncio.sleep(min(self.wait, 1.0))

    @contextlib.asynccontextmanager
    async def running(self):
        """``async with agent.running(): …`` — poll in the background for the duration of the block."""
        task = asyncio.create_task(self.run())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

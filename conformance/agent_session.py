"""The suite toward a provider's agent (role provider_agent): the same :class:`Session`, another transport.

Checks ask ``session.ask(operation, body) -> Exchange`` whatever the role. Here the request becomes a work item
in the suite's :class:`~.agent_hub.AgentHub`; the agent polls for it and posts its reply, and the reply becomes
the exchange: status and body are the reply's, ``exchange_id`` the reply's journal entry, ``elapsed_ms`` the
time from queueing to the reply. A request the agent does not answer before its deadline (``--timeout``) is a
``ReadTimeout`` exchange. Requests that only make sense on a connector's own HTTP server (malformed JSON,
another content type, 2 MiB bodies, no client certificate) are not sent: their checks are for provider_pull.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..simulator.journal import Journal
from ..simulator.pki import Credential, TestPKI
from .agent_hub import POLL_PATH, REPLY_PATH, AgentHub, WorkItem
from .session import BASE, FETCH, HEALTH, SEARCH, Exchange, Session, Target, TargetUnreachable, new_request_id

#: The biggest work body the suite queues: what a connector's endpoint must accept (create_provider_app).
MAX_WORK_BYTES = 1024 * 1024


class AgentSession(Session):
    """The relay's conversation with a provider's agent: it serves the agent's polls (see the module docstring)."""

    hub: AgentHub  # set first thing in _connect

    def __init__(self, target: Target, journal: Journal | None = None, *,
                 announce: Callable[[str], None] | None = None) -> None:
        self._announce = announce
        self.url = target.url
        self._item_of: dict[int, WorkItem] = {}  # id(exchange) → the work item it answers
        super().__init__(target, journal)

    def _connect(self) -> None:
        """Listen for the agent, say where it must point, and wait for its first accepted poll."""
        target, code = self.target, self.scenario.provider_code
        self.party = f"agent:{code}→relay"
        parts = urlsplit(target.url)
        self.hub = AgentHub(code, self.journal, timeout=target.timeout, agent_cert_sha256=target.agent_cert_sha256)
        self.url = self.hub.start(parts.hostname or "127.0.0.1", parts.port or 0, self._server_context())
        if self._announce is not None:
            self._announce(self.instructions())
        if not self.hub.first_poll.wait(target.agent_wait):
            refusal = self.hub.refusal
            self.close()
            if refusal is not None:
                raise TargetUnreachable(f"에이전트의 폴링을 모두 거절했습니다: {refusal}",
                                        f"every poll of the agent was refused: {refusal}")
            raise TargetUnreachable(
                f"에이전트가 {target.agent_wait:g}초 동안 폴링하지 않았습니다: {self.url}(으)로 향하게 하고 "
                f"(CA {target.ca_bundle}), 그 PC에서 s24kit doctor --outbound로 연결을 확인하십시오",
                f"the agent never polled within {target.agent_wait:g} s: point it at {self.url} (CA "
                f"{target.ca_bundle}) and check its connection with s24kit doctor --outbound on its host")
        self._cache["health"] = self._not_sent("GET", HEALTH, b"", {}, None, "an agent has no health endpoint")

    def _server_context(self) -> Any:
        """The relay's server TLS: the target's certificate, client certificates from its CA required.

        The kit's one server policy (versions, ciphers) is TestPKI.server_context; it takes any certificate.
        """
        cert, key, ca = Path(self.target.client_cert or ""), Path(self.target.client_key or ""), self.target.ca_bundle
        return TestPKI(cert.parent, Path(ca or ""), {"relay-server": Credential(cert, key)}).server_context(
            "relay-server")

    def instructions(self) -> str:
        """Where the agent must point, bilingual, several lines (printed before waiting for the first poll)."""
        t = self.target
        agent_cert = Path(t.ca_bundle or "").parent / "provider-agent.pem"
        which = (f"{agent_cert} (+ .key)" if agent_cert.is_file() else "")
        pin = f", SHA-256 {t.agent_cert_sha256}" if t.agent_cert_sha256 else ""
        return "\n".join([
            "에이전트를 이 시험의 중계기관으로 향하게 하십시오 / point the provider's agent at this suite:",
            f"  중계기관 URL / relay URL: {self.url}  (POST {POLL_PATH}?wait=S, POST {REPLY_PATH})"
            + ("; 0.0.0.0/:: 대신 이 PC의 주소 / this machine's address for 0.0.0.0/::"
               if urlsplit(self.url).hostname in ("0.0.0.0", "::") else ""),
            f"  요양기관기호 / provider_code: {self.scenario.provider_code}",
            f"  서버 인증서를 검증할 CA / CA of the server certificate: {t.ca_bundle}",
            f"  클라이언트 인증서 / client certificate: 이 CA가 발급한 것{pin} / issued by that CA{pin}"
            + (f"; 키트의 것 / the kit's: {which}" if which else ""),
            f"  첫 폴링을 {t.agent_wait:g}초 기다립니다 / waiting {t.agent_wait:g} s for the first poll …",
        ])

    # -- transport ----------------------------------------------------------------------------------------

    def raw(self, method: str, path: str, *, content: bytes = b"", headers: dict[str, str] | None = None,
            client: Any = None, request_id: str | None = None, body_shell: str | None = None) -> Exchange:
        """Queue the request for the agent and wait for its reply (or say why it cannot go to an agent)."""
        headers = dict(headers or {})
        operation = path.removeprefix(BASE)
        why = _unsendable(method, operation, content, headers, client)
        body: Any = None
        if why is None:
            try:
                body = json.loads(content)
            except ValueError:
                why = "an agent gets JSON objects: malformed bodies are for provider_pull"
        if why is None and not (isinstance(body, dict) and isinstance(body.get("request_id"), str)):
            why = "an agent gets JSON objects with a request_id"
        if why is not None:
            return self._not_sent(method, path, content, headers, request_id, why)
        return self._keep(self._asked(operation, body, content))

    def _asked(self, operation: str, body: dict[str, Any], content: bytes) -> Exchange:
        """The exchange of one work item: the agent's reply, or a ReadTimeout at its deadline."""
        item = self.hub.settle(self.hub.enqueue(operation, body, content))
        reply = item.reply
        url = self.url + REPLY_PATH
        if reply is None:
            why = (f"ReadTimeout: 에이전트가 기한({self.target.timeout:g}초) 안에 답하지 않았습니다 "
                   f"/ the agent did not reply before the deadline ({self.target.timeout:g} s)")
            exchange = Exchange(item.request_id, "POST", url, None, {}, None, "", self.target.timeout * 1000,
                                item.poll_exchange, why, content)
        else:
            answer = reply.value["body"]
            exchange = Exchange(item.request_id, "POST", url, reply.value["status"], reply.headers, answer,
                                json.dumps(answer, ensure_ascii=False), (reply.at - item.queued_at) * 1000,
                                reply.exchange, None, content, {}, reply.raw)
        self._item_of[id(exchange)] = item
        return exchange

    def _not_sent(self, method: str, path: str, content: bytes, headers: dict[str, str], request_id: str | None,
                  why: str) -> Exchange:
        """An exchange that never happened (not kept: no check of this role judges it)."""
        return Exchange(request_id, method, self.url + path, None, {}, None, "", 0.0, None,
                        f"not sent to an agent: {why}", content, headers)

    def item(self, exchange: Exchange) -> WorkItem | None:
        """The work item behind an exchange of this session."""
        return self._item_of.get(id(exchange))

    def curl(self, exchange: Exchange) -> str:
        """One line explaining the work item the agent got and what became of it (no curl reaches an agent)."""
        item = self.item(exchange)
        if item is None:
            return f"# {exchange.error}"
        replies = ", ".join(f"{r.exchange} → {r.outcome}" for r in item.attempts) or "none"
        # The body names a patient: it goes, masked, to the report folder like every reproduction's body.
        work = json.dumps(self.privacy.json(item.work()), ensure_ascii=False).encode("utf-8")
        path = self.requests.write(f"work-{item.request_id}", work)
        poll = item.poll_exchange or "(none: not handed out)"
        return (f"# agent work item, handed out by poll {poll}, replies: {replies}; "
                f"the agent answers it as POST /s24/v1/{item.operation} with the body in {path}")

    def close(self) -> None:
        hub = getattr(self, "hub", None)
        if hub is not None:
            hub.stop()

    # -- agent-only probes (S24-API-103) ------------------------------------------------------------------

    def after_refusal(self) -> tuple[WorkItem, Exchange | None]:
        """A search withdrawn the moment it is handed out (its reply gets 404 not_found), then a normal search.

        Returns the withdrawn item (its ``attempts`` show the 404) and the next search's exchange — None when
        the agent never replied to the withdrawn one, so that there was no 404 to recover from.
        """
        def compute() -> tuple[WorkItem, Exchange | None]:
            query, _ = self.sample()
            body = {"request_id": new_request_id(), **self.search_body(query)}
            item = self.hub.settle(self.hub.enqueue(SEARCH, body, json.dumps(body, ensure_ascii=False).encode(),
                                                    withdraw=True))
            if not item.attempts:
                return item, None
            return item, self.ask(SEARCH, self.search_body(query))
        return self.once("after_refusal", compute)


def _unsendable(method: str, operation: str, content: bytes, headers: dict[str, str], client: Any) -> str | None:
    """Why a request cannot become a work item (None when it can)."""
    if client is not None:
        return "other TLS clients are for provider_pull: an agent connects to the relay"
    if method != "POST" or operation not in (SEARCH, FETCH):
        return f"an agent answers {SEARCH} and {FETCH} only"
    media = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if media.split(";")[0].strip().lower() != "application/json":
        return "an agent gets parsed JSON: content types are for provider_pull"
    if len(content) > MAX_WORK_BYTES:
        return f"work items above {MAX_WORK_BYTES} bytes are not queued: body limits are for provider_pull"
    return None

"""The last resort of every party's app: an exception nobody handled becomes a 500 problem, never a traceback.

Starlette's own error middleware sits outside every user middleware, so the journal would see the exception
but not the answer, and the server would print the traceback. :class:`LastResortMiddleware` goes inside the
journal: the caller gets ``500 internal_error`` as problem+json without internals, the journal records that
answer together with the exception (``scope["s24_error"]``, read by :class:`~.journal.JournalMiddleware`), and
the server log gets one line naming the route and the exception type. An app that journals in its handlers
(the suite's agent hub) passes its journal, and the middleware records the refused exchange itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from .journal import ERROR_KEY, Journal
from .problems import problem

log = logging.getLogger("s24kit.server")


class LastResortMiddleware:
    """Pure ASGI middleware: answer 500 ``internal_error`` for any exception the app let through."""

    def __init__(self, app: Any, party: str = "s24kit", journal: Journal | None = None) -> None:
        self.app, self.party, self.journal = app, party, journal

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, started_at = False, dt.datetime.now(dt.UTC)

        async def send_tracked(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:  # the last resort: whatever it was, the caller gets a problem, not a trace
            scope[ERROR_KEY] = f"{type(exc).__name__}: {exc}"
            log.error("%s: %s %s raised %s (answered 500 internal_error; details in the journal)",
                      self.party, scope.get("method"), scope.get("path"), type(exc).__name__)
            if started:  # the answer is under way: it cannot become a problem any more; the connection ends
                return
            answer = problem(500, "internal_error", "Internal error",
                             "처리 중 예기치 못한 오류가 났습니다; 다시 시도하거나 운영자에게 저널 기록을 문의하십시오 "
                             "/ an unexpected error occurred; retry, or ask the operator for the journal entry")
            if self.journal is not None:
                self._record(scope, answer, started_at)
            await answer(scope, receive, send)

    def _record(self, scope: dict[str, Any], answer: Any, started_at: dt.datetime) -> None:
        """The exchange in this app's own journal (the body was read by the handler: not kept)."""
        client = scope.get("client")
        path = scope.get("root_path", "") + scope.get("path", "/")
        self.journal.record(party=self.party, method=scope.get("method", "GET"), url=path, route=path,
                            request_headers=scope.get("headers"), status=answer.status_code,
                            response_headers=answer.raw_headers, response_body=bytes(answer.body),
                            started_at=started_at, error=scope[ERROR_KEY],
                            peer=f"{client[0]}:{client[1]}" if client else None)

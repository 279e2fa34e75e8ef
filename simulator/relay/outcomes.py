"""What a call to another party came to: an answer, a permanent refusal, a retryable failure, or a wait."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Answer = tuple[int, dict[str, Any]]


class Permanent(Exception):
    """The other party answered, and retrying will not change the answer."""


class Retryable(Exception):
    """The other party could not be reached or failed; try again later."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """An agent request is queued; look again at ``until`` (or sooner, when the agent replies)."""

    until: float


def _problem_text(status: int, body: Any) -> str:
    if isinstance(body, dict) and "code" in body:
        return f"HTTP {status} {body['code']}: {body.get('detail') or body.get('title', '')}"[:480]
    return f"HTTP {status}"


def judge(status: int, body: Any) -> tuple[int, dict[str, Any]]:
    """A 2xx JSON answer passes through; 408, 429, 5xx and non-JSON are retryable; other refusals are final."""
    if 200 <= status < 300 and isinstance(body, dict):
        return status, body
    if status in (408, 429) or status >= 500 or not isinstance(body, dict):
        raise Retryable(_problem_text(status, body) + ("" if isinstance(body, dict) else " (body is not JSON)"))
    raise Permanent(_problem_text(status, body))

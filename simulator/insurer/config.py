"""How a fake insurer behaves: a closed set of named behaviours."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ..retry import RetryPolicy


class Behaviour(StrEnum):
    """What the insurer does with a claim it accepted (or whether it accepts at all)."""

    PAY = "pay"  # received → in_review → paid, with the breakdown
    DENY = "deny"  # received → in_review → denied, with ``deny_reason``
    PEND = "pend"  # received → in_review; decides after ``pend_seconds`` or on POST /__admin/claims/{r}/decide
    MORE_DOCUMENTS = "more_documents"  # received → more_documents_required
    SLOW = "slow"  # as pay, but the acknowledgement takes ``delay_ms``
    UNAVAILABLE = "unavailable"  # every submission is answered 503
    ACK_TWICE = "ack_twice"  # as pay, but every event is delivered twice


@dataclass(frozen=True, slots=True)
class InsurerConfig:
    code: str
    name: str = "가상손해보험 (TEST)"
    behaviour: Behaviour = Behaviour.PAY
    deny_reason: str = "NOT_COVERED"
    delay_ms: int = 2000
    pend_seconds: float = 30.0
    requested_documents: tuple[str, ...] = ("itemised_statement",)
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(attempts=8))  # events must get through
    max_body_bytes: int = 8 * 1024 * 1024
    #: the relay's base URL: the only place events are posted to (a callback_url elsewhere is refused)
    relay_base: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> InsurerConfig:
        """From TOML/JSON configuration; unknown keys and behaviours are a ValueError naming the field."""
        known = {"code", "name", "behaviour", "deny_reason", "delay_ms", "pend_seconds", "requested_documents",
                 "relay_base"}
        unknown = set(data) - known - {"retry"}
        if unknown:
            raise ValueError(f"unknown insurer setting(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(known))}")
        values = {k: v for k, v in data.items() if k in known}
        if "behaviour" in values:
            try:
                values["behaviour"] = Behaviour(values["behaviour"])
            except ValueError:
                choices = ", ".join(b.value for b in Behaviour)
                raise ValueError(f"behaviour {values['behaviour']!r} is not one of {choices}") from None
        if "requested_documents" in values:
            values["requested_documents"] = tuple(values["requested_documents"])
        retry = RetryPolicy(**data["retry"]) if "retry" in data else RetryPolicy(attempts=8)
        return cls(retry=retry, **values)

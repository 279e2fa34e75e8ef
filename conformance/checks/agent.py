"""Agent mode (role provider_agent): how the agent polls and replies, judged from what the suite's hub saw.

The checks every role shares (search, fetch, errors, idempotency, documents …) judge the agent's answers
through the same session API; these judge the polling protocol itself. Each first gathers the run's shared
traffic (``session.sent()``), so that it has polls and replies to judge even when selected alone.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ...schemas.validation import schema_findings
from ..session import Session, without_persons
from .registry import Evidence, Outcome, check, failed, passed, skipped
from .schema import PROBLEM

AGENTS_ONLY = "에이전트 방식에만 적용됩니다 / applies to agents only (--role provider_agent)"
MIN_WAIT = 1.0  # seconds a poll must ask to be held (?wait=)
MAX_EMPTY_PER_SECOND = 2.0
EXAMPLES = 5
REPLY_SHAPE = "UTF-8 JSON valid against agent.schema.json#/$defs/reply, with the registered certificate"

if TYPE_CHECKING:  # the agent side (a server) is imported only when an agent is judged
    from ..agent_session import AgentSession


def _agent(session: Session) -> AgentSession | None:
    return session if getattr(session, "hub", None) is not None else None  # type: ignore[return-value]


def _seen(message: str, exchange: str | None, **fields: object) -> Evidence:
    """Evidence about a request of the agent's own (a poll or a reply), masked like every evidence."""
    return Evidence(without_persons(message), exchange=exchange,
                    **{k: without_persons(v) for k, v in fields.items()})


@check("S24-API-100")
def polls_well(session: Session) -> Outcome:
    agent = _agent(session)
    if agent is None:
        return skipped(AGENTS_ONLY)
    agent.sent()
    polls = agent.hub.polls()
    problems = [_seen(f"폴링 거절 / poll refused: {p.problem}", p.exchange, expected=200, actual=p.problem)
                for p in polls if p.status != 200]
    return agent.verdict(problems, len(polls), "polls")


@check("S24-API-101")
def replies_match(session: Session) -> Outcome:
    agent = _agent(session)
    if agent is None:
        return skipped(AGENTS_ONLY)
    from ..agent_hub import MISMATCHED

    agent.sent()
    replies = agent.hub.replies()
    problems = []
    for reply in replies:
        if reply.outcome not in MISMATCHED:
            continue
        named = (f"{reply.value.get('request_id')} {reply.value.get('operation')}" if isinstance(reply.value, dict)
                 else reply.raw[:200].decode("utf-8", errors="replace"))
        expected = (REPLY_SHAPE if reply.outcome in ("invalid", "refused")
                    else "request_id and operation of a work item handed out")
        problems.append(_seen(f"응답 거절 ({reply.outcome}) / reply refused ({reply.outcome}): {reply.problem}",
                              reply.exchange, expected=expected, actual=named))
    return agent.verdict(problems, len(replies), "replies")


@check("S24-API-102")
def answered_once(session: Session) -> Outcome:
    agent = _agent(session)
    if agent is None:
        return skipped(AGENTS_ONLY)
    agent.sent()
    replies = agent.hub.replies()
    problems = [_seen("같은 작업에 다시 보낸 응답 / another reply to a work item already answered", r.exchange,
                      expected="one reply", actual=r.value.get("request_id"))
                for r in replies if r.outcome == "duplicate"]
    return agent.verdict(problems, sum(r.outcome == "accepted" for r in replies), "work items answered")


@check("S24-API-103")
def recovers_after_404(session: Session) -> Outcome:
    agent = _agent(session)
    if agent is None:
        return skipped(AGENTS_ONLY)
    withdrawn, follow = agent.after_refusal()
    if follow is None:
        return skipped(f"에이전트가 취소된 요청에 답하지 않아 404를 줄 수 없었습니다 (S24-API-014 참고) "
                       f"/ the agent did not reply to the withdrawn request, so it never got a 404 "
                       f"(see S24-API-014): {withdrawn.request_id} {withdrawn.state}")
    refused = withdrawn.attempts[0]
    shown = Evidence(f"취소된 요청의 응답에 {refused.status} / {refused.status} to the reply of a withdrawn request",
                     exchange=refused.exchange, actual=refused.problem)
    if follow.status is None:
        return failed(f"{refused.status} 뒤로 응답이 없습니다 / no answer after the {refused.status}", shown,
                      agent.evidence(follow, follow.error or "", expected="an answer", actual=follow.answered))
    return passed(f"{refused.status} 뒤 다음 요청에 {follow.answered} ({follow.elapsed_ms:.0f} ms) "
                  f"/ after the {refused.status} the next request got {follow.answered} ({follow.elapsed_ms:.0f} ms)")


@check("S24-API-104")
def long_polls(session: Session) -> Outcome:
    agent = _agent(session)
    if agent is None:
        return skipped(AGENTS_ONLY)
    agent.sent()
    polls = [p for p in agent.hub.polls() if p.status == 200]
    if not polls:
        return skipped("받아들인 폴링이 없습니다 / no accepted poll to judge")
    reasons: list[str] = []
    evidence: list[Evidence] = []
    short = [p for p in polls if p.wait is None or p.wait < MIN_WAIT]
    if short:
        reasons.append(f"폴링 {len(polls)}번 중 {len(short)}번이 대기 없음 / {len(short)} of {len(polls)} polls "
                       f"without ?wait= of at least {MIN_WAIT:g} s")
        evidence += [_seen("대기 없는 폴링 / a poll that does not wait", p.exchange, pointer="?wait",
                           expected=f"≥ {MIN_WAIT:g} s", actual="none" if p.wait is None else f"{p.wait:g} s")
                     for p in short[:EXAMPLES]]
    empty = [p for p in polls if not p.handed]
    span = max(time.monotonic() - polls[0].started, 1.0)
    rate = len(empty) / span
    if rate > MAX_EMPTY_PER_SECOND:
        reasons.append(f"빈 폴링 초당 {rate:.1f}번 / {rate:.1f} empty polls a second")
        evidence.append(_seen(f"{span:.1f}초에 빈 폴링 {len(empty)}번 / {len(empty)} empty polls in {span:.1f} s",
                              empty[-1].exchange, expected=f"≤ {MAX_EMPTY_PER_SECOND:g}/s", actual=f"{rate:.1f}/s"))
    if reasons:
        return failed("; ".join(reasons), *evidence)
    return passed(f"폴링 {len(polls)}번, 빈 폴링 초당 {rate:.1f}번 / {len(polls)} polls, {rate:.1f} empty a second")


@check("S24-SCH-007")
def problem_replies(session: Session) -> Outcome:
    agent = _agent(session)
    if agent is None:
        return skipped(AGENTS_ONLY)
    problems: list[Evidence] = []
    errors = [ex for ex in agent.responses() if ex.status is not None and ex.status >= 400]
    for ex in errors:
        for finding in schema_findings(PROBLEM, ex.body)[:5]:
            problems.append(agent.evidence(ex, f"{finding.message_ko} / {finding.message_en}",
                                           pointer=finding.pointer))
        if isinstance(ex.body, dict) and ex.body.get("status") not in (None, ex.status):
            problems.append(agent.evidence(ex, "body의 status가 reply의 status와 다릅니다 / body status differs from "
                                               "the reply's status", pointer="/status", expected=ex.status,
                                           actual=ex.body.get("status")))
    return agent.verdict(problems, len(errors), "error replies")

"""The network checks S24-NET-*: name resolution, TCP reachability, the registered source address, and
the relay reachable from the agent's side. Context: :class:`NetTarget` (probes shared between checks)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..checks.registry import CHECKS, Evidence, Outcome, Result, check, failed, passed, skipped
from .diagnoses import diagnose
from .probes import DnsStatus
from .target import (
    NetTarget,
    Problem,
    dns_problem,
    handshake_once,
    relay_problem,
    source_address,
    source_problem,
    tcp_problem,
)

OUTBOUND_ONLY = ("에이전트 쪽에서만 확인하는 항목입니다: 그 PC에서 s24kit doctor --outbound를 실행하십시오 / "
                 "checked from the agent's side only: run s24kit doctor --outbound there")


def _reason(problem: Problem, target: NetTarget) -> str:
    found = diagnose(problem[0], problem[1], outbound=target.outbound)
    detail = problem[1].get("detail")
    return f"{found.title_ko} / {found.title_en}" + (f": {detail}" if detail else "")


def _curl(target: NetTarget, path: str = "/") -> str:
    """A curl line that repeats the connection, pasteable anywhere (absolute certificate paths, quoted)."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    parts = ["curl", "-sv", "--connect-timeout", f"{target.timeout:g}"]
    if target.anchors:
        parts += ["--cacert", str(Path(target.anchors).absolute())]
    if target.client_cert:
        parts += ["--cert", str(Path(target.client_cert).absolute()),
                  "--key", str(Path(target.client_key or target.client_cert).absolute())]
    return " ".join(shlex.quote(p) for p in [*parts, f"https://{host}:{target.port}{path}"])


@check("S24-NET-001", kind="net", tags=("dns",))
def name_resolves(target: NetTarget) -> Outcome:
    dns = target.dns()
    if dns.status is DnsStatus.LITERAL:
        return skipped("접속 주소가 IP라 조회할 이름이 없습니다 / the endpoint is an IP address: no name to resolve")
    evidence = Evidence(message=dns.error or f"{dns.name} → {', '.join(dns.addresses)}",
                        expected=list(target.registered) or "an address",
                        actual=list(dns.addresses) or dns.status.value, reproduction=f"nslookup {target.host}")
    problem = dns_problem(target)
    if problem is not None:
        return failed(_reason(problem, target), evidence)
    return passed(f"{dns.name} → {', '.join(dns.addresses)} ({dns.elapsed_ms:g} ms)", evidence)


@check("S24-NET-002", kind="net", tags=("tcp",))
def tcp_reachable(target: NetTarget) -> Outcome:
    if not target.dns().ok:
        return skipped("이름을 주소로 바꾸지 못했습니다 (S24-NET-001) / the name did not resolve (see S24-NET-001)")
    evidence = [Evidence(message=r.describe(), expected="open", actual=r.status.value, reproduction=_curl(target))
                for r in target.tcp()]
    problem = tcp_problem(target)
    if problem is not None:
        return failed(_reason(problem, target), *evidence)
    reached = target.reached()
    assert reached is not None  # no problem means an address accepted
    return passed(reached.describe(), *evidence)


@check("S24-NET-003", kind="net", tags=("source",))
def registered_source(target: NetTarget) -> Outcome:
    if not target.outbound:
        return skipped(OUTBOUND_ONLY)
    if target.expect_source is None:
        return skipped("등록된 출발지 주소가 주어지지 않았습니다 (--expect-source IP) / "
                       "no registered source address given (--expect-source IP)")
    answer = target.whoami()
    if answer is None or answer.status is None:
        why = "no TCP connection" if answer is None else answer.error
        return skipped(f"whoami에 닿지 못했습니다 (S24-NET-004 참고) / whoami not reachable: {why} (see S24-NET-004)")
    seen = source_address(answer)
    evidence = Evidence(message=f"GET {target.whoami_path} → HTTP {answer.status}", expected=target.expect_source,
                        actual=seen, reproduction=_curl(target, target.whoami_path))
    problem = source_problem(target)
    if problem is not None:
        return failed(_reason(problem, target), evidence)
    return passed(f"중계기관이 등록된 주소 {seen}을(를) 봅니다 / the relay sees {seen}, the registered address",
                  evidence)


@check("S24-NET-004", kind="net", tags=("outbound",))
def relay_reachable(target: NetTarget) -> Outcome:
    if not target.outbound:
        return skipped(OUTBOUND_ONLY)
    reproduction = _curl(target, target.whoami_path)
    problem = dns_problem(target) if not target.dns().ok else tcp_problem(target)
    if problem is not None:
        return failed(_reason(problem, target), Evidence(message=str(problem[1].get("detail") or problem[0]),
                                                         reproduction=reproduction))
    # Only an HTTP answer proves acceptance: some servers end a TLS 1.3 connection without an alert when
    # they refuse the client, so the handshake is there to name the failure.
    answer = target.whoami()
    assert answer is not None
    outcome = handshake_once(target, with_client_cert=True, verify=True, path=target.whoami_path)
    evidence = Evidence(message=outcome.describe(), expected="an HTTP answer",
                        actual=answer.error or f"HTTP {answer.status}", reproduction=reproduction)
    problem = relay_problem(target, answer, outcome)
    if problem is not None:
        return failed(_reason(problem, target), evidence)
    return passed(f"{outcome.describe()}; GET {target.whoami_path} → HTTP {answer.status}", evidence)


def context_for(target: Any) -> NetTarget:
    """The NET context of the suite's target (conformance.session.Target): the relay connecting in."""
    return NetTarget.from_url(target.url, timeout=min(float(target.timeout), 3.0), anchors=target.ca_bundle,
                              client_cert=target.client_cert, client_key=target.client_key)


def run_net_checks(target: NetTarget, select: Callable[[str], bool] | None = None) -> list[Result]:
    """Run every registered kind="net" check (those ``select`` accepts) in id order; probes run once."""
    chosen = [c for rid, c in sorted(CHECKS.items()) if c.kind == "net" and (select is None or select(rid))]
    return [c.run(target) for c in chosen]

"""``s24kit doctor``: walk the layers from the name to the kit-v1 answer and name the first broken one.

Toward a provider (the relay's view): DNS → TCP → TLS → certificate → mutual TLS → HTTP → kit-v1 health.
Toward the relay (``outbound``, the clinic's view): DNS → TCP → TLS → certificate → mutual TLS → source
address (whoami). A *blocking* failure stops the walk (later layers are skipped: they cannot be judged);
a non-blocking one (a TLS policy item, mutual TLS not enforced) is reported and the walk goes on.

Exit codes: 0 every layer fine (warnings allowed), 1 a layer is broken or a check failed, 3 the endpoint
cannot be reached at all (DNS or TCP). The JSON shape of :meth:`DoctorReport.as_json` is documented in
docs/doctor.md and is stable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ...schemas.loader import PROFILE, is_valid
from ...schemas.validation import schema_findings
from ..checks.registry import Result
from ..tls.checks import NEEDS
from ..tls.endpoint import CLIENT_REFUSALS, HandshakeOutcome, TlsError, run_tls_checks
from .checks import run_net_checks
from .diagnoses import Diagnosis, diagnose
from .fetch import HttpAnswer
from .probes import DnsStatus
from .target import (
    NetTarget,
    Problem,
    dns_problem,
    handshake_once,
    http_problem,
    source_address,
    source_problem,
    tcp_problem,
    tls_endpoint,
    tls_problem,
)

Status = Literal["ok", "warn", "fail", "skip"]
HEALTH_PATH = "/s24/v1/health"
FORMAT_VERSION = 1
EXIT_OK, EXIT_BROKEN, EXIT_UNREACHABLE = 0, 1, 3

INBOUND = ("dns", "tcp", "tls", "certificate", "mtls", "http", "health")
OUTBOUND = ("dns", "tcp", "tls", "certificate", "mtls", "source")
TITLES = {
    "dns": ("이름 조회 (DNS)", "Name lookup (DNS)"),
    "tcp": ("TCP 연결", "TCP connection"),
    "tls": ("TLS 협상", "TLS handshake"),
    "certificate": ("서버 인증서", "Server certificate"),
    "mtls": ("상호 TLS (클라이언트 인증서)", "Mutual TLS (client certificate)"),
    "http": ("HTTP 응답", "HTTP answer"),
    "health": ("kit-v1 상태 확인", "kit-v1 health"),
    "source": ("출발지 주소 (whoami)", "Source address (whoami)"),
}
NOT_REACHED = ("앞 계층이 막혀 확인하지 못함", "not reached: an earlier layer is broken")
#: The layer of each network check (TLS checks go by the probes they read, see _tls_layer).
_NET_LAYER = {"S24-NET-001": "dns", "S24-NET-002": "tcp", "S24-NET-003": "source", "S24-NET-004": "mtls"}
_TLS_LAYER_CODES = {"not_tls", "plain_http", "tls_silent", "tls_reset", "tls_closed", "tls_version",
                    "tls_handshake_failure", "tls_error", "refused", "filtered", "connect_error", "client_config"}


@dataclass(frozen=True)
class DoctorOptions:
    """What to diagnose and with which credentials (the CLI's options)."""

    url: str
    outbound: bool = False
    timeout: float = 3.0
    anchors: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    server_name: str | None = None
    expect_source: str | None = None
    tls_checks: bool = True
    health_path: str = HEALTH_PATH


@dataclass
class Layer:
    """One layer's verdict: status, what was seen, and (when it is not fine) the diagnosis."""

    name: str
    status: Status
    detail: str = ""
    diagnosis: Diagnosis | None = None
    blocking: bool = False  # this failure stops the walk
    elapsed_ms: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)
    checks: list[Result] = field(default_factory=list)

    def title(self, lang: str) -> str:
        ko, en = TITLES[self.name]
        return ko if lang == "ko" else en

    def as_json(self) -> dict[str, Any]:
        ko, en = TITLES[self.name]
        return {"layer": self.name, "title_ko": ko, "title_en": en, "status": self.status,
                "blocking": self.blocking, "elapsed_ms": round(self.elapsed_ms, 1), "detail": self.detail,
                "diagnosis": self.diagnosis.as_json() if self.diagnosis else None, "facts": self.facts,
                "checks": [r.as_json() for r in self.checks]}


@dataclass
class DoctorReport:
    options: DoctorOptions
    target: NetTarget
    layers: list[Layer]
    elapsed_ms: float

    @property
    def stopped_at(self) -> str | None:
        return next((layer.name for layer in self.layers if layer.blocking), None)

    @property
    def verdict(self) -> str:
        if self.stopped_at in ("dns", "tcp"):
            return "unreachable"
        if self.stopped_at is not None:
            return "broken"
        return "problems" if any(layer.status == "fail" for layer in self.layers) else "ok"

    @property
    def exit_code(self) -> int:
        return {"ok": EXIT_OK, "unreachable": EXIT_UNREACHABLE}.get(self.verdict, EXIT_BROKEN)

    def as_json(self) -> dict[str, Any]:
        reached = self.target.reached()
        return {
            "tool": "s24kit doctor", "format_version": FORMAT_VERSION, "profile": PROFILE,
            "direction": "outbound" if self.options.outbound else "inbound",
            "target": {"url": self.options.url, "host": self.target.host, "port": self.target.port,
                       "server_name": self.target.name, "address": reached.address if reached else None},
            "options": {"timeout_s": self.options.timeout, "tls_checks": self.options.tls_checks,
                        "ca": _path(self.options.anchors), "cert": _path(self.options.client_cert),
                        "expect_source": self.options.expect_source},
            "verdict": self.verdict, "exit_code": self.exit_code, "stopped_at": self.stopped_at,
            "elapsed_ms": round(self.elapsed_ms, 1), "layers": [layer.as_json() for layer in self.layers],
        }


def _path(value: Path | None) -> str | None:
    return str(value) if value else None


class _Walk:
    """The state one diagnosis shares between its layers."""

    def __init__(self, options: DoctorOptions, target: NetTarget) -> None:
        self.options, self.target = options, target
        self.outbound = options.outbound
        self.path = target.whoami_path if options.outbound else options.health_path
        self.has_cert = options.client_cert is not None
        self.tls_results: list[Result] = []

    def diagnosis(self, problem: Problem) -> Diagnosis:
        return diagnose(problem[0], problem[1], outbound=self.outbound)

    def fail(self, name: str, problem: Problem, *, blocking: bool = True, detail: str = "") -> Layer:
        return Layer(name, "fail", detail or str(problem[1].get("detail") or ""), self.diagnosis(problem), blocking)

    def handshake(self, *, with_cert: bool, verify: bool) -> HandshakeOutcome:
        return handshake_once(self.target, with_client_cert=with_cert, verify=verify, path=self.path)

    # -- layers -----------------------------------------------------------------------------------------------
    def dns(self) -> Layer:
        result = self.target.dns()
        if result.status is DnsStatus.LITERAL:
            return Layer("dns", "skip", f"{self.target.host}: IP address, nothing to resolve")
        facts = {"addresses": list(result.addresses), "status": result.status.value}
        problem = dns_problem(self.target)
        if problem is not None:
            layer = self.fail("dns", problem, blocking=problem[0] != "dns_unregistered",
                              detail=result.error or f"{result.name} → {', '.join(result.addresses)}")
            layer.facts = facts
            return layer
        return Layer("dns", "ok", f"{result.name} → {', '.join(result.addresses)}", facts=facts)

    def tcp(self) -> Layer:
        results = self.target.tcp()
        facts = {"attempts": [r.as_json() for r in results], "local_address": self.target.local_address()}
        problem = tcp_problem(self.target)
        if problem is not None:
            layer = self.fail("tcp", problem, detail="; ".join(r.describe() for r in results))
            layer.facts = facts
            return layer
        reached = self.target.reached()
        assert reached is not None
        return Layer("tcp", "ok", reached.describe(), facts=facts)

    def tls(self) -> Layer:
        if self.options.tls_checks:
            self.tls_results = run_tls_checks(tls_endpoint(self.target))
        outcome = self.handshake(with_cert=self.has_cert, verify=False)
        facts = {"version": outcome.version, "cipher": outcome.cipher, "error": _error(outcome)}
        problem = tls_problem(self.target, outcome)
        if problem is not None and problem[0] in _TLS_LAYER_CODES:
            layer = self.fail("tls", problem, detail=outcome.describe())
            layer.facts = facts
            return layer
        if outcome.version:
            detail = f"{outcome.version} {outcome.cipher}"
        else:  # TLS 1.2 refused the client at the handshake: TLS itself worked up to client authentication
            detail = f"handshake reached client authentication ({outcome.describe()})"
        return self._with_checks(Layer("tls", "ok", detail, facts=facts), "tls_policy")

    def certificate(self) -> Layer:
        outcome = self.handshake(with_cert=self.has_cert, verify=True)
        leaf = outcome.leaf
        facts = {"chain_length": len(outcome.peer_chain), "verified_with": _path(self.options.anchors) or "system",
                 "subject": leaf.subject.rfc4514_string() if leaf else None,
                 "not_after": leaf.not_valid_after_utc.isoformat() if leaf else None, "error": _error(outcome)}
        problem = tls_problem(self.target, outcome)
        if problem is not None and problem[0].startswith("cert_"):
            layer = self.fail("certificate", problem, detail=outcome.describe())
            layer.facts = facts
            return layer
        detail = f"verified for {self.target.name}" + (f", expires {facts['not_after'][:10]}" if leaf else "")
        return self._with_checks(Layer("certificate", "ok", detail, facts=facts), "cert_policy")

    def get(self, *, with_cert: bool) -> HttpAnswer:
        """``GET path`` with or without the client certificate (an HTTP answer is what proves acceptance)."""
        answer = self.target.get(self.path, with_cert=with_cert)
        assert answer is not None  # the TCP layer passed
        return answer

    def mtls(self) -> Layer:
        """The server must accept our certificate and (toward a provider) refuse a client without one.

        Only an HTTP answer proves acceptance: some servers (asyncio's among them) end a TLS 1.3 connection
        without an alert when they refuse the client's certificate.
        """
        facts: dict[str, Any] = {"client_certificate": _path(self.options.client_cert)}
        if self.has_cert:
            outcome, answer = self.handshake(with_cert=True, verify=True), self.get(with_cert=True)
            facts["with_certificate"] = f"HTTP {answer.status}" if answer.status else (_error(outcome) or answer.error)
            if outcome.error in CLIENT_REFUSALS or (outcome.ok and answer.closed_early):
                detail = outcome.describe() if outcome.error else str(answer.error)
                return self._mtls(facts, self.fail("mtls", ("client_cert_refused", {"detail": detail}), detail=detail))
            if not outcome.ok:  # a failure of another kind after the certificate layer passed
                problem = tls_problem(self.target, outcome) or ("tls_error", {})
                return self._mtls(facts, self.fail("mtls", problem, detail=outcome.describe()))
            if self.outbound:
                return self._mtls(facts, Layer("mtls", "ok", "client certificate accepted"))
        bare = self.get(with_cert=False)
        facts["without_certificate"] = f"HTTP {bare.status}" if bare.status else bare.error
        if bare.status is not None:
            if self.outbound:
                return self._mtls(facts, Layer("mtls", "ok", "no client certificate needed"))
            return self._mtls(facts, self.fail("mtls", ("mtls_not_enforced", {}), blocking=False,
                                               detail=f"HTTP {bare.status} without a client certificate"))
        if self.has_cert:
            return self._mtls(facts, Layer("mtls", "ok", f"client certificate accepted; refused without one "
                                                         f"({bare.error})"))
        alert = self.handshake(with_cert=False, verify=True).alert
        if bare.closed_early or alert:
            detail = alert or str(bare.error)
            return self._mtls(facts, self.fail("mtls", ("client_cert_required", {"detail": detail}), detail=detail))
        return self._mtls(facts, Layer("mtls", "skip", f"cannot tell: {bare.error}"))  # the HTTP layer names it

    def _mtls(self, facts: dict[str, Any], layer: Layer) -> Layer:
        layer.facts = {**facts, **layer.facts}
        return self._with_checks(layer, None)

    def http(self) -> Layer:
        return self._http_layer("http", self.get(with_cert=self.has_cert))

    def _http_layer(self, name: str, answer: HttpAnswer | None) -> Layer:
        problem = http_problem(answer, self.path, self.options.timeout)
        if problem is not None:
            layer = self.fail(name, problem)
        else:
            assert answer is not None
            layer = Layer(name, "ok", f"GET {self.path} → HTTP {answer.status} ({answer.elapsed_ms:g} ms)")
        layer.facts = {"path": self.path, "status": answer.status if answer else None}
        return layer

    def health(self) -> Layer:
        answer = self.get(with_cert=self.has_cert)
        assert answer.status is not None
        facts: dict[str, Any] = {"path": self.path}
        try:
            body = answer.json()
        except ValueError as exc:
            return self.fail("health", ("health_not_json", {"path": self.path, "detail": f"{answer.content_type}: "
                                                            f"{exc}"}))
        facts["body"] = body
        if not is_valid("health", body):
            found = "; ".join(f"{f.pointer or '/'} {f.message_en}" for f in schema_findings("health", body)[:5])
            layer = self.fail("health", ("health_invalid", {"path": self.path, "detail": found}))
        elif body.get("status") == "degraded":
            layer = Layer("health", "warn", "status degraded", diagnose("health_degraded", {}))
        else:
            shown = ", ".join(f"{k}={body[k]}" for k in ("status", "provider_code", "software") if k in body)
            layer = Layer("health", "ok", shown)
        layer.facts = facts
        return layer

    def source(self) -> Layer:
        answer = self.get(with_cert=True)
        layer = self._http_layer("source", answer)
        if layer.status != "ok":
            return layer
        assert answer is not None
        seen = source_address(answer)
        facts = {"seen": seen, "expected": self.options.expect_source, "local_address": self.target.local_address()}
        problem = source_problem(self.target)
        if problem is not None:
            layer = self.fail("source", problem, detail=f"relay sees {seen}, registered {self.options.expect_source}")
        elif self.options.expect_source is None:
            layer = Layer("source", "skip", f"relay sees {seen}; give --expect-source IP to compare")
        else:
            layer = Layer("source", "ok", f"relay sees {seen}, the registered address")
        layer.facts = facts
        return layer

    def _with_checks(self, layer: Layer, policy_code: str | None) -> Layer:
        """Attach the TLS checks of this layer; a failed or warned check marks the layer (not blocking)."""
        mine = [r for r in self.tls_results if _tls_layer(r.requirement) == layer.name]
        layer.checks.extend(mine)
        if layer.status != "ok":
            return layer
        if any(r.verdict == "fail" for r in mine):
            layer.status = "fail"
        elif any(r.verdict == "warn" for r in mine):
            layer.status = "warn"
        if layer.status != "ok" and policy_code:
            layer.diagnosis = diagnose(policy_code, {})
        return layer


def _tls_layer(requirement: str) -> str:
    """Which layer a TLS check belongs to, from the probe results it reads (tls.checks.NEEDS)."""
    needs = NEEDS.get(requirement, ())
    if any(need.startswith("mtls") for need in needs):
        return "mtls"
    if "chain" in needs:
        return "certificate"
    return "tls"


def _error(outcome: HandshakeOutcome | None) -> str | None:
    if outcome is None or outcome.error is None:
        return None
    return outcome.error.value if isinstance(outcome.error, TlsError) else str(outcome.error)


def run_doctor(options: DoctorOptions) -> DoctorReport:
    """Diagnose ``options.url`` layer by layer."""
    start = time.monotonic()
    target = NetTarget.from_url(options.url, timeout=options.timeout, outbound=options.outbound,
                                server_name=options.server_name, anchors=options.anchors,
                                client_cert=options.client_cert, client_key=options.client_key,
                                expect_source=options.expect_source)
    walk = _Walk(options, target)
    layers: list[Layer] = []
    reached: dict[str, Layer] = {}
    for name in OUTBOUND if options.outbound else INBOUND:
        begun = time.monotonic()
        if any(layer.blocking for layer in layers):
            layer = Layer(name, "skip", NOT_REACHED[1])
        else:
            layer = reached[name] = getattr(walk, name)()
            layer.elapsed_ms = (time.monotonic() - begun) * 1000
        layers.append(layer)
    _attach_net_checks(target, reached)
    return DoctorReport(options, target, layers, (time.monotonic() - start) * 1000)


def _attach_net_checks(target: NetTarget, reached: dict[str, Layer]) -> None:
    """The S24-NET verdicts of the layers walked, from the probes those layers already made."""
    wanted = {rid: layer for rid, layer in _NET_LAYER.items()
              if layer in reached and (target.outbound or rid in ("S24-NET-001", "S24-NET-002"))}
    for result in run_net_checks(target, select=wanted.__contains__):
        reached[wanted[result.requirement]].checks.insert(0, result)

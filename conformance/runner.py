"""Run the conformance suite against one target: plan the checks, build their contexts, collect the results.

The pytest plugin (one test item per check) and ``s24kit check`` both go through :class:`Suite`, so a
verdict never depends on which of the two ran it::

    with Suite(target, select=["API", "S24-DOC-1*"]) as suite:   # TargetUnreachable when it cannot connect
        for planned in suite.planned:
            result = suite.run(planned)

or at once: ``run_suite(target, select=…, progress=…) -> SuiteRun``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import importlib
import shlex
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ..simulator import scenario_files
from ..simulator.journal import Journal
from ..simulator.masking import Scrubber
from ..simulator.pki import PkiError, certificate_sha256, ensure_pki
from ..simulator.provider.scenario import UnknownProvider
from ..simulator.serving import ServeError
from .agent_session import AgentSession
from .catalogue import ROLES, requirements
from .checks import CHECKS, Check, Evidence, Outcome, Result, failed, skipped
from .net.address import listen_refusal
from .reproduction import REQUESTS
from .session import CertificateRejected, CredentialOrigin, NotTls, Session, Target, TargetUnreachable, TlsFinding
from .tls.pair import pair_refusal

__all__ = [
    "CertificateRejected",
    "ConfigError",
    "NotTls",
    "Planned",
    "SelectionError",
    "Suite",
    "SuiteRun",
    "TargetUnreachable",
    "TlsFinding",
    "credentials_banner",
    "make_target",
    "plan",
    "run_suite",
    "write_reports",
]

DEFAULT_STATE = Path(".s24kit")
#: What ``s24kit generate`` writes and the suite reads.
SCENARIO_FILES = ("expected/index.jsonl", "expected/documents.jsonl", "emr-seed/patients.jsonl")
#: Modules whose import registers checks: HTTP families (SCH, DOC, API, SEC), TLS and network.
CHECK_MODULES = tuple(f"s24kit.conformance.{name}" for name in (
    "checks.schema", "checks.documents", "checks.api", "checks.security", "checks.agent", "tls.checks", "net.checks"))
Progress = Callable[[Result, int, int], None]
#: Where the suite listens for a provider's agent (role provider_agent): the port of ``s24kit serve``'s relay,
#: so that an agent set up against ``s24kit serve`` needs no change.
DEFAULT_LISTEN = "127.0.0.1:18443"
NET_FROM_AGENT = ("네트워크는 에이전트 쪽에서 확인합니다: 그 PC에서 s24kit doctor --outbound를 실행하십시오 "
                  "/ the network is checked from the agent's side: run s24kit doctor --outbound on its host")


class ConfigError(ValueError):
    """A usage or configuration problem (bad URL, unreadable scenario, missing certificate …): exit 2."""

    def __init__(self, message_ko: str, message_en: str) -> None:
        super().__init__(f"{message_ko} / {message_en}")
        self.message_ko, self.message_en = message_ko, message_en


class ProviderNotInScenario(ConfigError):
    """The scenario holds no visit of the provider code asked for (``known``: the codes it holds)."""

    def __init__(self, provider_code: str, scenario: Path, known: list[str]) -> None:
        shown = ", ".join(known[:5]) + (" …" if len(known) > 5 else "")
        super().__init__(f"--provider {provider_code}: 시나리오 {scenario}에 이 요양기관의 방문이 없습니다 — "
                         f"시나리오에 있는 기관: {shown}",
                         f"--provider {provider_code}: the scenario {scenario} has no visit at this provider — "
                         f"providers in it: {shown}")
        self.provider_code, self.scenario, self.known = provider_code, scenario, known


class SelectionError(ConfigError):
    """A ``--select`` pattern that matches no requirement."""

    def __init__(self, pattern: str) -> None:
        super().__init__(f"--select {pattern!r}에 해당하는 요구사항이 없습니다 (예: API, S24-DOC-1*, S24-API-003)",
                         f"--select {pattern!r} matches no requirement (e.g. API, S24-DOC-1*, S24-API-003)")


@dataclass(frozen=True, slots=True)
class Planned:
    """A check the suite will run, or skip with ``skip_reason``."""

    check: Check
    skip_reason: str | None = None

    @property
    def requirement(self) -> str:
        return self.check.requirement


@dataclass
class SuiteRun:
    """The outcome of a whole run, everything the reports need."""

    target: Target
    results: list[Result]
    started_at: dt.datetime
    finished_at: dt.datetime
    journal: Journal | None
    environment: dict[str, Any] = field(default_factory=dict)
    certificate: dict[str, Any] | None = None
    request_files: list[Path] = field(default_factory=list)  # the bodies the reproduction lines send
    privacy: Scrubber | None = None  # the scenario's people, scrubbed from the reports

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "warn": 0, "skip": 0}
        for result in self.results:
            out[result.verdict] += 1
        return out

    def failed_must(self) -> list[Result]:
        """MUST requirements that failed: these make the run fail (exit 1)."""
        reqs = requirements()
        return [r for r in self.results if r.verdict == "fail" and reqs[r.requirement].level == "MUST"]

    def target_json(self) -> dict[str, Any]:
        """The report's ``target`` object."""
        out: dict[str, Any] = {"url": self.target.url, "role": self.target.role}
        if self.certificate:
            out["certificate"] = self.certificate
        return out


def make_target(url: str | None, scenario: Path | str, *, role: str = "provider_pull",
                provider_code: str | None = None, ca: Path | str | None = None, cert: Path | str | None = None,
                key: Path | str | None = None, timeout: float = 5.0, state: Path | str = DEFAULT_STATE,
                listen: str | None = None, agent_cert_sha256: str | None = None, agent_wait: float = 60.0,
                product: str | tuple[str, str, str] | None = None,
                certified: Iterable[str | tuple[str, str, str]] | None = None) -> Target:
    """A :class:`Target` from command-line values, or :class:`ConfigError` naming the bad one and the fix.

    Certificates not given come from the kit's test PKI in ``state``/pki (created on first use): the CA that
    signs ``s24kit serve``'s servers and the relay's client certificate. For role provider_agent there is no
    URL to call: the suite listens on ``listen`` (``host:port``, default :data:`DEFAULT_LISTEN`) as the relay,
    with the kit's relay-server certificate unless ``cert``/``key`` say otherwise, and requires agents to
    present a certificate from ``ca`` (and, given ``agent_cert_sha256``, exactly that one). ``product`` is the
    product version the site is registered with and ``certified`` the certified ones (S24-API-017), each
    ``VENDOR/NAME/VERSION`` or a (vendor, name, version) tuple.
    """
    if role not in ROLES:
        raise ConfigError(f"--role {role!r}: {' 또는 '.join(ROLES)} 중 하나여야 합니다",
                          f"--role {role!r}: must be one of {', '.join(ROLES)}")
    if agent_cert_sha256 is not None:  # openssl's fingerprints come as AB:CD:…
        agent_cert_sha256 = agent_cert_sha256.replace(":", "").lower()
    if role == "provider_agent":
        url = _agent_url(url, listen, agent_cert_sha256, agent_wait)
    else:
        url = _pull_url(url, listen, agent_cert_sha256)
    if not timeout > 0:
        raise ConfigError(f"--timeout {timeout}: 0보다 커야 합니다 (초)", f"--timeout {timeout}: must be > 0 seconds")
    directory = Path(scenario)
    if not directory.is_dir():
        raise ConfigError(f"--scenario {directory}: 폴더가 없습니다 (s24kit generate --out 으로 만드십시오)",
                          f"--scenario {directory}: no such directory (create one with s24kit generate --out)")
    for name in SCENARIO_FILES:
        if not scenario_files.exists(directory / name):
            raise ConfigError(f"--scenario {directory}: {name} 파일이 없습니다 (s24kit generate가 쓴 폴더가 아닙니다)",
                              f"--scenario {directory}: {name} is missing (not a folder written by s24kit generate)")
    if (cert is None) != (key is None):
        raise ConfigError("--cert와 --key는 함께 지정해야 합니다", "--cert and --key must be given together")
    for option, path in (("--ca", ca), ("--cert", cert), ("--key", key)):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"{option} {path}: 파일이 없습니다 (경로를 확인하십시오)",
                              f"{option} {path}: no such file (check the path)")
    origin = CredentialOrigin(ca_from_pki=ca is None, cert_from_pki=cert is None)
    if ca is None or cert is None:
        try:
            pki = ensure_pki(Path(state) / "pki")
        except PkiError as exc:
            raise ConfigError(exc.message_ko, exc.message_en) from None
        origin = dataclasses.replace(origin, pki=pki.directory, pki_created=pki.new_root)
        ca = ca if ca is not None else pki.ca_cert
        if cert is None:
            own = pki["relay-server" if role == "provider_agent" else "relay-client"]
            cert, key = own.cert, own.key
    # Absolute from here on: every message, evidence line and report names them, and a relative path (the
    # default --state .s24kit) means nothing to whoever reads it from another folder (README: reproduction).
    ca, cert, key = (Path(p).absolute() for p in (ca, cert, key))  # type: ignore[arg-type]
    _check_credentials(ca, cert, key)
    return Target(url.rstrip("/"), directory, role, provider_code, ca, cert, key, timeout,
                  agent_cert_sha256, agent_wait, None if product is None else product_triple(product, "--product"),
                  None if certified is None else frozenset(product_triple(p, "--certified") for p in certified),
                  origin=origin)


def product_triple(value: str | tuple[str, str, str], option: str) -> tuple[str, str, str]:
    """(vendor, name, version) from ``VENDOR/NAME/VERSION`` (or such a tuple), or :class:`ConfigError`."""
    parts = tuple(value.split("/")) if isinstance(value, str) else tuple(value)
    if len(parts) != 3 or not all(isinstance(p, str) and p.strip() for p in parts):
        raise ConfigError(f"{option} {value!r}: 제조사/제품/버전 형식이어야 합니다 (예: ExampleEMR/EMR 병원/2.3.1)",
                          f"{option} {value!r}: expected VENDOR/NAME/VERSION (e.g. ExampleEMR/EMR clinic/2.3.1)")
    return parts  # type: ignore[return-value]


def credentials_banner(target: Target) -> list[tuple[str, str]]:
    """Lines (Korean, English) saying which CA the suite trusts and which certificate it presents, where both
    came from, and — when this run just created the kit's PKI — that the connector cannot know that CA yet."""
    origin = target.origin or CredentialOrigin(ca_from_pki=False, cert_from_pki=False)
    pki = f"{origin.pki.resolve()}" if origin.pki else ""
    agent = target.role == "provider_agent"

    def source(from_pki: bool, option: str) -> tuple[str, str]:
        if from_pki:
            return f"키트 시험 PKI {pki}", f"the kit's test PKI {pki}"
        return f"{option} 옵션", f"option {option}"

    ca_ko, ca_en = source(origin.ca_from_pki, "--ca")
    cert_ko, cert_en = source(origin.cert_from_pki, "--cert")
    ca = Path(target.ca_bundle).resolve() if target.ca_bundle else None
    cert = Path(target.client_cert).resolve() if target.client_cert else None
    sha = _leaf_sha256(cert) if cert else "?"
    whose_ko, whose_en = ("에이전트 클라이언트 인증서", "the agent's client certificate") if agent else \
        ("연계 모듈 서버 인증서", "your connector's server certificate")
    mine_ko, mine_en = ("중계기관 서버 인증서", "relay server certificate") if agent else \
        ("중계기관 클라이언트 인증서", "relay client certificate")
    lines = [(f"신뢰하는 CA ({whose_ko} 검증): {ca} — {ca_ko}", f"trusted CA (verifies {whose_en}): {ca} — {ca_en}"),
             (f"{mine_ko}: {cert} (SHA-256 {sha}) — {cert_ko}", f"{mine_en}: {cert} (SHA-256 {sha}) — {cert_en}")]
    notice = new_pki_notice(target)
    return [*lines, notice] if notice else lines


def new_pki_notice(target: Target) -> tuple[str, str] | None:
    """(Korean, English) warning that this run just created the kit's test PKI, or None when it did not.

    Apart from :func:`credentials_banner` because the pytest plugin shows it where ``-q`` does not hide it.
    """
    origin = target.origin
    if origin is None or not origin.pki_created or origin.pki is None:
        return None
    pki = origin.pki.resolve()
    return (f"경고: 시험 PKI를 방금 새로 만들었습니다 ({pki}). 연계 모듈은 이 CA를 아직 모르므로 "
            f"연결이 거부될 것입니다: s24kit pki export --out DIR 로 내보내 연계 모듈에 설정하거나, "
            f"연계 모듈이 쓰는 CA와 인증서를 --state/--ca/--cert/--key 로 지정하십시오",
            f"warning: a new test PKI was just created ({pki}). Your connector cannot know this CA yet and "
            f"will refuse the suite: export it with s24kit pki export --out DIR and configure your connector "
            f"with it, or point the suite at the PKI your connector uses with --state/--ca/--cert/--key")


def _leaf_sha256(path: Path) -> str:
    try:
        return certificate_sha256(path.read_bytes())
    except (OSError, ValueError):
        return "?"


def _pull_url(url: str | None, listen: str | None, agent_cert_sha256: str | None) -> str:
    """The connector's URL (role provider_pull), checked."""
    for option, value in (("--listen", listen), ("--agent-cert-sha256", agent_cert_sha256)):
        if value is not None:
            raise ConfigError(f"{option}: --role provider_agent 에서만 씁니다",
                              f"{option}: only for --role provider_agent")
    if url is None:
        raise ConfigError("--target URL이 필요합니다 (예: https://127.0.0.1:8443)",
                          "--target URL is required (e.g. https://127.0.0.1:8443)")
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number in range
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"--target {url!r}: https://호스트:포트 형식의 URL이어야 합니다 (예: https://127.0.0.1:8443)",
                          f"--target {url!r}: expected a URL like https://host:port (e.g. https://127.0.0.1:8443)")
    return url


def _agent_url(url: str | None, listen: str | None, agent_cert_sha256: str | None, agent_wait: float) -> str:
    """The URL the suite serves the agent endpoints at (role provider_agent), from ``--listen host:port``."""
    if url is not None:
        raise ConfigError("--target: 에이전트 방식에서는 시험이 중계기관으로서 기다립니다 (--listen 호스트:포트)",
                          "--target: for an agent the suite waits as the relay; use --listen HOST:PORT instead")
    listen = listen if listen is not None else DEFAULT_LISTEN
    if (refusal := listen_refusal("--listen", listen, any_port=True)) is not None:
        raise ConfigError(*refusal)
    if agent_cert_sha256 is not None and (len(agent_cert_sha256) != 64 or
                                          any(c not in "0123456789abcdef" for c in agent_cert_sha256)):
        how = "openssl x509 -in agent.pem -noout -fingerprint -sha256"
        raise ConfigError(f"--agent-cert-sha256 {agent_cert_sha256!r}: SHA-256 16진수 64자여야 합니다 ({how})",
                          f"--agent-cert-sha256 {agent_cert_sha256!r}: must be 64 hex digits, the SHA-256 of the "
                          f"certificate ({how})")
    if not agent_wait > 0:
        raise ConfigError(f"--agent-wait {agent_wait}: 0보다 커야 합니다 (초)",
                          f"--agent-wait {agent_wait}: must be > 0 seconds")
    return f"https://{listen}"


def _check_credentials(ca: Path, cert: Path, key: Path) -> None:
    """Load the files once so that a wrong one is named now, not as a TLS failure later."""
    try:
        ssl.create_default_context(cafile=str(ca))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"--ca {ca}: PEM 형식의 CA 인증서가 아닙니다 ({exc})",
                          f"--ca {ca}: not a PEM CA certificate ({exc})") from None
    if (refusal := pair_refusal(cert, key)) is not None:
        raise ConfigError(f"--cert {cert} / --key {key}: PEM 인증서와 그 개인키가 아닙니다 ({refusal[0]})",
                          f"--cert {cert} / --key {key}: not a PEM certificate and its private key ({refusal[1]})")


def load_checks() -> dict[str, Check]:
    """Import every module that registers checks; the registry by id."""
    for name in CHECK_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a module that exists but fails to import is a kit defect: say so
                raise
    return CHECKS


def selector(patterns: Iterable[str] | str | None) -> Callable[[str], bool]:
    """A predicate over requirement ids: a family (``API`` or ``S24-API``), an id, or a glob (``S24-DOC-1*``).

    Patterns may be comma-separated and are case-insensitive; one that matches nothing is a :class:`SelectionError`.
    """
    if patterns is None:
        return lambda rid: True
    if isinstance(patterns, str):
        patterns = [patterns]
    wanted = [p.strip().upper() for item in patterns for p in item.split(",") if p.strip()]
    if not wanted:
        return lambda rid: True
    known = requirements()

    def matches(pattern: str, rid: str) -> bool:
        family = known[rid].family
        return pattern in (family, f"S24-{family}") or fnmatch.fnmatchcase(rid, pattern)

    for pattern in wanted:
        if not any(matches(pattern, rid) for rid in known):
            raise SelectionError(pattern)
    return lambda rid: any(matches(p, rid) for p in wanted)


def plan(role: str, select: Iterable[str] | str | None = None) -> list[Planned]:
    """The checks to run, in catalogue order; those whose requirement excludes ``role`` skip with a reason."""
    chosen = selector(select)
    checks = load_checks()
    reqs = requirements()
    out = []
    for rid in reqs:
        if rid not in checks or not chosen(rid):
            continue
        out.append(Planned(checks[rid], _not_for(role, rid, reqs[rid].roles, checks[rid].kind)))
    return out


def _not_for(role: str, rid: str, roles: tuple[str, ...], kind: str) -> str | None:
    """Why the check of ``rid`` does not run for ``role`` (None when it does)."""
    if role not in roles:
        return (f"역할 {role}에는 적용되지 않음 (적용: {', '.join(roles)}) "
                f"/ does not apply to role {role} (applies to {', '.join(roles)})")
    if role == "provider_agent" and kind == "net":  # the suite is the relay: it cannot see the agent's network
        return NET_FROM_AGENT
    return None


def certificate_summary(target: Target) -> dict[str, Any] | None:
    """Subject, issuer, validity and SHA-256 of the target's server certificate (None over plain HTTP)."""
    parts = urlsplit(target.url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    context = ssl.create_default_context(cafile=str(target.ca_bundle) if target.ca_bundle else None)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # a summary, not a verdict (TLS checks)
    if target.client_cert and target.client_key:
        context.load_cert_chain(target.client_cert, target.client_key)
    try:
        with socket.create_connection((parts.hostname, parts.port or 443), timeout=target.timeout) as raw, \
                context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
            der = tls.getpeercert(binary_form=True)
            version, cipher = tls.version(), (tls.cipher() or ("",))[0]
    except (OSError, ssl.SSLError):
        return None
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "not_before": cert.not_valid_before_utc.isoformat(), "not_after": cert.not_valid_after_utc.isoformat(),
            "sha256": cert.fingerprint(hashes.SHA256()).hex(), "tls_version": version, "cipher": cipher}


def open_session(target: Target, journal: Journal | None = None, *,
                 announce: Callable[[str], None] | None = None) -> Session:
    """The session for ``target``'s role: the relay calling a connector (provider_pull), or the relay serving a
    provider's agent, which polls the suite (provider_agent; ``announce`` gets where the agent must point)."""
    if target.role == "provider_agent":
        return AgentSession(target, journal, announce=announce)
    return Session(target, journal)


class Suite:
    """One run against one target: the session (opened once), the plan, and running a planned check."""

    def __init__(self, target: Target, *, select: Iterable[str] | str | None = None, lang: str = "ko",
                 journal: Journal | None = None, announce: Callable[[str], None] | None = None,
                 requests_dir: Path | None = None) -> None:
        """``announce`` gets, for an agent, where it must point (before the suite waits for its first poll);
        ``requests_dir`` is where reproduction lines keep the bodies they send (``OUT/requests``; default: a
        temporary folder)."""
        self.target, self.lang, self.announce = target, lang, announce
        self.requests_dir = Path(requests_dir).absolute() if requests_dir is not None else None
        self.selection = [select] if isinstance(select, str) else list(select or [])
        self.planned = plan(target.role, select)
        self._journal = journal
        self._session: Session | None = None
        self._contexts: dict[str, Any] = {}
        self.started_at: dt.datetime | None = None
        #: Set by :meth:`open` when the target answers but not over verified TLS (its certificate does not
        #: verify, or the port is not TLS): the TLS and network checks still run, the HTTP ones fail with this
        #: as their evidence.
        self.rejected: TlsFinding | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------
    def open(self) -> Suite:
        """Connect (``TargetUnreachable`` when the target cannot even be reached; see :attr:`rejected`)."""
        self.started_at = dt.datetime.now(dt.UTC)
        try:
            self._session = open_session(self.target, journal=self._journal, announce=self.announce)
        except TlsFinding as exc:
            self.rejected = exc
        except ServeError as exc:  # provider_agent: the address to listen on is taken or not this machine's
            raise ConfigError(f"--listen: {exc.message_ko}", f"--listen: {exc.message_en}") from None
        except ssl.SSLError as exc:  # the client certificate or CA files (make_target checks them first)
            raise ConfigError(f"인증서 파일을 쓸 수 없습니다 (--ca/--cert/--key): {exc}",
                              f"cannot use the certificate files (--ca/--cert/--key): {exc}") from None
        except UnknownProvider as exc:
            raise ProviderNotInScenario(exc.provider_code, Path(self.target.scenario), exc.known) from None
        except (OSError, ValueError, KeyError) as exc:  # the scenario files (TargetUnreachable is neither)
            raise ConfigError(f"--scenario {self.target.scenario}: 읽을 수 없습니다 ({exc})",
                              f"--scenario {self.target.scenario}: cannot be read ({exc})") from None
        if self.target.role == "provider_agent":  # where it really listens (port 0: any free port)
            self.target = dataclasses.replace(self.target, url=self._session.url)  # type: ignore[attr-defined]
        if self._session is not None:
            self._session.requests.folder = self.requests_dir
        return self

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> Suite:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def opened(self) -> bool:
        return self._session is not None or self.rejected is not None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("Suite.open() first")
        return self._session

    @property
    def journal(self) -> Journal:
        return self.session.journal

    # -- contexts -------------------------------------------------------------------------------------------
    def context(self, kind: str) -> Any:
        """The context a check of ``kind`` takes, built once per run."""
        if kind not in self._contexts:
            self._contexts[kind] = _CONTEXTS[kind](self)
        return self._contexts[kind]

    # -- running --------------------------------------------------------------------------------------------
    def run(self, planned: Planned) -> Result:
        """Run one planned check. An exception inside a check is a kit defect: reported as a fail, not hidden."""
        if planned.skip_reason is not None:
            return Result(planned.requirement, skipped(planned.skip_reason))
        if self.rejected is not None and planned.check.kind == "http":
            return Result(planned.requirement, self._unverified())
        start = time.perf_counter()
        try:
            return planned.check.run(self.context(planned.check.kind))
        except Exception as exc:  # the one place a check's own bug becomes a visible verdict
            reason = f"kit error: {type(exc).__name__}: {exc}"
            return Result(planned.requirement, failed(reason), (time.perf_counter() - start) * 1000)

    def _unverified(self) -> Outcome:
        """The verdict of an HTTP check when no request could be sent over verified TLS (:attr:`rejected`)."""
        rejected = self.rejected
        assert rejected is not None
        parts = urlsplit(self.target.url)
        line = [f"openssl s_client -connect {parts.hostname}:{parts.port or 443} -servername {parts.hostname}",
                f"-verify_return_error -verify_hostname {parts.hostname}"]
        # Absolute, as in every other reproduction line: a Target built without make_target may hold relative ones.
        if self.target.ca_bundle:
            line.append(f"-CAfile {shlex.quote(str(Path(self.target.ca_bundle).absolute()))}")
        if self.target.client_cert:
            cert = Path(self.target.client_cert).absolute()
            key = Path(self.target.client_key or cert).absolute()
            line.append(f"-cert {shlex.quote(str(cert))} -key {shlex.quote(str(key))}")
        return failed(f"{rejected.reason_ko} HTTP 요청을 보내지 못했습니다 / no HTTP request could be sent: "
                      f"{rejected.reason_en} ({rejected.error})",
                      Evidence(f"{rejected.message_ko} / {rejected.message_en}", expected=rejected.expected,
                               actual=rejected.error, reproduction=" ".join(line) + " </dev/null"))

    def environment(self) -> dict[str, Any]:
        """The run's settings for the report (the report adds the machine, kit version and rule-pack digest)."""
        settings = self._settings()
        if self.target.role == "provider_agent":  # the suite served the relay: its certificate is a server's
            settings["server_certificate"] = settings.pop("client_certificate")
            settings["agent_cert_sha256"] = self.target.agent_cert_sha256
        return settings

    def _settings(self) -> dict[str, Any]:
        return {"lang": self.lang, "timeout_s": self.target.timeout, "scenario": str(self.target.scenario),
                "provider_code": self.session.scenario.provider_code if self._session else self.target.provider_code,
                "client_certificate": str(self.target.client_cert) if self.target.client_cert else None,
                "ca_bundle": str(self.target.ca_bundle) if self.target.ca_bundle else None,
                "selection": self.selection, "checks": len(self.planned)}

    def finish(self, results: list[Result]) -> SuiteRun:
        """The run's record (call after the last check, before :meth:`close`)."""
        session = self._session
        return SuiteRun(self.target, results, self.started_at or dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC),
                        session.journal if session else None, self.environment(), self._certificate(),
                        list(session.requests.files.values()) if session else [],
                        session.privacy if session else None)

    def _certificate(self) -> dict[str, Any] | None:
        """The target's certificate: the connector's server certificate, or the agent's client certificate."""
        if self.target.role == "provider_agent":
            hub = getattr(self._session, "hub", None)
            return hub.agent_certificate if hub is not None else None
        return certificate_summary(self.target)


def _tls_context(suite: Suite) -> Any:
    """The target's TLS endpoint, with the probes of every planned TLS check started at once (in parallel)."""
    from .tls.checks import NEEDS
    from .tls.endpoint import TlsEndpoint
    from .tls.facts import facts_of, prefetch

    target = suite.target
    parts = urlsplit(target.url)
    issuer = _client_issuer(target)
    endpoint = TlsEndpoint(host=parts.hostname or "", port=parts.port or 443, server_name=parts.hostname,
                           anchors=target.ca_bundle, client_cert=target.client_cert, client_key=target.client_key,
                           timeout=min(target.timeout, 3.0), client_ca_cert=issuer[0] if issuer else None,
                           client_ca_key=issuer[1] if issuer else None)
    wanted = [p.requirement for p in suite.planned if p.check.kind == "tls" and p.skip_reason is None]
    prefetch(facts_of(endpoint), {need for rid in wanted for need in NEEDS.get(rid, ())})
    return endpoint


def _client_issuer(target: Target) -> tuple[Path, Path] | None:
    """The CA certificate and key that issued the client certificate, when it is the kit's own test PKI.

    With them the TLS checks mint an expired client certificate and one without clientAuth from the same CA
    (so a refusal proves the server checks those); without them those two checks skip.
    """
    if target.client_cert is None:
        return None
    try:
        leaf = x509.load_pem_x509_certificate(target.client_cert.read_bytes())
    except (OSError, ValueError):
        return None
    for stem in ("intermediate", "ca"):  # the test PKI issues through its intermediate (older kits: the root)
        ca, key = target.client_cert.parent / f"{stem}.pem", target.client_cert.parent / f"{stem}.key"
        try:
            if key.is_file() and leaf.issuer == x509.load_pem_x509_certificate(ca.read_bytes()).subject:
                return ca, key
        except (OSError, ValueError):
            continue
    return None


def _net_context(suite: Suite) -> Any:
    """The target as the relay connects to it (DNS, TCP); its probes are shared by the NET checks."""
    from .net.target import NetTarget

    target = suite.target
    return NetTarget.from_url(target.url, timeout=min(target.timeout, 3.0), anchors=target.ca_bundle,
                              client_cert=target.client_cert, client_key=target.client_key)


_CONTEXTS: dict[str, Callable[[Suite], Any]] = {"http": lambda suite: suite.session, "tls": _tls_context,
                                                "net": _net_context}


def run_suite(target: Target, *, select: Iterable[str] | str | None = None, lang: str = "ko",
              progress: Progress | None = None, journal: Journal | None = None,
              requests_dir: Path | None = None) -> SuiteRun:
    """Run the selected checks against ``target`` in catalogue order (``TargetUnreachable`` if it cannot)."""
    suite = Suite(target, select=select, lang=lang, journal=journal, requests_dir=requests_dir)
    with suite:
        results = []
        for index, planned in enumerate(suite.planned, start=1):
            result = suite.run(planned)
            results.append(result)
            if progress is not None:
                progress(result, index, len(suite.planned))
        return suite.finish(results)


def write_reports(run: SuiteRun, out: Path, *, lang: str = "ko") -> dict[str, Path]:
    """report.json, junit.xml, report.html and the evidence bundle (with the masked journal and the request
    bodies of the reproduction lines, ``requests/…``) under ``out``.

    Evidence is masked when it is made; the whole report is scrubbed once more of the scenario's people (a
    reason or a message a check wrote may quote one).
    """
    from .reports import build_report, write_bundle, write_html, write_json, write_junit

    out.mkdir(parents=True, exist_ok=True)
    report = build_report(run.results, target=run.target_json(), started_at=run.started_at,
                          finished_at=run.finished_at, environment=run.environment)
    if run.privacy is not None:
        report = run.privacy.json(report)
    paths = {"json": out / "report.json", "junit": out / "junit.xml", "html": out / "report.html"}
    write_json(report, paths["json"])
    write_junit(report, paths["junit"], lang)
    write_html(report, paths["html"], lang)
    requests = {f"{REQUESTS}/{path.name}": path for path in run.request_files if path.is_file()}
    paths["bundle"] = write_bundle(out / "evidence.zip", list(paths.values()), journal=run.journal, extra=requests)
    return paths

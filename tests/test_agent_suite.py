"""The suite toward a provider's agent (role provider_agent): it serves the relay's agent endpoints over mutual
TLS, the agent polls it and replies, and the same checks judge the answers — plus the polling protocol itself.

The reference agent (:class:`ProviderAgent` over a :class:`ProviderCore`, with the kit's provider-agent
certificate) passes everything that applies; faulty agents — the faulty providers' cores, and agents with an
agent-only defect — fail their requirements. Every agent runs in its own thread and event loop, on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from s24kit.conformance.catalogue import requirements
from s24kit.conformance.checks import CHECKS
from s24kit.conformance.cli.check import check
from s24kit.conformance.runner import ConfigError, Suite, SuiteRun, load_checks, make_target, plan
from s24kit.conformance.session import TargetUnreachable
from s24kit.schemas.loader import is_valid
from s24kit.schemas.rules import RULES
from s24kit.simulator.pki import ensure_pki
from s24kit.simulator.provider import ProviderAgent, ProviderCore, Scenario
from s24kit.simulator.provider.faulty import FAULTY, create_faulty_app

from .conftest import generated_scenario

pytest_plugins = ["pytester"]
CLINIC = ["--provider", "99310001", "--provider-type", "31"]
#: The answer timeout (= each work item's deadline). Generous for the reference on a busy machine; the
#: defects that miss deadlines use SHORT so that they cost little.
TIMEOUT, SHORT = 3.0, 0.5
AGENT_ONLY = ("S24-API-100", "S24-API-101", "S24-API-102", "S24-API-103", "S24-API-104", "S24-SCH-007")
MakeAgent = Callable[[str, Any], ProviderAgent]
# Every check module imported now: an in-process pytester run that imported one first would unload it again,
# while the registry keeps its checks (the next import would register them twice).
load_checks()


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory):
    return generated_scenario(tmp_path_factory, "--patients", "8", "--seed", "5", *CLINIC)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return ensure_pki(tmp_path_factory.mktemp("state") / "pki")


# -- agents in a thread ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def agent_running(make: MakeAgent, url: str, pki) -> Iterator[None]:
    """Run ``make(url, client).run()`` in its own thread and event loop until the block ends."""
    stop = threading.Event()

    async def main() -> None:
        async with httpx.AsyncClient(verify=pki.client_context("provider-agent")) as client:
            task = asyncio.create_task(make(url, client).run())
            while not stop.is_set() and not task.done():
                await asyncio.sleep(0.02)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="test-agent", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def reference(scenario: Scenario, **options: Any) -> MakeAgent:
    return lambda url, client: ProviderAgent(ProviderCore(scenario), url, client, wait=options.pop("wait", 2.0),
                                             **options)


def judge(scenario_dir, pki, make: MakeAgent, *, select: Any = None, timeout: float = TIMEOUT,
          pin: str | None = None, idle: float = 0.0) -> tuple[dict[str, Any], SuiteRun, list[str]]:
    """Run the agent suite with ``make``'s agent polling it: results by id, the run, what was announced.

    ``idle`` seconds pass between the first poll and the first check (how an agent polls with nothing to do).
    """
    target = make_target(None, scenario_dir, role="provider_agent", listen="127.0.0.1:0", timeout=timeout,
                         state=pki.directory.parent, agent_wait=10.0, agent_cert_sha256=pin)
    announced: list[str] = []
    with contextlib.ExitStack() as stack:
        suite = stack.enter_context(Suite(target, select=select, lang="en",
                                          announce=starter(stack, make, pki, announced)))
        time.sleep(idle)
        run = suite.finish([suite.run(p) for p in suite.planned])
    return {r.requirement: r for r in run.results}, run, announced


def starter(stack: contextlib.ExitStack, make: MakeAgent, pki, announced: list[str] | None = None
            ) -> Callable[[str], None]:
    """An ``announce`` callback: once the suite listens, start the agent at the URL it names (until ``stack`` ends)."""
    def announce(text: str) -> None:
        if announced is not None:
            announced.append(text)
        stack.enter_context(agent_running(make, re.search(r"https://\S+", text).group(), pki))
    return announce


class Tampering:
    """The agent's HTTP client with one defect: ``change(path, body)`` → the bodies actually posted (0, 1, 2 …;
    bytes are posted as they are, labelled application/json)."""

    def __init__(self, client: httpx.AsyncClient, change: Callable[[str, dict[str, Any]], list[Any]]):
        self.client, self.change = client, change

    async def post(self, url: str, *, json: Any = None, **options: Any) -> httpx.Response:
        answer = httpx.Response(204, request=httpx.Request("POST", url))  # what the agent believes if none is sent
        for body in self.change(httpx.URL(url).path, json):
            if isinstance(body, bytes):
                answer = await self.client.post(url, content=body, headers={"content-type": "application/json"},
                                                **options)
            else:
                answer = await self.client.post(url, json=body, **options)
        return answer


def tampered(scenario: Scenario, change: Callable[[str, dict[str, Any]], list[Any]],
             **options: Any) -> MakeAgent:
    return lambda url, client: ProviderAgent(ProviderCore(scenario), url, Tampering(client, change),  # type: ignore
                                             wait=options.pop("wait", 2.0), **options)


def failed_ids(results: dict[str, Any]) -> set[str]:
    return {rid for rid, r in results.items() if r.verdict == "fail"}


# -- the reference agent ---------------------------------------------------------------------------------------

def test_reference_agent_passes_everything_that_applies(scenario_dir, scenario, pki):
    # An idle stretch first: S24-API-104 then judges how the agent polls with nothing to do.
    results, run, announced = judge(scenario_dir, pki, reference(scenario), pin=pki["provider-agent"].sha256(),
                                    idle=1.5)
    known = requirements()
    problems = {rid: (r.verdict, r.outcome.reason, [e.as_json() for e in r.outcome.evidence][:2])
                for rid, r in results.items() if r.verdict in ("fail", "warn")}
    assert problems == {}
    for rid, result in results.items():
        if "provider_agent" not in known[rid].roles:
            assert result.verdict == "skip" and "does not apply to role provider_agent" in result.outcome.reason
    for rid in (*AGENT_ONLY, "S24-API-002", "S24-API-003", "S24-API-012", "S24-API-013", "S24-API-014",
                "S24-DOC-100", "S24-DOC-103", "S24-SEC-005"):
        assert results[rid].verdict == "pass", (rid, results[rid].outcome.reason)
    # Only contract rules about documents this clinic never issues and the network (judged from the agent's
    # side) may be skipped among what applies to agents.
    skipped = {rid for rid, r in results.items() if r.verdict == "skip" and "provider_agent" in known[rid].roles}
    assert skipped <= set(RULES) | {"S24-NET-001", "S24-NET-002", "S24-NET-003", "S24-NET-004"}
    assert results["S24-SCH-007"].verdict == "pass"  # what S24-SCH-004 asks of a server, for agent replies
    # The instructions name the URL, the provider, the CA and the kit's agent certificate.
    text = announced[0]
    assert run.target.url in text and scenario.provider_code in text and str(pki.ca_cert) in text
    assert "provider-agent.pem" in text and pki["provider-agent"].sha256() in text
    # The report names the agent's certificate and validates.
    assert run.certificate["sha256"] == pki["provider-agent"].sha256()
    assert run.environment["agent_cert_sha256"] == pki["provider-agent"].sha256()
    for result in run.results:
        assert is_valid("report#/properties/results/items", result.as_json()), result.as_json()


def test_agent_exchanges_are_journaled_and_explained(scenario_dir, scenario, pki):
    """Evidence of an agent answer names the reply's journal entry and explains the work item (no curl)."""
    core = create_faulty_app("wrong_problem_code", scenario).state.core
    results, run, _ = judge(scenario_dir, pki, lambda url, client: ProviderAgent(core, url, client, wait=2.0),
                            select="S24-API-005")
    evidence = results["S24-API-005"].outcome.evidence[0]
    assert evidence.actual == "404 not_found"
    entry = run.journal.get(evidence.exchange)
    assert entry["route"] == "/relay/v1/agent/replies" and entry["status"] == 204
    assert json.loads(entry["request"]["body"])["body"]["code"] == "not_found"
    line = evidence.reproduction
    assert "\n" not in line and "curl" not in line and "agent work item" in line
    assert "→ accepted" in line and "POST /s24/v1/documents:fetch" in line
    poll = re.search(r"poll (x-\d+)", line).group(1)
    assert run.journal.get(poll)["route"] == "/relay/v1/agent/poll"


# -- faulty agents: the faulty providers' cores ----------------------------------------------------------------

#: The faulty providers whose defect is in what they answer (a ProviderCore step), not in how it travels.
CORE_DEFECTS = ["date_shifted", "drop_visit", "expired_consent_accepted", "extra_visit", "foreign_document",
                "full_rrn", "ignores_period", "ignores_visit_ids", "missing_itemised", "nfd_text",
                "no_idempotency_conflict", "unknown_patient_200", "unknown_patient_500", "wrong_problem_code",
                "wrong_total"]


def test_the_core_defects_are_every_faulty_core(scenario):
    """Every faulty provider built on a ProviderCore subclass is judged as an agent below."""
    cores = [name for name in sorted(FAULTY)
             if type(getattr(getattr(create_faulty_app(name, scenario), "state", None), "core", None))
             not in (type(None), ProviderCore)]
    assert cores == CORE_DEFECTS


@pytest.mark.parametrize("name", CORE_DEFECTS)
def test_faulty_core_as_an_agent_is_caught(name, scenario_dir, scenario, pki):
    entry = FAULTY[name]
    core = create_faulty_app(name, scenario, timeout=TIMEOUT).state.core
    results, _, _ = judge(scenario_dir, pki, lambda url, client: ProviderAgent(core, url, client, wait=2.0),
                          select=sorted(entry.expected_failures))
    assert failed_ids(results) == set(entry.expected_failures), {
        rid: (r.verdict, r.outcome.reason) for rid, r in results.items()}
    for rid in entry.expected_failures:
        assert "kit error" not in results[rid].outcome.reason


# -- faulty agents: defects of the agent itself ----------------------------------------------------------------

def _wrong_request_id(path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Bundles go back under another request_id (the fetch path builds the reply from a stale variable)."""
    if path.endswith("/replies") and body["operation"] == "documents:fetch" and body["status"] == 200:
        return [{**body, "request_id": body["request_id"][::-1]}]
    return [body]


def _ignores_fetches(path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """documents:fetch work is dropped without a reply (an agent that only implements search)."""
    return [] if path.endswith("/replies") and body["operation"] == "documents:fetch" else [body]


def _cp949_bundles(path: str, body: dict[str, Any]) -> list[Any]:
    """Bundles go back encoded in CP949 (a Windows EMR's default), not UTF-8."""
    if path.endswith("/replies") and body["operation"] == "documents:fetch" and body["status"] == 200:
        return [json.dumps(body, ensure_ascii=False).encode("cp949", errors="replace")]
    return [body]


def _answers_twice(path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every reply is posted twice (a retry that does not look at the first answer)."""
    return [body, body] if path.endswith("/replies") else [body]


def _home_made_errors(path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Errors go back in the vendor's own shape, not as RFC 9457 problems."""
    if path.endswith("/replies") and body["status"] >= 400:
        return [{**body, "body": {"error": body["body"]["code"], "message": body["body"]["title"]}}]
    return [body]


def _second_clinic_first() -> Callable[[str, dict[str, Any]], list[dict[str, Any]]]:
    """The first poll names a provider code this relay does not know (a leftover second clinic)."""
    polls = iter(range(10**6))

    def change(path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        if path.endswith("/poll") and next(polls) == 0:
            return [{**body, "provider_code": "99999999"}]
        return [body]
    return change


class GivesUpAfterAnError(ProviderAgent):
    """Its loop has no error handling: the first refused reply ends the agent."""

    async def run(self) -> None:
        while not self.last_error:
            await self.poll_once()


class ManyPollers:
    """Six pollers for one clinic: each long-polls, together they poll six times as often as needed."""

    def __init__(self, scenario: Scenario, url: str, client: httpx.AsyncClient, count: int = 6) -> None:
        core = ProviderCore(scenario)
        self.agents = [ProviderAgent(core, url, client, agent_id=f"agent-{i}", wait=1.0) for i in range(count)]

    async def run(self) -> None:
        await asyncio.gather(*(agent.run() for agent in self.agents))


#: (name, agent factory over a scenario, timeout, idle seconds before the checks, requirements it must fail)
AGENT_DEFECTS = [
    ("wrong_request_id", lambda s: tampered(s, _wrong_request_id), SHORT, 0,
     {"S24-API-101", "S24-API-003", "S24-API-014"}),
    ("cp949_bundles", lambda s: tampered(s, _cp949_bundles), SHORT, 0,
     {"S24-API-101", "S24-API-003", "S24-API-014"}),
    ("never_answers_fetches", lambda s: tampered(s, _ignores_fetches), SHORT, 0, {"S24-API-003", "S24-API-014"}),
    ("answers_twice", lambda s: tampered(s, _answers_twice), TIMEOUT, 0, {"S24-API-102"}),
    ("polls_without_waiting", lambda s: reference(s, wait=0), TIMEOUT, 0, {"S24-API-104"}),
    ("six_pollers", lambda s: lambda url, client: ManyPollers(s, url, client), TIMEOUT, 1.5, {"S24-API-104"}),
    ("home_made_errors", lambda s: tampered(s, _home_made_errors), TIMEOUT, 0, {"S24-SCH-007", "S24-API-004"}),
    ("second_clinic_first", lambda s: tampered(s, _second_clinic_first()), TIMEOUT, 0, {"S24-API-100"}),
    ("gives_up_after_an_error", lambda s: lambda url, client: GivesUpAfterAnError(ProviderCore(s), url, client,
                                                                                   wait=2.0), SHORT, 0,
     {"S24-API-103"}),
]


@pytest.mark.parametrize(("name", "make", "timeout", "idle", "fails"), AGENT_DEFECTS,
                         ids=[d[0] for d in AGENT_DEFECTS])
def test_agent_defect_is_caught(name, make, timeout, idle, fails, scenario_dir, scenario, pki):
    results, _, _ = judge(scenario_dir, pki, make(scenario), select=sorted(fails), timeout=timeout, idle=idle)
    assert failed_ids(results) == fails, {rid: (r.verdict, r.outcome.reason) for rid, r in results.items()}
    for rid in fails:
        assert results[rid].outcome.evidence and "kit error" not in results[rid].outcome.reason


class LateFirstReply(Tampering):
    """Its first reply goes out after the deadline (a connection pool opened lazily, slowly)."""

    def __init__(self, client: httpx.AsyncClient, delay: float) -> None:
        super().__init__(client, lambda path, body: [body])
        self.delay, self.first = delay, True

    async def post(self, url: str, *, json: Any = None, **options: Any) -> httpx.Response:
        if self.first and url.endswith("/replies"):
            self.first = False
            await asyncio.sleep(self.delay)
        return await super().post(url, json=json, **options)


def test_a_reply_after_the_deadline_is_refused_as_late(scenario_dir, scenario, pki):
    def make(url: str, client: httpx.AsyncClient) -> ProviderAgent:
        return ProviderAgent(ProviderCore(scenario), url, LateFirstReply(client, SHORT + 0.4), wait=2.0)  # type: ignore

    results, run, _ = judge(scenario_dir, pki, make, select="S24-API-014", timeout=SHORT)
    outcome = results["S24-API-014"].outcome
    assert outcome.verdict == "fail"
    late = [e for e in outcome.evidence if "→ late" in (e.reproduction or "")]
    assert late and "ReadTimeout" in late[0].actual
    reply = re.search(r"replies: (x-\d+) → late", late[0].reproduction).group(1)
    assert run.journal.get(reply)["status"] == 404


def test_every_agent_requirement_has_a_check_and_a_defect():
    agent_only = {rid for rid, req in requirements().items() if req.roles == ("provider_agent",)
                  and rid.split("-")[1] in ("API", "SCH")}
    assert agent_only == set(AGENT_ONLY) and agent_only <= set(CHECKS)
    assert agent_only <= {rid for *_, fails in AGENT_DEFECTS for rid in fails}


def test_agent_checks_skip_on_a_pull_session():
    assert all(p.skip_reason and "does not apply to role provider_pull" in p.skip_reason
               for p in plan("provider_pull", ",".join(AGENT_ONLY)))


# -- refused and silent agents ---------------------------------------------------------------------------------

def test_an_agent_that_never_polls_is_unreachable(scenario_dir, pki):
    target = make_target(None, scenario_dir, role="provider_agent", listen="127.0.0.1:0",
                         state=pki.directory.parent, agent_wait=0.3)
    with pytest.raises(TargetUnreachable) as caught:
        Suite(target, select="S24-API-002").open()
    assert "never polled within 0.3 s" in caught.value.message_en and "doctor --outbound" in caught.value.message_en
    assert "0.3초 동안 폴링하지 않았습니다" in caught.value.message_ko


class PollsWithGet:
    """Polls with GET (and no body) instead of POST."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url, self.client = url, client

    async def run(self) -> None:
        while True:
            await self.client.get(f"{self.url}/relay/v1/agent/poll", params={"wait": "1"})
            await asyncio.sleep(0.2)


@pytest.mark.parametrize("why", ["wrong_provider", "wrong_pin", "wrong_method"])
def test_an_agent_whose_every_poll_is_refused_is_unreachable(why, scenario_dir, scenario, pki):
    def other_code(path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [{**body, "provider_code": "99999999"}] if path.endswith("/poll") else [body]

    make = {"wrong_provider": tampered(scenario, other_code, wait=0.5), "wrong_pin": reference(scenario, wait=0.5),
            "wrong_method": PollsWithGet}[why]
    pin = pki["relay-client"].sha256() if why == "wrong_pin" else None  # not the agent's certificate
    with pytest.raises(TargetUnreachable) as caught:
        target = make_target(None, scenario_dir, role="provider_agent", listen="127.0.0.1:0",
                             state=pki.directory.parent, agent_wait=1.5, agent_cert_sha256=pin)
        with contextlib.ExitStack() as stack:
            Suite(target, announce=starter(stack, make, pki)).open()
    expected = {"wrong_provider": "404 not_found", "wrong_pin": "403 forbidden",
                "wrong_method": "405 method_not_allowed"}[why]
    assert caught.value.message_en.startswith(f"every poll of the agent was refused: {expected}")


@pytest.mark.parametrize(("options", "names"), [
    ({"url": "https://127.0.0.1:8443"}, "--target"),
    ({"listen": "nonsense"}, "--listen"),
    ({"listen": "127.0.0.1:99999"}, "--listen"),
    ({"agent_cert_sha256": "abc"}, "--agent-cert-sha256"),
    ({"agent_wait": 0}, "--agent-wait"),
])
def test_agent_configuration_errors_name_the_option(options, names, scenario_dir, pki):
    with pytest.raises(ConfigError) as caught:
        make_target(options.pop("url", None), scenario_dir, role="provider_agent", state=pki.directory.parent,
                    **options)
    assert names in caught.value.message_ko and names in caught.value.message_en


def test_agent_pin_may_be_given_as_openssl_prints_it(scenario_dir, pki):
    pin = pki["provider-agent"].sha256()
    colons = ":".join(pin[i:i + 2] for i in range(0, 64, 2)).upper()  # openssl x509 -fingerprint -sha256
    target = make_target(None, scenario_dir, role="provider_agent", state=pki.directory.parent,
                         agent_cert_sha256=colons)
    assert target.agent_cert_sha256 == pin and target.url == "https://127.0.0.1:18443"
    assert target.client_cert == pki["relay-server"].cert  # the suite is the relay's server here


def test_pull_options_refuse_agent_ones(scenario_dir, pki):
    for options, names in (({"listen": "127.0.0.1:1"}, "--listen"), ({}, "--target URL is required")):
        with pytest.raises(ConfigError, match=names):
            make_target(None, scenario_dir, state=pki.directory.parent, **options)


# -- s24kit check and the pytest plugin ------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def agent_at(port: int, make: MakeAgent, pki) -> Iterator[None]:
    """The agent polling ``127.0.0.1:port``, started once the suite listens there (no retry pause)."""
    ready, stop = threading.Event(), threading.Event()

    def wait_then_run() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                ready.set()
                return
            stop.wait(0.02)

    waiter = threading.Thread(target=wait_then_run, daemon=True)
    waiter.start()
    with contextlib.ExitStack() as stack:
        def start_agent() -> None:
            if ready.wait(30):
                stack.enter_context(agent_running(make, f"https://127.0.0.1:{port}", pki))

        starter = threading.Thread(target=start_agent, daemon=True)
        starter.start()
        try:
            yield
        finally:
            stop.set()
            starter.join(31)


def _check(*args: str):
    return CliRunner().invoke(check, [*args, "--quiet", "--lang", "en"])


def test_check_agent_exit_0_and_1(scenario_dir, scenario, pki, tmp_path):
    port = _free_port()
    with agent_at(port, reference(scenario), pki):
        ok = _check("--role", "provider_agent", "--listen", f"127.0.0.1:{port}", "--scenario", str(scenario_dir),
                    "--select", "S24-API-002,S24-API-100,S24-SCH-007", "--state", str(pki.directory.parent),
                    "--out", str(tmp_path / "ok"))
    assert ok.exit_code == 0, ok.output
    assert "point the provider's agent at this suite" in ok.output and f"https://127.0.0.1:{port}" in ok.output
    report = json.loads((tmp_path / "ok" / "report.json").read_text(encoding="utf-8"))
    assert report["target"]["role"] == "provider_agent" and report["verdict"] == "pass"
    assert report["target"]["certificate"]["sha256"] == pki["provider-agent"].sha256()

    port = _free_port()
    core = create_faulty_app("wrong_problem_code", scenario).state.core
    with agent_at(port, lambda url, client: ProviderAgent(core, url, client, wait=2.0), pki):
        bad = _check("--role", "provider_agent", "--listen", f"127.0.0.1:{port}", "--scenario", str(scenario_dir),
                     "--select", "S24-API-005", "--state", str(pki.directory.parent), "--out", str(tmp_path / "bad"))
    assert bad.exit_code == 1, bad.output
    assert "verdict: FAIL" in bad.output and "not_found" in bad.output


def test_check_agent_exit_3_when_it_never_polls(scenario_dir, pki, tmp_path):
    result = _check("--role", "provider_agent", "--listen", "127.0.0.1:0", "--agent-wait", "0.2", "--scenario",
                    str(scenario_dir), "--state", str(pki.directory.parent), "--out", str(tmp_path / "r"))
    assert result.exit_code == 3, result.output
    assert "point the provider's agent at this suite" in result.output
    assert "never polled within 0.2 s" in result.output and not (tmp_path / "r").exists()


@pytest.mark.parametrize("args", [
    ["--role", "provider_agent", "--target", "https://127.0.0.1:8443"],
    ["--role", "provider_agent", "--listen", "127.0.0.1"],
    ["--role", "provider_agent", "--agent-cert-sha256", "xyz"],
    ["--listen", "127.0.0.1:18443"],
    [],
])
def test_check_agent_exit_2_one_line(args, scenario_dir, pki):
    result = _check(*args, "--scenario", str(scenario_dir), "--state", str(pki.directory.parent))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("오류: ") and " / error: " in lines[0]


def test_check_agent_exit_2_when_the_port_is_taken(scenario_dir, pki):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = _check("--role", "provider_agent", "--listen", f"127.0.0.1:{port}", "--scenario",
                        str(scenario_dir), "--state", str(pki.directory.parent))
    assert result.exit_code == 2, result.output
    assert "--listen" in result.output and "already in use" in result.output


def _plugin_args(scenario_dir, pki, *extra: str) -> list[str]:
    return ["--s24-role=provider_agent", f"--s24-scenario={scenario_dir}", f"--s24-state={pki.directory.parent}",
            "--s24-lang=en", *extra]


def test_plugin_runs_the_agent_suite(pytester, scenario_dir, scenario, pki):
    port = _free_port()
    with agent_at(port, reference(scenario), pki):
        result = pytester.runpytest(*_plugin_args(scenario_dir, pki, f"--s24-listen=127.0.0.1:{port}",
                                                  "--s24-select=S24-API-002,S24-API-101,S24-API-001"), "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*listening for the agent at https://127.0.0.1:*(provider_agent)*",
                                 "*point the provider's agent at this suite*",
                                 "SKIPPED*does not apply to role provider_agent*"])


def test_plugin_agent_that_never_polls_exits_3(pytester, scenario_dir, pki):
    result = pytester.runpytest(*_plugin_args(scenario_dir, pki, "--s24-listen=127.0.0.1:0",
                                              "--s24-agent-wait=0.2"))
    assert result.ret == 3
    result.stdout.fnmatch_lines(["*never polled within 0.2 s*"])


def test_plugin_agent_mode_refuses_several_processes(pytester, scenario_dir, pki):
    result = pytester.runpytest(*_plugin_args(scenario_dir, pki, "--s24-listen=127.0.0.1:0"), "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--s24-role=provider_agent needs a single process (-n 0)*"])

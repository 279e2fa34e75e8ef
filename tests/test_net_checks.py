"""The network probes and the S24-NET checks: PASS on a working path, FAIL (with the right diagnosis) on broken
ones — on loopback, and behind real nftables rules in network namespaces made by the test (tests/netns.py)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from s24kit.conformance.catalogue import requirements
from s24kit.conformance.checks import CHECKS
from s24kit.conformance.net import target as target_module
from s24kit.conformance.net.checks import context_for, run_net_checks
from s24kit.conformance.net.diagnoses import diagnose, texts
from s24kit.conformance.net.probes import DnsStatus, TcpStatus, resolve, tcp_connect
from s24kit.conformance.net.target import NetTarget
from s24kit.simulator import serving
from s24kit.simulator.net_echo import echo_app
from s24kit.simulator.pki import ensure_pki

from . import netns, tls_servers
from ._require import require
from .conftest import generated_scenario

LOCAL = "127.0.0.1"


def _verdicts(results) -> dict[str, str]:
    return {r.requirement: r.verdict for r in results}


def _result(results, requirement: str):
    return next(r for r in results if r.requirement == requirement)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return ensure_pki(tmp_path_factory.mktemp("pki"), hosts=netns.PKI_HOSTS)


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory):
    """Another CA: its certificates are not trusted by the kit's servers."""
    return ensure_pki(tmp_path_factory.mktemp("foreign"))


@pytest.fixture
def listening():
    with socket.create_server((LOCAL, 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
def closed_port():
    with tls_servers.closed_port() as port:
        yield port


@pytest.fixture(scope="module")
def relay(pki):
    """The whoami echo behind mutual TLS, as the relay serves it."""
    with serving.serving(echo_app(), tls=pki.server_context("relay-server"), name="relay") as served:
        yield served


def _outbound(pki, port: int, **options) -> NetTarget:
    cred = pki["provider-agent"]
    defaults = {"outbound": True, "timeout": 2.0, "anchors": pki.ca_cert, "client_cert": cred.cert,
                "client_key": cred.key}
    return NetTarget(LOCAL, port, **{**defaults, **options})


# ---------------------------------------------------------------- catalogue and texts


def test_every_net_check_is_catalogued_with_both_languages():
    ids = sorted(rid for rid, c in CHECKS.items() if c.kind == "net")
    assert ids == ["S24-NET-001", "S24-NET-002", "S24-NET-003", "S24-NET-004"]
    for rid in ids:
        req = requirements()[rid]
        assert req.title_ko and req.title_en and req.remedy_ko and req.remedy_en


def test_every_diagnosis_code_has_texts_that_fill_in():
    used = {*target_module._DNS_CODES.values(), *target_module._TCP_CODES.values(),
            *target_module._TLS_CODES.values()}
    assert used <= set(texts()), used - set(texts())
    for code, entry in texts().items():
        assert {"title_ko", "title_en", "remedy_ko", "remedy_en"} <= set(entry), code
        for outbound in (False, True):
            found = diagnose(code, {"port": 8443, "address": "192.0.2.1"}, outbound=outbound)  # formats
            assert found.title_ko and found.title_en and found.remedy_ko and found.remedy_en, code


# ---------------------------------------------------------------- loopback


def test_net_001_passes_for_a_name_that_resolves(listening):
    results = run_net_checks(NetTarget("localhost", listening, timeout=2.0))
    assert _verdicts(results)["S24-NET-001"] == "pass"


def test_net_001_fails_when_the_name_resolves_outside_the_registered_addresses(listening):
    results = run_net_checks(NetTarget("localhost", listening, timeout=2.0, registered=("192.0.2.77",)))
    failure = _result(results, "S24-NET-001")
    assert failure.verdict == "fail" and "registered" in failure.outcome.reason
    assert failure.as_json()["evidence"][0]["expected"] == ["192.0.2.77"]


def test_net_001_is_skipped_for_an_ip_address(listening):
    assert _verdicts(run_net_checks(NetTarget(LOCAL, listening)))["S24-NET-001"] == "skip"


def test_net_002_passes_on_a_listening_port(listening):
    assert _verdicts(run_net_checks(NetTarget(LOCAL, listening, timeout=2.0)))["S24-NET-002"] == "pass"


def test_net_002_fails_as_refused_on_a_closed_port(closed_port):
    assert tcp_connect(LOCAL, closed_port, 2.0).status is TcpStatus.REFUSED
    failure = _result(run_net_checks(NetTarget(LOCAL, closed_port, timeout=2.0)), "S24-NET-002")
    assert failure.verdict == "fail" and "Connection refused" in failure.outcome.reason
    assert failure.as_json()["remedy_en"]


def test_inbound_targets_skip_the_agent_side_checks(listening):
    verdicts = _verdicts(run_net_checks(NetTarget(LOCAL, listening, timeout=2.0)))
    assert verdicts["S24-NET-003"] == verdicts["S24-NET-004"] == "skip"


def test_suite_context_is_the_relay_connecting_in(pki):
    from s24kit.conformance.session import Target

    context = context_for(Target(url="https://localhost:8443", scenario=Path("."), ca_bundle=pki.ca_cert,
                                 client_cert=pki["relay-client"].cert, client_key=pki["relay-client"].key,
                                 timeout=10))
    assert (context.host, context.port, context.timeout, context.outbound) == ("localhost", 8443, 3.0, False)


def test_net_003_and_004_pass_when_the_relay_sees_the_registered_address(pki, relay):
    results = run_net_checks(_outbound(pki, relay.port, expect_source=LOCAL))
    assert _verdicts(results) == {"S24-NET-001": "skip", "S24-NET-002": "pass", "S24-NET-003": "pass",
                                  "S24-NET-004": "pass"}


def test_net_003_fails_when_the_relay_sees_another_address(pki, relay):
    results = run_net_checks(_outbound(pki, relay.port, expect_source="192.0.2.66"))
    failure = _result(results, "S24-NET-003")
    assert failure.verdict == "fail"
    assert failure.as_json()["evidence"][0]["actual"] == LOCAL
    assert "registered" in failure.outcome.reason
    assert _result(results, "S24-NET-004").verdict == "pass"


def test_net_003_is_skipped_without_a_registered_address(pki, relay):
    assert _verdicts(run_net_checks(_outbound(pki, relay.port)))["S24-NET-003"] == "skip"


def test_net_004_fails_without_a_client_certificate(pki, relay):
    target = _outbound(pki, relay.port, client_cert=None, client_key=None)
    failure = _result(run_net_checks(target), "S24-NET-004")
    assert failure.verdict == "fail" and "requires a client certificate" in failure.outcome.reason


def test_net_004_fails_with_a_foreign_client_certificate(pki, foreign_pki, relay):
    cred = foreign_pki["provider-agent"]
    failure = _result(run_net_checks(_outbound(pki, relay.port, client_cert=cred.cert, client_key=cred.key)),
                      "S24-NET-004")
    assert failure.verdict == "fail" and "refused the client certificate" in failure.outcome.reason


def test_net_004_fails_when_the_relay_certificate_is_not_trusted(pki, foreign_pki, relay):
    failure = _result(run_net_checks(_outbound(pki, relay.port, anchors=foreign_pki.ca_cert)), "S24-NET-004")
    assert failure.verdict == "fail" and "not trusted" in failure.outcome.reason


def test_net_004_fails_on_a_closed_relay_port(pki, closed_port):
    failure = _result(run_net_checks(_outbound(pki, closed_port)), "S24-NET-004")
    assert failure.verdict == "fail" and "refused" in failure.outcome.reason


def test_whoami_reports_the_peer_address_as_ipv4(pki, relay):
    answer = _outbound(pki, relay.port).whoami()
    assert answer is not None and answer.status == 200 and answer.json() == {"address": LOCAL}


def test_an_ip_address_is_not_resolved():
    assert resolve("192.0.2.1", 443, 0.1).status is DnsStatus.LITERAL


# ---------------------------------------------------------------- behind nftables, in namespaces

PROBE = """
import json, sys
from s24kit.conformance.net.checks import run_net_checks
from s24kit.conformance.net.probes import resolve, tcp_connect
from s24kit.conformance.net.target import NetTarget
spec = json.loads(sys.argv[1])
out = {"tcp": {k: tcp_connect(spec["server"], p, 1.0).as_json() for k, p in spec["ports"].items()},
       "dns": {n: resolve(n, 443, 3.0).status.value for n in spec["names"]}, "checks": {}}
out["tcp"]["unrouted"] = tcp_connect(spec["unrouted"], 443, 1.0).as_json()
out["dns_deadline"] = resolve(spec["names"][-1], 443, 0.3).status.value
for label, (host, port) in spec["targets"].items():
    results = run_net_checks(NetTarget(host, port, timeout=1.0))
    out["checks"][label] = {r.requirement: [r.verdict, r.outcome.reason] for r in results}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", "5", "--seed", "3")


@pytest.fixture(scope="module")
def firewall_probes(tmp_path_factory, pki, scenario):
    """Every probe and check run once from the client namespace of a firewall lab."""
    require(netns.unavailable_reason() is None, f"network namespaces: {netns.unavailable_reason()}")
    with netns.Lab() as lab:
        client, _ = netns.firewall_lab(lab, tmp_path_factory.mktemp("lab"), pki.directory, scenario)
        spec = {"server": netns.SERVER, "ports": netns.PORTS, "unrouted": netns.UNROUTED,
                "names": [netns.NAME, netns.MISSING_NAME, netns.NODATA_NAME, netns.SILENT_NAME],
                "targets": {"name": [netns.NAME, netns.PORTS["open"]],
                            "missing": [netns.MISSING_NAME, netns.PORTS["open"]],
                            "drop": [netns.SERVER, netns.PORTS["drop"]],
                            "prohibited": [netns.SERVER, netns.PORTS["prohibited"]]}}
        done = client.run(sys.executable, "-c", PROBE, json.dumps(spec), timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("kind", "status"), [
    ("open", "open"), ("drop", "filtered"), ("reset", "refused"), ("closed", "refused"),
    ("prohibited", "admin_prohibited"), ("port_unreachable", "port_unreachable"),
    ("host_unreachable", "host_unreachable"), ("unrouted", "no_route"),
])
def test_tcp_outcome_behind_the_firewall(firewall_probes, kind, status):
    assert firewall_probes["tcp"][kind]["status"] == status


def test_icmp_error_names_the_firewall_that_sent_it(firewall_probes):
    icmp = firewall_probes["tcp"]["prohibited"]["icmp"]
    assert (icmp["type"], icmp["code"], icmp["offender"]) == (3, 13, netns.SERVER)
    assert firewall_probes["tcp"]["reset"]["icmp"] is None  # a reset carries no ICMP: closed or REJECT-RST


def test_dns_outcomes_from_a_stub_server(firewall_probes):
    assert firewall_probes["dns"] == {netns.NAME: "ok", netns.MISSING_NAME: "nxdomain",
                                      netns.NODATA_NAME: "no_address", netns.SILENT_NAME: "no_answer"}
    assert firewall_probes["dns_deadline"] == "timeout"  # our own deadline, shorter than the resolver's


def test_net_checks_pass_through_dns_and_an_open_port(firewall_probes):
    checks = firewall_probes["checks"]["name"]
    assert checks["S24-NET-001"][0] == "pass" and checks["S24-NET-002"][0] == "pass"


def test_net_001_fails_on_nxdomain(firewall_probes):
    verdict, reason = firewall_probes["checks"]["missing"]["S24-NET-001"]
    assert verdict == "fail" and "NXDOMAIN" in reason
    assert firewall_probes["checks"]["missing"]["S24-NET-002"][0] == "skip"


@pytest.mark.parametrize(("label", "words"), [("drop", "DROP"), ("prohibited", "administratively prohibited")])
def test_net_002_fails_behind_the_firewall_with_the_reason(firewall_probes, label, words):
    verdict, reason = firewall_probes["checks"][label]["S24-NET-002"]
    assert verdict == "fail" and words in reason

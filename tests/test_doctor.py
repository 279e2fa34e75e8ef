"""``s24kit doctor``: every layer's diagnosis on a healthy and on a broken target — loopback servers for the
TLS, HTTP and health layers, firewalled hosts and a NAT router in network namespaces for the network ones."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from s24kit.conformance.cli import main
from s24kit.simulator import serving
from s24kit.simulator.net_echo import echo_app
from s24kit.simulator.pki import ensure_pki
from s24kit.simulator.provider import Scenario, create_provider_app

from . import netns, tls_servers
from ._require import require
from .conftest import generated_scenario

LOCAL = "127.0.0.1"
HEALTH = "/s24/v1/health"
LAYER_KEYS = {"layer", "title_ko", "title_en", "status", "blocking", "elapsed_ms", "detail", "diagnosis", "facts",
              "checks"}
REPORT_KEYS = {"tool", "format_version", "profile", "direction", "target", "options", "verdict", "exit_code",
               "stopped_at", "elapsed_ms", "layers"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return ensure_pki(tmp_path_factory.mktemp("pki"), hosts=netns.PKI_HOSTS)


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory):
    return ensure_pki(tmp_path_factory.mktemp("foreign"))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", "5", "--seed", "5")


@pytest.fixture(scope="module")
def provider_app(scenario):
    return create_provider_app(Scenario.load(scenario))


@pytest.fixture(scope="module")
def provider(pki, provider_app):
    """The reference provider as it should be: TLS with mutual TLS required."""
    with serving.serving(provider_app, tls=pki.server_context("provider-server"), name="provider") as served:
        yield served


def _health_app(answer) -> Starlette:
    async def health(request):
        return answer

    return Starlette(routes=[Route(HEALTH, health)])


@pytest.fixture(scope="module")
def serve(pki):
    """``serve(app, mtls=True, tls=True)`` → port; every server stops with the module."""
    running = []

    def start(app, *, mtls: bool = True, tls: bool = True) -> int:
        context = pki.server_context("provider-server", require_client_cert=mtls) if tls else None
        served = serving.start(app, tls=context, name="doctor-test")
        running.append(served)
        return served.port

    yield start
    for served in running:
        served.stop()


@pytest.fixture
def closed_port():
    with tls_servers.closed_port() as port:
        yield port


def _creds(pki, role: str = "relay-client") -> list[str]:
    return ["--ca", str(pki.ca_cert), "--cert", str(pki[role].cert), "--key", str(pki[role].key)]


def doctor(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["doctor", *args, "--format", "json"])
    assert result.exit_code in (0, 1, 3), result.output
    return result.exit_code, json.loads(result.stdout)


def layers(report: dict) -> dict[str, dict]:
    return {layer["layer"]: layer for layer in report["layers"]}


def code(report: dict, layer: str) -> str | None:
    diagnosis = layers(report)[layer]["diagnosis"]
    return diagnosis["code"] if diagnosis else None


# ---------------------------------------------------------------- healthy


def test_healthy_provider_passes_every_layer_with_the_tls_checks(pki, provider):
    exit_code, report = doctor(f"https://localhost:{provider.port}", *_creds(pki))
    assert exit_code == 0 and report["verdict"] == "ok" and report["stopped_at"] is None
    found = layers(report)
    assert list(found) == ["dns", "tcp", "tls", "certificate", "mtls", "http", "health"]
    assert all(layer["status"] in ("ok", "warn") for layer in found.values()), found
    assert found["health"]["facts"]["body"]["status"] == "ok"
    checks = {c["requirement"]: c["verdict"] for layer in found.values() for c in layer["checks"]}
    assert checks["S24-NET-001"] == checks["S24-NET-002"] == "pass"
    tls_ids = {layer: {c["requirement"] for c in found[layer]["checks"]} for layer in ("tls", "certificate", "mtls")}
    assert tls_ids == {"tls": {f"S24-TLS-{n:03d}" for n in range(1, 10)},
                       "certificate": {f"S24-TLS-{n:03d}" for n in range(10, 18)},
                       "mtls": {f"S24-TLS-{n:03d}" for n in range(18, 23)}}


def test_json_shape_is_stable(pki, provider):
    _, report = doctor(f"https://127.0.0.1:{provider.port}", *_creds(pki), "--no-tls-checks")
    assert set(report) == REPORT_KEYS
    assert report["tool"] == "s24kit doctor" and report["format_version"] == 1 and report["direction"] == "inbound"
    assert set(report["target"]) == {"url", "host", "port", "server_name", "address"}
    assert all(set(layer) == LAYER_KEYS for layer in report["layers"])
    assert layers(report)["dns"]["status"] == "skip"  # an IP address: nothing to resolve


def test_table_output_in_both_languages(pki, provider, closed_port):
    ok = CliRunner().invoke(main, ["doctor", f"https://localhost:{provider.port}", *_creds(pki), "--no-tls-checks",
                                   "--lang", "en"])
    assert ok.exit_code == 0 and "✓" in ok.output and "Every layer is fine" in ok.output
    broken = CliRunner().invoke(main, ["doctor", f"{LOCAL}:{closed_port}", "--lang", "ko"])
    assert broken.exit_code == 3
    assert "✗" in broken.output and "연결 거부" in broken.output and "조치" in broken.output


# ---------------------------------------------------------------- TLS, certificate, mutual TLS


def test_mtls_not_enforced_is_a_problem_but_not_a_stop(pki, provider_app, serve):
    port = serve(provider_app, mtls=False)
    exit_code, report = doctor(f"https://localhost:{port}", *_creds(pki), "--no-tls-checks")
    assert exit_code == 1 and report["verdict"] == "problems" and report["stopped_at"] is None
    assert code(report, "mtls") == "mtls_not_enforced"
    assert layers(report)["health"]["status"] == "ok"


def test_missing_client_certificate_is_named(pki, provider):
    exit_code, report = doctor(f"https://localhost:{provider.port}", "--ca", str(pki.ca_cert), "--no-tls-checks")
    assert exit_code == 1 and report["stopped_at"] == "mtls"
    assert code(report, "mtls") == "client_cert_required"
    assert layers(report)["http"]["status"] == "skip"


def test_foreign_client_certificate_is_refused(pki, foreign_pki, provider):
    cred = foreign_pki["relay-client"]
    exit_code, report = doctor(f"https://localhost:{provider.port}", "--ca", str(pki.ca_cert), "--cert",
                               str(cred.cert), "--key", str(cred.key), "--no-tls-checks")
    assert exit_code == 1 and report["stopped_at"] == "mtls" and code(report, "mtls") == "client_cert_refused"


def test_untrusted_server_certificate(pki, foreign_pki, provider):
    args = ["--ca", str(foreign_pki.ca_cert), "--cert", str(pki["relay-client"].cert), "--key",
            str(pki["relay-client"].key), "--no-tls-checks"]
    exit_code, report = doctor(f"https://localhost:{provider.port}", *args)
    assert exit_code == 1 and report["stopped_at"] == "certificate" and code(report, "certificate") == "cert_untrusted"
    assert layers(report)["tls"]["status"] == "ok"


def test_certificate_name_mismatch(pki, provider):
    exit_code, report = doctor(f"https://{LOCAL}:{provider.port}", *_creds(pki), "--server-name", "other.s24kit.test",
                               "--no-tls-checks")
    assert exit_code == 1 and code(report, "certificate") == "cert_name_mismatch"
    assert "other.s24kit.test" in layers(report)["certificate"]["diagnosis"]["remedy_en"]


def test_plain_http_on_the_port(pki, provider_app, serve):
    port = serve(provider_app, tls=False)
    exit_code, report = doctor(f"{LOCAL}:{port}", *_creds(pki), "--no-tls-checks")
    assert exit_code == 1 and report["stopped_at"] == "tls" and code(report, "tls") == "plain_http"


def test_silent_port_is_diagnosed_within_the_timeout(pki):
    with tls_servers.silent_server() as server:
        exit_code, report = doctor(f"{LOCAL}:{server.port}", *_creds(pki), "--timeout", "0.5", "--no-tls-checks")
    assert exit_code == 1 and code(report, "tls") == "tls_silent"


def test_reset_during_the_handshake(pki):
    with tls_servers.reset_server() as server:
        exit_code, report = doctor(f"{LOCAL}:{server.port}", *_creds(pki), "--no-tls-checks")
    assert exit_code == 1 and code(report, "tls") == "tls_reset"
    assert "SSL-inspection" in layers(report)["tls"]["diagnosis"]["remedy_en"]


def test_refused_port_is_unreachable(closed_port):
    exit_code, report = doctor(f"https://{LOCAL}:{closed_port}")
    assert exit_code == 3 and report["verdict"] == "unreachable" and code(report, "tcp") == "refused"
    assert [layer["status"] for layer in report["layers"][2:]] == ["skip"] * 5
    assert report["layers"][1]["checks"][0]["requirement"] == "S24-NET-002"


# ---------------------------------------------------------------- HTTP and health


def test_http_404_on_a_wrong_path(pki, provider):
    exit_code, report = doctor(f"https://localhost:{provider.port}", *_creds(pki), "--no-tls-checks",
                               "--health-path", "/s24/v1/nothing")
    assert exit_code == 1 and report["stopped_at"] == "http" and code(report, "http") == "http_not_found"


@pytest.mark.parametrize(("answer", "layer", "expected", "exit_code"), [
    (JSONResponse({"status": "fine", "profile": "kit-v1"}), "health", "health_invalid", 1),
    (PlainTextResponse("OK"), "health", "health_not_json", 1),
    (JSONResponse({"status": "degraded", "profile": "kit-v1", "provider_code": "99310001"}), "health",
     "health_degraded", 0),
    (JSONResponse({"detail": "db down"}, status_code=503), "http", "http_server_error", 1),
    (JSONResponse({"detail": "not you"}, status_code=403), "http", "http_forbidden", 1),
])
def test_http_and_health_diagnoses(pki, serve, answer, layer, expected, exit_code):
    port = serve(_health_app(answer))
    got, report = doctor(f"https://localhost:{port}", *_creds(pki), "--no-tls-checks")
    assert got == exit_code and code(report, layer) == expected


def test_invalid_health_names_the_field(pki, serve):
    port = serve(_health_app(JSONResponse({"status": "fine", "profile": "kit-v1"})))
    _, report = doctor(f"https://localhost:{port}", *_creds(pki), "--no-tls-checks")
    assert "/status" in layers(report)["health"]["diagnosis"]["remedy_en"]


# ---------------------------------------------------------------- outbound (the clinic's side)


@pytest.fixture(scope="module")
def relay(pki):
    with serving.serving(echo_app(), tls=pki.server_context("relay-server"), name="relay") as served:
        yield served


def test_outbound_with_the_registered_source(pki, relay):
    exit_code, report = doctor("--outbound", "--relay", f"https://localhost:{relay.port}",
                               *_creds(pki, "provider-agent"), "--expect-source", LOCAL)
    assert exit_code == 0 and report["direction"] == "outbound"
    assert list(layers(report)) == ["dns", "tcp", "tls", "certificate", "mtls", "source"]
    assert layers(report)["source"]["facts"]["seen"] == LOCAL
    checks = {c["requirement"]: c["verdict"] for layer in report["layers"] for c in layer["checks"]}
    assert checks == {"S24-NET-001": "pass", "S24-NET-002": "pass", "S24-NET-003": "pass", "S24-NET-004": "pass"}


def test_outbound_wrong_source_address(pki, relay):
    exit_code, report = doctor("--outbound", "--relay", f"https://localhost:{relay.port}",
                               *_creds(pki, "provider-agent"), "--expect-source", "192.0.2.66")
    assert exit_code == 1 and code(report, "source") == "source_mismatch"
    remedy = layers(report)["source"]["diagnosis"]["remedy_en"]
    assert f"leaves through {LOCAL}" in remedy and "192.0.2.66 registered" in remedy


def test_outbound_without_expected_source_shows_what_the_relay_sees(pki, relay):
    exit_code, report = doctor("--outbound", f"https://localhost:{relay.port}", *_creds(pki, "provider-agent"))
    assert exit_code == 0 and layers(report)["source"]["status"] == "skip"
    assert LOCAL in layers(report)["source"]["detail"]


def test_outbound_without_a_client_certificate(pki, relay):
    exit_code, report = doctor("--outbound", "--relay", f"https://localhost:{relay.port}", "--ca", str(pki.ca_cert))
    assert exit_code == 1 and code(report, "mtls") == "client_cert_required"
    assert "agent certificate" in layers(report)["mtls"]["diagnosis"]["remedy_en"]


# ---------------------------------------------------------------- usage errors: one line, exit 2


@pytest.mark.parametrize("args", [
    [],
    ["http://localhost:8443"],
    ["localhost:notaport"],
    ["https://localhost:8443", "--cert", "/nonexistent/cert.pem"],
    ["https://localhost:8443", "--key", "{key}"],
    ["https://localhost:8443", "--ca", "{key}"],
    ["https://localhost:8443", "--cert", "{cert}", "--key", "{foreign_key}"],
    ["https://localhost:8443", "--expect-source", "10.0.0.1"],
    ["--outbound", "--relay", "https://localhost:8443", "--expect-source", "not-an-ip"],
    ["--outbound"],
    ["https://localhost:8443", "--timeout", "0"],
    ["https://localhost:8443", "--health-path", "health"],
])
def test_usage_errors_are_one_line_with_exit_2(pki, foreign_pki, args, monkeypatch):
    monkeypatch.delenv("S24KIT_RELAY", raising=False)
    filled = [a.format(key=pki["relay-client"].key, cert=pki["relay-client"].cert,
                       foreign_key=foreign_pki["relay-client"].key) for a in args]
    result = CliRunner().invoke(main, ["doctor", *filled])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("오류: ") and " / error: " in lines[0], result.stderr
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- firewalls and NAT in network namespaces


def _needs_netns() -> None:
    require(netns.unavailable_reason() is None, f"network namespaces: {netns.unavailable_reason()}")


@pytest.fixture(scope="module")
def firewall_runs(tmp_path_factory, pki, scenario):
    """Every doctor run against the firewall lab, from its client namespace, run side by side."""
    _needs_netns()
    creds = _creds(pki)
    server, ports = netns.SERVER, netns.PORTS
    runs = {
        "healthy": [f"https://{netns.NAME}:{ports['open']}", *creds],
        "drop": [f"{server}:{ports['drop']}", "--timeout", "1"],
        "reset": [f"{server}:{ports['reset']}"],
        "prohibited": [f"{server}:{ports['prohibited']}"],
        "no_route": [f"{netns.UNROUTED}:443"],
        "nxdomain": [f"https://{netns.MISSING_NAME}:{ports['open']}"],
        "dns_silent": [f"https://{netns.SILENT_NAME}:{ports['open']}"],
        "plain": [f"{server}:{ports['plain']}", *creds, "--no-tls-checks"],
    }
    with netns.Lab() as lab:
        client, _ = netns.firewall_lab(lab, tmp_path_factory.mktemp("lab"), pki.directory, scenario)
        with ThreadPoolExecutor(max_workers=4) as pool:
            done = dict(zip(runs, pool.map(lambda args: netns.doctor(client, *args), runs.values()), strict=True))
    for label, (exit_code, report, stderr) in done.items():
        assert report is not None, f"{label}: exit {exit_code}: {stderr}"
    return {label: (exit_code, report) for label, (exit_code, report, _) in done.items()}


@pytest.fixture(scope="module")
def nat_runs(tmp_path_factory, pki):
    """Doctor --outbound from a clinic behind a masquerading router, with a right and a wrong registration."""
    _needs_netns()
    relay = f"https://{netns.RELAY}:{netns.RELAY_PORT}"
    creds = _creds(pki, "provider-agent")
    runs = {"registered_lan": netns.CLINIC_LAN, "registered_wan": netns.ROUTER_WAN}
    with netns.Lab() as lab:
        clinic = netns.nat_lab(lab, tmp_path_factory.mktemp("nat"), pki.directory)
        with ThreadPoolExecutor(max_workers=2) as pool:
            done = dict(zip(runs, pool.map(
                lambda source: netns.doctor(clinic, "--outbound", "--relay", relay, *creds, "--expect-source", source),
                runs.values()), strict=True))
    return {label: (exit_code, report) for label, (exit_code, report, _) in done.items()}


def test_netns_healthy_provider_through_dns(firewall_runs):
    exit_code, report = firewall_runs["healthy"]
    assert exit_code == 0, report
    assert layers(report)["dns"]["facts"]["addresses"] == [netns.SERVER]
    assert layers(report)["health"]["status"] == "ok"


@pytest.mark.parametrize(("label", "layer", "expected"), [
    ("drop", "tcp", "filtered"),
    ("reset", "tcp", "refused"),
    ("prohibited", "tcp", "admin_prohibited"),
    ("no_route", "tcp", "no_route"),
    ("nxdomain", "dns", "dns_nxdomain"),
    ("dns_silent", "dns", "dns_no_answer"),
])
def test_netns_unreachable_diagnoses(firewall_runs, label, layer, expected):
    exit_code, report = firewall_runs[label]
    assert exit_code == 3 and report["stopped_at"] == layer and code(report, layer) == expected


def test_netns_drop_remedy_names_port_and_direction(firewall_runs):
    _, report = firewall_runs["drop"]
    diagnosis = layers(report)["tcp"]["diagnosis"]
    assert str(netns.PORTS["drop"]) in diagnosis["remedy_en"] and "incoming" in diagnosis["remedy_en"]
    assert "1 s" in diagnosis["remedy_en"] and "DROP" in diagnosis["title_en"]


def test_netns_admin_prohibited_names_the_firewall(firewall_runs):
    _, report = firewall_runs["prohibited"]
    tcp = layers(report)["tcp"]
    assert tcp["facts"]["attempts"][0]["icmp"]["code"] == 13
    assert f"firewall at {netns.SERVER}" in tcp["diagnosis"]["remedy_en"]


def test_netns_plain_http_behind_the_firewall_is_a_tls_problem(firewall_runs):
    exit_code, report = firewall_runs["plain"]
    assert exit_code == 1 and code(report, "tls") == "plain_http"


def test_netns_nat_shows_the_router_address_and_says_so(nat_runs):
    exit_code, report = nat_runs["registered_lan"]
    assert exit_code == 1 and code(report, "source") == "source_mismatch"
    source = layers(report)["source"]
    assert source["facts"]["seen"] == netns.ROUTER_WAN and source["facts"]["local_address"] == netns.CLINIC_LAN
    assert f"leaves through {netns.ROUTER_WAN}, the relay has {netns.CLINIC_LAN} registered" in \
        source["diagnosis"]["remedy_en"]


def test_netns_nat_passes_when_the_router_address_is_registered(nat_runs):
    exit_code, report = nat_runs["registered_wan"]
    assert exit_code == 0 and layers(report)["source"]["status"] == "ok"


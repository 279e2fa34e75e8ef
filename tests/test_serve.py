"""``s24kit serve``: zero configuration, a TOML configuration, Ctrl-C, and one clear line per mistake."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from rich.console import Console

from s24kit.conformance.cli.serve import serve, warn_if_exposed
from s24kit.simulator.stack_config import serve_config_from

FINAL = ("paid", "denied", "failed", "more_documents_required")


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> Path:
    """A state directory with a small scenario, shared so that each test does not generate one."""
    state = tmp_path_factory.mktemp("state")
    config = state / "first.toml"
    config.write_text('[generate]\npatients = 6\nseed = 1\n[relay]\nport = 0\n'
                      '[[insurer]]\ncode = "INSA"\nport = 0\n[[insurer]]\ncode = "INSB"\nport = 0\n'
                      '[[provider]]\nreference = true\nport = 0\n', encoding="utf-8")
    result = CliRunner().invoke(serve, ["--config", str(config), "--state", str(state), "--duration", "0"])
    assert result.exit_code == 0, result.output
    return state


def _start(args: list[str]) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "s24kit.conformance.cli", "serve", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "COLUMNS": "200"})
    output, deadline = "", time.monotonic() + 60
    while "Ctrl-C" not in output:
        line = process.stdout.readline()
        if not line or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"serve did not come up:\n{output}")
        output += line
    return process, output


def test_serve_runs_the_simulator_and_stops_cleanly_on_ctrl_c(state, tmp_path):
    config = tmp_path / "serve.toml"
    config.write_text('[relay]\nport = 0\n[[insurer]]\ncode = "INSA"\nport = 0\n[[insurer]]\ncode = "INSB"\n'
                      'port = 0\nbehaviour = "deny"\n[[provider]]\nreference = true\nport = 0\n', encoding="utf-8")
    process, output = _start(["--config", str(config), "--state", str(state)])
    try:
        relay = re.search(r"relay 중계기관\s+│?\s*(https://\S+)", output).group(1)
        for needed in ("insurer 보험사 INSA", "insurer 보험사 INSB", "provider 요양기관", "CA bundle",
                       "relay-client", "provider-server", "patient-app", "admin", "curl --cacert", "security.md"):
            assert needed in output, needed
        assert "WARNING" not in output  # loopback only
        flat = " ".join(output.split())
        cert, key = re.search(r"--cert (\S+patient-app\.pem) --key (\S+patient-app\.key)", flat).groups()
        assert re.search(r"--cert \S+admin\.pem --key \S+admin\.key \S+/__admin/claims", flat)
        served = json.loads((state / "served.json").read_text(encoding="utf-8"))
        assert served["relay"] == relay and served["insurers"] == ["INSA", "INSB"]
        # the register's URL and an insurer's printed client certificate are enough to ask the register
        insurer_cert, insurer_key = (state / "pki" / f"insurer-client-INSB.{suffix}" for suffix in ("pem", "key"))
        assert all(str(path) in output for path in (insurer_cert, insurer_key)) and "insurer INSB " in output
        as_insurer = ssl.create_default_context(cafile=str(state / "pki" / "ca.pem"))
        as_insurer.load_cert_chain(insurer_cert, insurer_key)
        lookup = httpx.Client(verify=as_insurer).post(served["register"] + "/register/v1/lookups",
                                                      json={"identity_token": "x"})
        assert lookup.status_code in (200, 400), lookup.text  # heard as an insurer: not 403
        trust = ssl.create_default_context(cafile=str(state / "pki" / "ca.pem"))
        claim = json.loads((state / "sample-claim.json").read_text(encoding="utf-8"))
        anonymous = httpx.Client(verify=trust, base_url=relay).post("/relay/v1/claims", json=claim)
        assert anonymous.status_code == 403 and anonymous.json()["code"] == "client_certificate_required"
        trust.load_cert_chain(cert, key)  # the certificate of the printed curl line
        client = httpx.Client(verify=trust, base_url=relay)
        response = client.post("/relay/v1/claims", json=claim)
        assert response.status_code in (200, 202), response.text
        claim_id, deadline = response.json()["claim_id"], time.monotonic() + 20
        while (status := client.get(f"/relay/v1/claims/{claim_id}").json())["state"] not in FINAL:
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        states = {i["insurer_code"]: i["state"] for i in status["insurers"]}
        assert states.get("INSB") in (None, "denied") and states.get("INSA") in (None, "paid", "denied")
    finally:
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=30)[0]
    assert process.returncode == 0 and "stopped cleanly" in rest


def test_serve_with_no_options_uses_the_default_ports(state, tmp_path):
    process, output = _start(["--state", str(state), "--duration", "0.5"])
    rest = process.communicate(timeout=30)[0]
    assert "https://127.0.0.1:18443" in output and "https://127.0.0.1:18444" in output
    assert process.returncode == 0, rest


def test_a_port_in_use_is_one_line_naming_the_setting(state, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = tmp_path / "c.toml"
        config.write_text(f"[relay]\nport = {taken.getsockname()[1]}\n", encoding="utf-8")
        result = CliRunner().invoke(serve, ["--config", str(config), "--state", str(state), "--duration", "0"])
    assert result.exit_code == 2
    assert "[relay] port" in result.output and "already in use" in result.output and "이미" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("text, field", [
    ("relay = 3", "relay"),
    ("[relay]\nport = 'x'", "relay.port"),
    ("[relay]\nport = 70000", "relay.port"),
    ("[[insurer]]\ncode = 'INSA'\nbehaviour = 'generous'", "insurer[0]"),
    ("[[provider]]\ncode = '123'\nmode = 'pull'", "provider[0].code"),
    ("[[provider]]\ncode = '99123456'\nmode = 'pull'", "provider[0].base_url"),
    ("[faults]\n[[faults.fault]]\nkind = 'meteor'", "faults.fault[0].kind"),
    ("colour = 'blue'", "colour"),
    ("[relay\n", "TOML"),
    ("[[provider]]\ncode = '99123456'\nmode = 'pull'\nbase_url = 'https://192.0.2.10:8443'", "provider[0].base_url"),
    ("[relay]\nallowed_provider_hosts = 'x'", "relay.allowed_provider_hosts"),
    ("[[provider]]\ncode = '99123456'\nmode = 'agent'", "provider[0].source_ip"),
    ("[[provider]]\ncode = '99123456'\nmode = 'agent'\nsource_ip = '127.0.0.1'", "provider[0].agent_cert_sha256"),
])
def test_configuration_mistakes_are_one_line_naming_the_field(tmp_path, text, field):
    config = tmp_path / "c.toml"
    config.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(serve, ["--config", str(config), "--state", str(tmp_path / "s"), "--duration", "0"])
    assert result.exit_code == 2, result.output
    assert field in result.output and "오류" in result.output and "error" in result.output
    assert "Traceback" not in result.output


def test_an_unreadable_configuration_and_a_damaged_key_are_named(state, tmp_path):
    missing = CliRunner().invoke(serve, ["--config", str(tmp_path / "none.toml"), "--duration", "0"])
    assert missing.exit_code == 2 and "none.toml" in missing.output
    broken = tmp_path / "state"
    broken.mkdir()
    (broken / "scenario").symlink_to(state / "scenario")
    CliRunner().invoke(serve, ["--state", str(broken), "--config", str(state / "first.toml"), "--duration", "0"])
    (broken / "pki" / "relay-client.key").write_text("not a key", encoding="utf-8")
    result = CliRunner().invoke(serve, ["--state", str(broken), "--duration", "0"])
    assert result.exit_code == 2 and "relay-client.key" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("host", "loud"), [("127.0.0.1", False), ("::1", False), ("localhost", False),
                                            ("0.0.0.0", True), ("::", True), ("192.0.2.10", True)])
def test_serve_warns_loudly_when_listening_outside_loopback(host, loud):
    console = Console(record=True, width=200)
    warn_if_exposed(host, console)
    text = console.export_text()
    assert (("WARNING" in text and "경고" in text and host in text) if loud else text == "")


def test_a_provider_host_listed_in_the_configuration_may_be_registered(tmp_path):
    data = {"relay": {"allowed_provider_hosts": ["192.0.2.10"]},
            "provider": [{"code": "99123456", "mode": "pull", "base_url": "https://192.0.2.10:8443"}]}
    loaded = serve_config_from(data, tmp_path)
    assert loaded.allowed_provider_hosts == ("192.0.2.10",) and loaded.external[0].base_url.startswith("https://192")

"""docs/stacks/java.md holds: a JSSE server configured as its §3 says passes every MUST of the S24-TLS family, and
the mistakes the page warns about (Java's default suites, want instead of need) fail their requirements.

The server is tests/java/JsseProvider.java, run by the JDK's source launcher (`java File.java`), with the
keystore and truststore `s24kit pki export` writes (PKCS#12: the server key with the chain server certificate →
intermediate, no root; the kit's root alone).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from s24kit.conformance.cli import main
from s24kit.conformance.runner import make_target, run_suite

from ._require import require
from .conftest import ROOT, generated_scenario

SERVER = ROOT / "tests" / "java" / "JsseProvider.java"
PASSWORD = "changeit"


@pytest.fixture(scope="module")
def java() -> str:
    found = shutil.which("java")
    require(found, "java is not installed (apt-get install default-jdk-headless)")
    return str(found)


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory):
    return generated_scenario(tmp_path_factory, "--patients", "3", "--seed", "5")


@pytest.fixture(scope="module")
def stores(state_pki, tmp_path_factory) -> tuple[Path, Path]:
    """server.p12 and truststore.p12 as a vendor gets them: ``s24kit pki export`` (java.md §1)."""
    out = tmp_path_factory.mktemp("export") / "certs"
    result = CliRunner().invoke(main, ["pki", "export", "--out", str(out), "--password", PASSWORD,
                                       "--state", str(state_pki.directory.parent)])
    assert result.exit_code == 0, result.output
    return out / "server.p12", out / "truststore.p12"


def _serve(java: str, stores: tuple[Path, Path], mode: str) -> Iterator[str]:
    process = subprocess.Popen([java, str(SERVER), str(stores[0]), str(stores[1]), PASSWORD, mode],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()  # the port, once it listens (compiling takes a few seconds)
        assert line.isdigit(), f"the Java server did not start: {line!r} {process.stderr.read()[-2000:]}"
        yield f"https://127.0.0.1:{line}"
    finally:
        process.kill()
        process.wait(timeout=30)


@pytest.fixture
def serve(java, stores):
    started = []

    def start(mode: str) -> str:
        generator = _serve(java, stores, mode)
        started.append(generator)
        return next(generator)

    yield start
    for generator in started:
        generator.close()


def _tls_verdicts(url: str, scenario_dir: Path, state_pki, select: str = "TLS") -> dict[str, str]:
    target = make_target(url, scenario_dir, state=state_pki.directory.parent, timeout=10.0)
    run = run_suite(target, select=select)
    return {r.requirement: r.verdict for r in run.results}


def test_the_page_s_jsse_server_passes_every_tls_must(serve, scenario_dir, state_pki):
    verdicts = _tls_verdicts(serve("page"), scenario_dir, state_pki)
    assert verdicts and all(rid.startswith("S24-TLS-") for rid in verdicts)
    failed = {rid: v for rid, v in verdicts.items() if v == "fail"}
    assert not failed, failed
    for rid in ("S24-TLS-002", "S24-TLS-003", "S24-TLS-006", "S24-TLS-007", "S24-TLS-011", "S24-TLS-018",
                "S24-TLS-019", "S24-TLS-020", "S24-TLS-021", "S24-TLS-022"):
        assert verdicts[rid] == "pass", (rid, verdicts[rid])


def test_java_s_default_suites_fail_the_suite_policy(serve, scenario_dir, state_pki):
    # With the kit's EC key the defaults' ECDHE-ECDSA CBC/SHA-1 suites fail S24-TLS-006 (an RSA key would also
    # negotiate TLS_RSA_* and fail S24-TLS-007: the page says so; this key cannot show it).
    verdicts = _tls_verdicts(serve("default-suites"), scenario_dir, state_pki, "S24-TLS-006")
    assert verdicts["S24-TLS-006"] == "fail"


def test_want_client_auth_fails_mutual_tls(serve, scenario_dir, state_pki):
    verdicts = _tls_verdicts(serve("want"), scenario_dir, state_pki, "S24-TLS-006,S24-TLS-018")
    assert verdicts["S24-TLS-018"] == "fail"
    assert verdicts["S24-TLS-006"] == "pass"

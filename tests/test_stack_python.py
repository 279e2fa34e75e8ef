"""docs/stacks/python.md holds: the server of its §2, run as the page shows it, passes every S24-TLS requirement,
and the mistakes the page warns about (Python's default suites, CERT_OPTIONAL) get the verdicts it names.

The server is the page's one ```python block, with the certificates `s24kit pki export` writes in ``certs/``;
only its address changes (loopback, a free port, printed once it listens).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from s24kit.conformance.cli import main
from s24kit.conformance.runner import make_target, run_suite

from .conftest import ROOT, generated_scenario

PAGE = ROOT / "docs" / "stacks" / "python.md"
LISTEN = 'Server(("0.0.0.0", 8443), Handler)'
SERVE = "server.serve_forever()"


def page_server() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, "docs/stacks/python.md should hold one python block, the server of §2"
    code = blocks[0]
    assert code.count(LISTEN) == 1 and code.count(SERVE) == 1, "the page's server no longer listens as it did"
    return code.replace(LISTEN, LISTEN.replace('"0.0.0.0", 8443', '"127.0.0.1", 0')).replace(
        SERVE, f"print(server.server_address[1], flush=True)\n{SERVE}")


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory):
    return generated_scenario(tmp_path_factory, "--patients", "3", "--seed", "5")


@pytest.fixture(scope="module")
def workdir(state_pki, tmp_path_factory) -> Path:
    """A folder with ``certs/`` as a vendor gets it: ``s24kit pki export`` (python.md §1)."""
    folder = tmp_path_factory.mktemp("connector")
    result = CliRunner().invoke(main, ["pki", "export", "--out", str(folder / "certs"),
                                       "--state", str(state_pki.directory.parent)])
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def serve(workdir) -> Iterator:
    started: list[subprocess.Popen] = []

    def start(*changes: tuple[str, str]) -> str:
        code = page_server()
        for old, new in changes:
            assert old in code, old
            code = code.replace(old, new)
        process = subprocess.Popen([sys.executable, "-c", code], cwd=workdir, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        started.append(process)
        line = process.stdout.readline().strip()
        assert line.isdigit(), f"the page's server did not start: {line!r} {process.stderr.read()[-2000:]}"
        return f"https://127.0.0.1:{line}"

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=30)


def _verdicts(url: str, scenario_dir: Path, state_pki, select: str = "TLS") -> dict[str, str]:
    target = make_target(url, scenario_dir, state=state_pki.directory.parent, timeout=10.0)
    return {r.requirement: r.verdict for r in run_suite(target, select=select).results}


def test_the_page_s_server_passes_every_tls_requirement(serve, scenario_dir, state_pki):
    verdicts = _verdicts(serve(), scenario_dir, state_pki, "TLS,S24-SEC-003,S24-SEC-004,S24-SEC-006")
    assert len([rid for rid in verdicts if rid.startswith("S24-TLS-")]) == 22
    assert set(verdicts.values()) == {"pass"}, {rid: v for rid, v in verdicts.items() if v != "pass"}


def test_python_s_default_suites_only_warn_on_the_suite_policy(serve, scenario_dir, state_pki):
    url = serve(('context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")', "pass"))
    assert _verdicts(url, scenario_dir, state_pki, "S24-TLS-006")["S24-TLS-006"] == "warn"


def test_an_optional_client_certificate_fails_mutual_tls(serve, scenario_dir, state_pki):
    url = serve(("ssl.CERT_REQUIRED", "ssl.CERT_OPTIONAL"))
    verdicts = _verdicts(url, scenario_dir, state_pki, "S24-TLS-006,S24-TLS-018")
    assert verdicts == {"S24-TLS-006": "pass", "S24-TLS-018": "fail"}

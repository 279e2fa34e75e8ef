"""``examples/node-provider``: the Node.js connector written from the documentation passes the full suite, and
the suite catches it when its EMR holds a wrong amount; only the relay's certificate may search."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from s24kit.conformance.cli import main
from s24kit.simulator.pki import ensure_pki

from ._require import require
from .conftest import generated_scenario
from .documented import NODE_EXAMPLE, child_environment, free_port

PROVIDER = "99310001"


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(shutil.which("node"), "node is not installed (Debian: apt install nodejs)")
    return generated_scenario(tmp_path_factory, "--patients", "25", "--seed", "12", "--provider", PROVIDER)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("node-state")


@pytest.fixture(scope="module")
def certs(state: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("node-certs") / "certs"
    result = CliRunner().invoke(main, ["pki", "export", "--out", str(out), "--state", str(state)])
    assert result.exit_code == 0, result.output
    return out


@contextmanager
def node_provider(seed: Path, certs: Path) -> Iterator[str]:
    """The example connector on a free loopback port; its URL once it listens."""
    port = free_port()
    process = subprocess.Popen(["node", str(NODE_EXAMPLE / "server.js"), "--seed", str(seed), "--provider", PROVIDER,
                                "--cert", str(certs / "server.pem"), "--key", str(certs / "server.key"),
                                "--ca", str(certs / "ca.pem"), "--port", str(port)],
                               env=child_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = process.stdout.readline()  # the connector says where it listens once it does
        assert "listening on" in first, first + process.stdout.read()
        yield f"https://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _check(url: str, scenario: Path, state: Path, out: Path, *select: str) -> tuple[int, dict]:
    args = ["check", "--target", url, "--scenario", str(scenario), "--provider", PROVIDER, "--state", str(state),
            "--out", str(out), "--quiet", "--lang", "en", *(a for s in select for a in ("--select", s))]
    result = CliRunner().invoke(main, args)
    return result.exit_code, json.loads((out / "report.json").read_text(encoding="utf-8"))


def test_the_node_example_passes_the_full_suite(scenario_dir: Path, state: Path, certs: Path, tmp_path: Path) -> None:
    with node_provider(scenario_dir / "emr-seed", certs) as url:
        code, report = _check(url, scenario_dir, state, tmp_path / "report")
    failed = [(r["requirement"], r.get("reason")) for r in report["results"] if r["verdict"] in ("fail", "warn")]
    assert code == 0 and report["verdict"] == "pass", failed
    assert not failed
    passed = {r["requirement"] for r in report["results"] if r["verdict"] == "pass"}
    assert {"S24-DOC-100", "S24-DOC-102", "S24-DOC-103", "S24-API-012", "S24-SEC-004", "S24-TLS-020"} <= passed


def test_the_suite_fails_the_node_example_on_a_wrong_amount(scenario_dir: Path, state: Path, certs: Path,
                                                            tmp_path: Path) -> None:
    seed = Path(shutil.copytree(scenario_dir / "emr-seed", tmp_path / "emr-seed"))
    own = {json.loads(v)["visit_id"] for v in (seed / "visits.jsonl").read_text(encoding="utf-8").splitlines()
           if json.loads(v)["provider_code"] == PROVIDER}
    rows = [json.loads(line) for line in (seed / "line_items.jsonl").read_text(encoding="utf-8").splitlines()]
    changed = next(row for row in rows if row["visit_id"] in own and row["item_type"] == "statement")
    changed["copay"] += 100  # one line of the provider's statements charges the patient 100 won more
    (seed / "line_items.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                           encoding="utf-8")
    with node_provider(seed, certs) as url:
        code, report = _check(url, scenario_dir, state, tmp_path / "report", "DOC")
    verdicts = {r["requirement"]: r["verdict"] for r in report["results"]}
    assert code == 1 and verdicts["S24-DOC-103"] == "fail"


def test_only_the_relay_certificate_may_search(scenario_dir: Path, state: Path, certs: Path) -> None:
    kit = ensure_pki(state / "pki")
    body = {"request_id": "req-node-role-0001"}
    with node_provider(scenario_dir / "emr-seed", certs) as url:
        with httpx.Client(verify=kit.client_context("patient-app")) as patient_app:
            refused = patient_app.post(f"{url}/s24/v1/visits:search", json=body)
        with httpx.Client(verify=kit.client_context("relay-client")) as relay:
            judged = relay.post(f"{url}/s24/v1/visits:search", json=body)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert judged.status_code == 400 and judged.json()["code"] == "invalid_request"

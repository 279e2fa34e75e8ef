"""``s24kit load``: Locust in its own processes (a master and two workers on loopback), each worker's share
of the scenario apart from the others', and the summary with failures grouped by problem code."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from s24kit.conformance.cli import load as load_module
from s24kit.conformance.cli.serve import write_tenants
from s24kit.conformance.load.summary import problem_code, summarise
from s24kit.conformance.load.workload import (
    Feed,
    Partition,
    RequestIds,
    WorkloadError,
    busiest_provider,
    read_tenants,
    share,
    worker_budget,
)
from s24kit.simulator.insurer.config import InsurerConfig
from s24kit.simulator.served import write_served
from s24kit.simulator.stack import Stack, StackOptions

from .conftest import generated_scenario

LOAD = [sys.executable, "-m", "s24kit.conformance.cli", "load"]
RUN_SECONDS = "90"  # the bound in time of every run here; --claims bounds the requests and ends it sooner


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", "40", "--seed", "5")


@pytest.fixture(scope="module")
def relay(scenario_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The kit's relay, the two insurers ``s24kit serve`` runs by default (the scenario has more) and the
    reference provider on loopback, its served insurers recorded as serve does; yields (stack, state folder)."""
    state = tmp_path_factory.mktemp("state")
    stack = Stack(StackOptions(scenario_dir, state, providers=[busiest_provider(scenario_dir)],
                               insurers=[InsurerConfig("INSA"), InsurerConfig("INSB")]))
    with stack.network() as running:
        write_served(state, running.urls["relay"], running.insurer_configs)
        yield running, state


@pytest.fixture(scope="module")
def vendor(scenario_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A vendor's central server answering for 12 clinics (the scenario's providers and copies of them) under
    ``/{provider_code}``, as ``s24kit serve --tenants 12``; yields (stack, state folder, tenants.jsonl)."""
    state = tmp_path_factory.mktemp("vendor")
    stack = Stack(StackOptions(scenario_dir, state, providers=None, tenants=12))
    with stack.network() as running:
        yield running, state, write_tenants(running)


# -- the partition -----------------------------------------------------------------------------------------------

def test_workers_share_the_claims_without_sharing_a_patient(scenario_dir: Path) -> None:
    shares = [share(scenario_dir, Partition(i, 3), None) for i in range(3)]
    patients = [{item.patient_id for item in part} for part in shares]
    assert all(patients) and not (patients[0] & patients[1] or patients[0] & patients[2] or patients[1] & patients[2])
    everything = share(scenario_dir, Partition(0, 1), None)
    assert sorted(i.claim["request_id"] for part in shares for i in part) == \
        sorted(i.claim["request_id"] for i in everything)


def test_request_ids_of_two_workers_never_meet() -> None:
    first, second = RequestIds("r1", Partition(0, 2)), RequestIds("r1", Partition(1, 2))
    ids = [first.next() for _ in range(500)] + [second.next() for _ in range(500)]
    assert len(set(ids)) == 1000


def test_a_run_wide_budget_is_split_exactly() -> None:
    assert sum(worker_budget(17, Partition(i, 5)) for i in range(5)) == 17
    assert worker_budget(None, Partition(0, 2)) is None


def test_a_feed_stops_at_its_budget_and_repeats_only_when_asked(scenario_dir: Path) -> None:
    items = share(scenario_dir, Partition(0, 1), None)[:3]
    once = Feed(items, repeat=False, budget=None)
    assert [once.next() for _ in range(4)] == [*items, None]
    repeating = Feed(items, repeat=True, budget=5)
    given = [repeating.next() for _ in range(6)]
    assert given[:5] == [*items, *items[:2]] and given[5] is None


def test_a_worker_outside_the_partition_count_is_refused() -> None:
    with pytest.raises(WorkloadError, match="same --workers"):
        Partition(2, 2)


def test_a_provider_without_claims_is_refused(scenario_dir: Path) -> None:
    with pytest.raises(WorkloadError, match="no claim to send"):
        share(scenario_dir, Partition(0, 1), frozenset({"99399999"}))


def test_missing_certificates_are_explained_in_each_language_alone(scenario_dir: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from s24kit.conformance.cli import main

    monkeypatch.chdir(tmp_path)  # no .s24kit here: the default state folder holds no certificates
    result = CliRunner().invoke(main, ["load", "--target", "https://127.0.0.1:9", "--scenario", str(scenario_dir)])
    assert result.exit_code == 2, result.output
    korean, english = result.stderr.split(" / error: ")
    assert "기본 상태 폴더" in korean and "default state folder" in english
    assert not any("\uac00" <= ch <= "\ud7a3" for ch in english), english


@pytest.mark.parametrize(("key", "why"), [("provider-agent.key", "the key is not this certificate's"),
                                          ("patient-app.pem", "not readable as a PEM certificate and key")])
def test_a_certificate_and_a_key_that_do_not_go_together_are_refused_before_the_run(
        scenario_dir: Path, relay, tmp_path: Path, key: str, why: str) -> None:
    from click.testing import CliRunner

    from s24kit.conformance.cli import main

    running, state = relay
    pki = state / "pki"
    result = CliRunner().invoke(main, ["load", "--target", running.urls["relay"], "--scenario", str(scenario_dir),
                                       "--state", str(state), "--cert", str(pki / "patient-app.pem"),
                                       "--key", str(pki / key), "--out", str(tmp_path / "out"), "-t", "1"])
    assert result.exit_code == 2, result.output
    assert "--cert/--key (patients)" in result.stderr and f"cannot be used together: {why}" in result.stderr
    assert not (tmp_path / "out").exists()  # refused before anything ran


@pytest.mark.parametrize(("arguments", "english"), [
    (["--cert", "agents=c.pem", "--key", "agents=k.pem"], "--cert agents=…: --traffic agents is not chosen"),
    (["--cert", "patients=c.pem"], "--cert and --key go together"),
    (["--traffic", "patients", "--traffic", "agents", "--cert", "patients=c.pem", "--key", "k.pem"],
     "--cert: no file for the agents traffic"),
    (["--cert", "c.pem", "--cert", "c.pem", "--key", "k.pem"], "--cert FILE is given twice"),
    (["--cert", "patients=c.pem", "--cert", "patients=c.pem", "--key", "k.pem"], "--cert patients=… is given twice"),
    (["--cert", "patient=c.pem", "--key", "k.pem"],
     "--cert patient=…: unknown traffic (one of patients, relay, agents)"),
])
def test_certificates_per_traffic_are_checked_up_front(scenario_dir: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch, arguments: list[str],
                                                       english: str) -> None:
    from click.testing import CliRunner

    from s24kit.conformance.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("ca.pem", "c.pem", "k.pem"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["load", "--target", "https://127.0.0.1:9", "--scenario", str(scenario_dir),
                                       "--ca", "ca.pem", *arguments])
    assert result.exit_code == 2 and english in result.stderr, result.output


# -- the summary ---------------------------------------------------------------------------------------------------

def test_failures_are_grouped_by_problem_code() -> None:
    assert problem_code("CatchResponseError('problem=forbidden HTTP 403')") == "forbidden"
    assert problem_code("ConnectionRefusedError(111, 'Connection refused')") == "transport:ConnectionRefusedError"
    assert problem_code("CatchResponseError('problem=transport:tls_certificate')") == "transport:tls_certificate"


def test_the_kit_process_never_imports_locust() -> None:
    """Locust patches its process with gevent: the kit's command line must not load it to start a run."""
    code = ("import sys; from s24kit.conformance.cli import main; import s24kit.conformance.cli.load; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


# -- runs ----------------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _requests(results: Path, name: str) -> int:
    return sum(r["requests"] for r in json.loads(results.read_text())["rows"] if r["name"] == name)


def test_a_master_and_two_workers_add_up_and_never_repeat_a_request_id(relay, scenario_dir: Path,
                                                                       tmp_path: Path) -> None:
    stack, state = relay
    port = str(_free_port())
    # what a worker sends is decided by its own command line: the same data options on every worker
    common = ["--scenario", str(scenario_dir), "--state", str(state), "--workers", "2", "--claims", "12",
              "--record-ids",
              "--master-host", "127.0.0.1", "--master-port", port]
    master = subprocess.Popen([*LOAD, "--master", "--target", stack.urls["relay"], "-u", "4", "-t", RUN_SECONDS,
                               "--out", str(tmp_path / "master"), *common],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    workers = [subprocess.Popen([*LOAD, "--worker", "--out", str(tmp_path / f"worker{i}"), *common],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    try:
        output, _ = master.communicate(timeout=180)
        for each in workers:
            each.communicate(timeout=60)
    finally:
        for process in (master, *workers):
            process.kill()
    assert master.returncode == 0, output
    summary = json.loads((tmp_path / "master" / "summary.json").read_text(encoding="utf-8"))
    assert summary["failures_by_problem"] == {} and summary["headlines"][0]["completed"] > 0

    counts = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("worker*/ids/*.counts.json"))]
    assert sorted(c["worker"] for c in counts) == [0, 1]
    sent = [line.split("\t") for p in sorted(tmp_path.glob("worker*/ids/*.ids"))
            for line in p.read_text().splitlines()]
    stats = tmp_path / "master" / "locust-final.json"
    assert (tmp_path / "master" / "locust_stats.csv").is_file() and (tmp_path / "master" / "report.html").is_file()
    for name, kind in (("POST /relay/v1/claims", "POST"), ("submitted → final", "CLAIM")):
        assert _requests(stats, name) == sum(c["requests"].get(f"{kind} {name}", 0) for c in counts) > 0
    assert _requests(stats, "POST /relay/v1/claims") == len(sent) <= 12
    ids = Counter(request_id for request_id, _ in sent)
    assert ids.most_common(1)[0][1] == 1, "a request id was sent twice"
    by_worker = [{patient for request_id, patient in sent if f"-w{i:03d}-" in request_id} for i in range(2)]
    assert all(by_worker) and not by_worker[0] & by_worker[1], "two workers sent the same patient"


def test_a_refused_certificate_ends_in_the_summary_as_its_problem_code(relay, scenario_dir: Path,
                                                                       tmp_path: Path) -> None:
    """Claims sent with the relay's own certificate (not a patient app's) are refused 403 ``forbidden``."""
    stack, _ = relay
    pki = stack.pki
    result = subprocess.run([*LOAD, "--target", stack.urls["relay"], "--scenario", str(scenario_dir),
                             "--ca", str(pki.ca_cert), "--cert", str(pki["relay-client"].cert),
                             "--key", str(pki["relay-client"].key), "-u", "1", "-t", RUN_SECONDS, "--claims", "3",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    summary = summarise(tmp_path / "locust-final.json", ["patients"])
    assert summary["failures_by_problem"] == {"forbidden": 3}
    headline = summary["headlines"][0]
    assert headline["completed"] == 0 and headline["failed"] == 3 and not headline["targets"]["national_average"]["met"]
    assert "실패 (문제 코드별)" in result.stdout and "`forbidden`: 3" in result.stdout
    assert result.stdout.index("목표 대비 결과") < result.stdout.index("Against the targets")


def test_the_relay_pulls_each_claim_s_documents_from_the_provider(relay, scenario_dir: Path, tmp_path: Path) -> None:
    stack, state = relay
    provider = next(url for name, url in stack.urls.items() if name.startswith("provider:"))
    result = subprocess.run([*LOAD, "--traffic", "relay", "--target", provider, "--scenario", str(scenario_dir),
                             "--state", str(state), "-u", "2", "-t", RUN_SECONDS, "--claims", "5",
                             "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["headlines"][0]["completed"] == 5 and summary["failures_by_problem"] == {}
    assert _requests(tmp_path / "locust-final.json", "POST visits:search") == 5


def test_agents_poll_the_relay_with_their_registered_certificate(scenario_dir: Path, tmp_path: Path) -> None:
    code = busiest_provider(scenario_dir)
    stack = Stack(StackOptions(scenario_dir, tmp_path / "state", providers=[code], agents=[code]))
    with stack.network() as running:
        args = [*LOAD, "--traffic", "agents", "--target", running.urls["relay"], "--scenario", str(scenario_dir),
                "--poll-wait", "1", "-u", "2", "-t", "10"]  # room for a slow start under load
        result = subprocess.run([*args, "--state", str(tmp_path / "state"), "--out", str(tmp_path / "ok")],
                                capture_output=True, text=True, timeout=120)
        refused = subprocess.run([*args, "--ca", str(running.pki.ca_cert), "--cert",
                                  str(running.pki["patient-app"].cert), "--key", str(running.pki["patient-app"].key),
                                  "--out", str(tmp_path / "refused")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    polls = json.loads((tmp_path / "ok" / "summary.json").read_text(encoding="utf-8"))["headlines"][0]
    assert polls["completed"] > 0 and polls["unit"] == "polls/s"
    assert refused.returncode == 1
    assert set(json.loads((tmp_path / "refused" / "summary.json").read_text())["failures_by_problem"]) == {"forbidden"}


def test_a_mixed_run_presents_each_traffic_the_certificate_of_its_role(scenario_dir: Path, tmp_path: Path) -> None:
    """Patients and agents against one relay need a patient app's and an agent's certificate: one for all was
    refused for the other traffic (a foreign relay has no --state to take them from)."""
    code = busiest_provider(scenario_dir)
    stack = Stack(StackOptions(scenario_dir, tmp_path / "state", providers=[code], agents=[code]))
    with stack.network() as running:
        pki = running.pki
        mixed = subprocess.run(
            [*LOAD, "--traffic", "patients", "--traffic", "agents", "--target", running.urls["relay"],
             "--scenario", str(scenario_dir), "--poll-wait", "1", "-u", "4", "-t", "200", "--claims", "4",
             "--state", str(tmp_path / "state"), "--cert", f"patients={pki['patient-app'].cert}",  # its CA
             "--key", f"patients={pki['patient-app'].key}", "--cert", f"agents={pki['provider-agent'].cert}",
             "--key", f"agents={pki['provider-agent'].key}", "--out", str(tmp_path / "mixed")],
            capture_output=True, text=True, timeout=150)  # --claims ends it: the agents stop with the patients
    assert mixed.returncode == 0, mixed.stdout + mixed.stderr
    summary = json.loads((tmp_path / "mixed" / "summary.json").read_text(encoding="utf-8"))
    assert not summary["failures_by_problem"], summary["failures_by_problem"]
    assert {h["unit"] for h in summary["headlines"] if h["completed"] > 0} == {"claims/s", "polls/s"}, summary


def test_the_default_serve_s_insurers_are_the_only_ones_claims_are_addressed_to(relay, scenario_dir: Path,
                                                                              tmp_path: Path) -> None:
    """The scenario's claims also name INSC, which the relay of a default ``s24kit serve`` does not serve: the
    documented command (no --insurer) must send claims the relay can forward, not 66 ``invalid_request``."""
    stack, state = relay
    assert any("INSC" in r["claim"]["insurers"] for r in map(json.loads,
               (scenario_dir / "claims.jsonl").read_text().splitlines()))
    result = subprocess.run([*LOAD, "--target", stack.urls["relay"], "--scenario", str(scenario_dir),
                             "--state", str(state), "-u", "2", "-t", RUN_SECONDS, "--claims", "6",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["failures_by_problem"] == {} and summary["headlines"][0]["completed"] == 6


def test_a_refused_claim_counts_as_a_failed_claim(relay, scenario_dir: Path, tmp_path: Path) -> None:
    """Claims for an insurer the relay does not serve are refused at submission: the headline says failed."""
    stack, _ = relay
    pki = stack.pki
    result = subprocess.run([*LOAD, "--target", stack.urls["relay"], "--scenario", str(scenario_dir),
                             "--insurer", "INSC", "--ca", str(pki.ca_cert), "--cert", str(pki["patient-app"].cert),
                             "--key", str(pki["patient-app"].key), "-u", "1", "-t", RUN_SECONDS, "--claims", "2",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=150)
    assert result.returncode == 1, result.stdout + result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["failures_by_problem"] == {"invalid_request": 2}
    assert summary["headlines"][0]["failed"] == 2 and summary["headlines"][0]["completed"] == 0
    assert "nothing completed" in result.stdout


@pytest.mark.parametrize("kind", ["connect_refused", "tls_certificate"])
def test_transport_failures_are_grouped_by_their_kind(relay, scenario_dir: Path, tmp_path: Path, kind: str) -> None:
    stack, _ = relay
    pki = stack.pki
    # a port nobody listens on; or the relay, checked against a CA that did not sign its certificate
    target = f"https://127.0.0.1:{_free_port()}" if kind == "connect_refused" else stack.urls["relay"]
    ca = pki.ca_cert if kind == "connect_refused" else pki["relay-client"].cert
    result = subprocess.run([*LOAD, "--target", target, "--scenario", str(scenario_dir), "--ca", str(ca),
                             "--cert", str(pki["patient-app"].cert), "--key", str(pki["patient-app"].key),
                             "-u", "1", "-t", RUN_SECONDS, "--claims", "2", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=150)
    assert result.returncode == 1, result.stdout + result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["failures_by_problem"] == {f"transport:{kind}": 2}
    assert summary["headlines"][0]["failed"] == 2


def test_the_relay_pulls_from_a_target_with_a_base_path(vendor, scenario_dir: Path, tmp_path: Path) -> None:
    """A clinic's base URL on a vendor's server (what tenants.jsonl hands out) carries a path: sent once."""
    _, state, tenants = vendor
    clinic = json.loads(tenants.read_text().splitlines()[0])
    result = subprocess.run([*LOAD, "--traffic", "relay", "--target", clinic["base_url"], "--scenario",
                             str(scenario_dir), "--provider", clinic["provider_code"], "--state", str(state),
                             "-u", "1", "-t", RUN_SECONDS, "--claims", "2", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "summary.json").read_text())["headlines"][0]["completed"] == 2


def test_every_clinic_of_the_vendor_is_pulled_from_with_its_tenants_file(vendor, scenario_dir: Path,
                                                                         tmp_path: Path) -> None:
    stack, state, tenants = vendor
    clinics = read_tenants(tenants)
    spread = share(scenario_dir, Partition(0, 1), None, None, clinics)
    codes = {code for each in clinics.values() for code in each}
    assert {item.claim["provider_code"] for item in spread} == codes and len(codes) == 12
    assert len({item.claim["provider_code"] for item in spread[:12]}) > 1, "claims in a row go to one clinic"
    target = stack.urls["vendor"] + "/{provider}"
    result = subprocess.run([*LOAD, "--traffic", "relay", "--target", target, "--scenario", str(scenario_dir),
                             "--provider", "all", "--tenants", str(tenants), "--state", str(state), "--record-ids",
                             "--workers", "2", "-u", "2", "-t", RUN_SECONDS, "--claims", str(len(spread)),
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["headlines"][0]["completed"] == len(spread) and summary["failures_by_problem"] == {}
    alone = subprocess.run([*LOAD, "--traffic", "relay", "--target", target, "--scenario", str(scenario_dir),
                            "--tenants", str(tenants), "--state", str(state)], capture_output=True, text=True)
    assert alone.returncode == 2 and "--provider all" in alone.stderr


def test_web_ui_run_ends_with_the_summary(relay, scenario_dir: Path, tmp_path: Path) -> None:
    stack, state = relay
    result = subprocess.run([*LOAD, "--target", stack.urls["relay"], "--scenario", str(scenario_dir), "--web",
                             "--state", str(state), "-u", "1", "-t", "5", "--claims", "1", "--out", str(tmp_path),
                             "--", "--web-port", str(_free_port())], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "summary.json").is_file()


def test_the_web_ui_listens_on_loopback_only() -> None:
    command = load_module._locust_command(["patients"], Path("out"), "https://127.0.0.1:1", 1, None, 5, 1, "local",
                                          "127.0.0.1", 5557, True, ())
    assert command[command.index("--web-host") + 1] == "127.0.0.1" and "--autoquit" in command


@pytest.mark.parametrize("flag, value, named", [("--provider", "99399999", "--provider"),
                                                ("--scenario", "EMPTY", "--scenario")])
def test_bad_data_options_are_refused_up_front(relay, scenario_dir: Path, tmp_path: Path, flag: str, value: str,
                                               named: str) -> None:
    stack, state = relay
    args = {"--scenario": str(scenario_dir), flag: str(tmp_path) if value == "EMPTY" else value}
    result = subprocess.run([*LOAD, "--target", stack.urls["relay"], "--state", str(state), "-u", "1", "-t", "5",
                             *(x for pair in args.items() for x in pair), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 2


def test_workers_given_another_workers_count_than_the_master_fail_the_run(relay, scenario_dir: Path,
                                                                          tmp_path: Path) -> None:
    stack, state = relay
    port = str(_free_port())
    common = ["--scenario", str(scenario_dir), "--state", str(state), "--claims", "4",
              "--master-host", "127.0.0.1", "--master-port", port]
    master = subprocess.Popen([*LOAD, "--master", "--workers", "1", "--target", stack.urls["relay"], "-u", "2",
                               "-t", RUN_SECONDS, "--out", str(tmp_path / "master"), *common],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker_ = subprocess.Popen([*LOAD, "--worker", "--workers", "2", "--out", str(tmp_path / "w"), *common],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        output, errors = master.communicate(timeout=180)
        _, worker_errors = worker_.communicate(timeout=60)
    finally:
        master.kill()
        worker_.kill()
    assert master.returncode == 1, output + errors
    assert "same --workers" in output and "Traceback" not in worker_errors + errors

"""The runner, the pytest plugin (--s24-target) and ``s24kit check``: same verdicts, reports, exit codes 0/1/2/3."""

from __future__ import annotations

import json
import shutil
import socket
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from s24kit.conformance.catalogue import requirements
from s24kit.conformance.checks import CHECKS, Check, failed
from s24kit.conformance.cli.check import check
from s24kit.conformance.runner import ConfigError, SelectionError, load_checks, make_target, plan, run_suite
from s24kit.schemas.loader import is_valid
from s24kit.simulator.certfactory import CertFactory, write_bundle
from s24kit.simulator.pki import ensure_pki
from s24kit.simulator.provider import Scenario, create_provider_app
from s24kit.simulator.provider.faulty import create_faulty_app
from s24kit.simulator.serving import serving

from .conftest import generated_scenario
from .tls_servers import reset_server, tls_server

pytest_plugins = ["pytester"]
#: A clinic under test (the default provider of a small scenario is a pharmacy: no receipts to judge).
CLINIC = ["--provider", "99310001", "--provider-type", "31"]

FEW = "S24-API-001,S24-API-002,S24-API-004"


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory):
    return generated_scenario(tmp_path_factory, "--patients", "12", "--seed", "5", *CLINIC)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return ensure_pki(tmp_path_factory.mktemp("state") / "pki")


@pytest.fixture(scope="module")
def reference(scenario_dir, pki):
    with serving(create_provider_app(Scenario.load(scenario_dir)), tls=pki.server_context("provider-server")) as s:
        yield s.url


@pytest.fixture(scope="module")
def faulty(scenario_dir, pki):
    app = create_faulty_app("wrong_problem_code", Scenario.load(scenario_dir))
    with serving(app, tls=pki.server_context("provider-server")) as s:
        yield s.url


def _refused_url() -> str:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"https://127.0.0.1:{port}"


def _target(url, scenario_dir, pki, **options):
    return make_target(url, scenario_dir, state=pki.directory.parent, **options)


# ---- runner ---------------------------------------------------------------------------------------------------

def test_selection_by_family_id_and_glob():
    ids = [p.requirement for p in plan("provider_pull", "API")]
    assert ids == sorted(ids) and ids and all(i.startswith("S24-API-") for i in ids)
    assert [p.requirement for p in plan("provider_pull", ["S24-SEC-002"])] == ["S24-SEC-002"]
    assert {p.requirement for p in plan("provider_pull", "S24-DOC-10*")} >= {"S24-DOC-100", "S24-DOC-101"}
    assert len(plan("provider_pull", "sch, S24-API-001")) == len(plan("provider_pull", "SCH")) + 1
    assert plan("provider_pull", "S24-API") == plan("provider_pull", "API")
    with pytest.raises(SelectionError, match="NOPE"):
        plan("provider_pull", "NOPE")


def test_checks_not_for_the_role_are_skipped_with_a_reason():
    planned = {p.requirement: p for p in plan("provider_agent", "S24-API-001,S24-API-002")}
    assert "provider_agent" in planned["S24-API-001"].skip_reason  # health is a pull-mode endpoint
    assert planned["S24-API-002"].skip_reason is None


def test_a_check_that_crashes_is_a_fail_naming_the_kit_error(monkeypatch, reference, scenario_dir, pki):
    def broken(context):
        return {}["no such key"]

    monkeypatch.setitem(CHECKS, "S24-API-001", Check("S24-API-001", "http", broken))
    seen = []
    run = run_suite(_target(reference, scenario_dir, pki), select="S24-API-001,S24-API-002",
                    progress=lambda result, index, total: seen.append((result.requirement, index, total)))
    assert seen == [("S24-API-001", 1, 2), ("S24-API-002", 2, 2)]
    verdicts = {r.requirement: r for r in run.results}
    assert verdicts["S24-API-001"].verdict == "fail"
    assert verdicts["S24-API-001"].outcome.reason.startswith("kit error: KeyError")
    assert verdicts["S24-API-002"].verdict == "pass"  # one broken check does not stop the others


@pytest.mark.parametrize(("url", "scenario", "extra", "names"), [
    ("ftp://127.0.0.1:1", None, {}, "--target"),
    ("https://127.0.0.1:99999", None, {}, "--target"),
    ("https://127.0.0.1:8443", "missing", {}, "--scenario"),
    ("https://127.0.0.1:8443", None, {"cert": "nope.pem", "key": "nope.key"}, "--cert"),
    ("https://127.0.0.1:8443", None, {"cert": "x.pem"}, "--cert"),
    ("https://127.0.0.1:8443", None, {"timeout": 0}, "--timeout"),
])
def test_configuration_errors_name_the_option(url, scenario, extra, names, scenario_dir, pki, tmp_path):
    with pytest.raises(ConfigError) as caught:
        _target(url, tmp_path / scenario if scenario else scenario_dir, pki, **extra)
    assert names in caught.value.message_ko and names in caught.value.message_en


def test_a_file_that_is_not_a_certificate_is_named(scenario_dir, pki, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigError, match="--ca"):
        _target("https://127.0.0.1:8443", scenario_dir, pki, ca=junk)


# ---- s24kit check ---------------------------------------------------------------------------------------------

def _check(*args):
    return CliRunner().invoke(check, [*args, "--quiet", "--lang", "en"])


def test_check_exit_0_and_reports(reference, scenario_dir, pki, tmp_path):
    out = tmp_path / "report"
    result = _check("--target", reference, "--scenario", str(scenario_dir), "--select", FEW, "--out", str(out),
                    "--state", str(pki.directory.parent))
    assert result.exit_code == 0, result.output
    assert "verdict: PASS" in result.output and "S24-API-004" in result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert is_valid("report", report) and report["verdict"] == "pass"
    assert [r["requirement"] for r in report["results"]] == FEW.split(",")
    assert "provider-server.s24kit.test" in report["target"]["certificate"]["subject"]
    assert {p.name for p in out.iterdir()} >= {"report.json", "junit.xml", "report.html", "evidence.zip"}


def test_check_exit_1_on_a_failed_must(faulty, scenario_dir, pki, tmp_path):
    result = _check("--target", faulty, "--scenario", str(scenario_dir), "--select", "S24-API-005",
                    "--out", str(tmp_path / "r"), "--state", str(pki.directory.parent))
    assert result.exit_code == 1, result.output
    assert "verdict: FAIL" in result.output and "not_found" in result.output


@pytest.mark.parametrize("args", [
    ["--target", "not a url", "--scenario", "{scenario}"],
    ["--target", "https://127.0.0.1:8443", "--scenario", "{missing}"],
    ["--target", "https://127.0.0.1:8443", "--scenario", "{scenario}", "--cert", "{missing}", "--key", "{missing}"],
    ["--target", "https://127.0.0.1:8443", "--scenario", "{scenario}", "--select", "S24-NOPE-*"],
    ["--target", "https://127.0.0.1:8443"],
])
def test_check_exit_2_one_line(args, scenario_dir, pki, tmp_path):
    filled = [a.format(scenario=scenario_dir, missing=tmp_path / "missing") for a in args]
    result = _check(*filled, "--state", str(pki.directory.parent))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("오류: ") and " / error: " in lines[0]
    assert "Traceback" not in result.output


def test_check_exit_2_on_a_corrupt_scenario(reference, scenario_dir, pki, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(scenario_dir, broken)
    (broken / "expected" / "index.jsonl").write_text('{"visit_id": "V-1", "sou', encoding="utf-8")
    result = _check("--target", reference, "--scenario", str(broken), "--state", str(pki.directory.parent))
    assert result.exit_code == 2, result.output
    assert "--scenario" in result.output and "cannot be read" in result.output and "Traceback" not in result.output


def test_check_exit_3_when_nothing_listens(scenario_dir, pki, tmp_path):
    result = _check("--target", _refused_url(), "--scenario", str(scenario_dir), "--state", str(pki.directory.parent),
                    "--out", str(tmp_path / "r"))
    assert result.exit_code == 3, result.output
    assert "cannot connect" in result.output and not (tmp_path / "r").exists()


def test_check_exit_3_when_the_tls_handshake_fails(scenario_dir, pki, tmp_path):
    with reset_server() as server:  # reads the ClientHello, then resets: no handshake at all
        result = _check("--target", f"https://127.0.0.1:{server.port}", "--scenario", str(scenario_dir),
                        "--state", str(pki.directory.parent), "--out", str(tmp_path / "r"))
    assert result.exit_code == 3, result.output
    assert "cannot connect" in result.output and not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def misconfigured(tmp_path_factory):
    """The CA the relay trusts, and server certificates that fail verification against it in three ways."""
    folder = tmp_path_factory.mktemp("misconfigured")
    factory = CertFactory()
    root = factory.ca("Clinic Test Root")
    inter = factory.ca("Clinic Test Intermediate", issuer=root)
    here = ("127.0.0.1",)
    creds = {"name_mismatch": factory.leaf(inter, "other.test", hosts=("other.test",)).write(folder, "other"),
             "missing_intermediate": factory.leaf(inter, "clinic.test", hosts=here).write(folder, "alone",
                                                                                         with_chain=False),
             "untrusted_chain": factory.leaf(factory.ca("Foreign Root"), "clinic.test", hosts=here).write(folder,
                                                                                                          "foreign")}
    return write_bundle(folder / "anchors.pem", root), creds


#: What fails when the server certificate does not verify: the TLS requirement about it, and HTTP ones.
TLS_FINDING = {"name_mismatch": "S24-TLS-012", "missing_intermediate": "S24-TLS-011",
               "untrusted_chain": "S24-TLS-010"}


@pytest.mark.parametrize("case", sorted(TLS_FINDING))
def test_a_server_certificate_that_fails_verification_is_a_tls_finding(case, misconfigured, scenario_dir, pki,
                                                                       tmp_path):
    """Issue 11 item 9: not "unreachable" (exit 3, no report) but TLS checks, failed HTTP checks, reports, exit 1."""
    anchors, creds = misconfigured
    out = tmp_path / "report"
    with tls_server(creds[case], client_ca=pki.ca_cert) as server:
        result = _check("--target", f"https://127.0.0.1:{server.port}", "--scenario", str(scenario_dir),
                        "--ca", str(anchors), "--state", str(pki.directory.parent), "--out", str(out),
                        "--select", f"TLS,{FEW}")
    assert result.exit_code == 1, result.output
    assert "does not verify" in result.output and str(anchors) in result.output and "--ca FILE" in result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert is_valid("report", report) and report["verdict"] == "fail"
    verdicts = {r["requirement"]: r for r in report["results"]}
    assert verdicts[TLS_FINDING[case]]["verdict"] == "fail", verdicts[TLS_FINDING[case]]
    assert verdicts["S24-TLS-001"]["verdict"] == "pass"  # it does speak TLS
    for rid in FEW.split(","):
        evidence = verdicts[rid]["evidence"][0]
        assert verdicts[rid]["verdict"] == "fail" and evidence["actual"] and "openssl s_client" in \
            evidence["reproduction"] and str(anchors) in evidence["reproduction"]
    assert {p.name for p in out.iterdir()} >= {"report.json", "junit.xml", "report.html", "evidence.zip"}


def test_plain_http_behind_an_https_target_is_a_tls_finding(scenario_dir, pki, tmp_path):
    """A connector that forgot TLS: S24-TLS-001 fails, every HTTP check fails saying why, reports, exit 1."""
    out = tmp_path / "report"
    with serving(create_provider_app(Scenario.load(scenario_dir)), tls=None) as plain:
        port = plain.url.rsplit(":", 1)[1]
        result = _check("--target", f"https://127.0.0.1:{port}", "--scenario", str(scenario_dir),
                        "--state", str(pki.directory.parent), "--out", str(out), "--select", f"S24-TLS-001,{FEW}")
    assert result.exit_code == 1, result.output
    assert "does not answer TLS: plain HTTP" in result.output
    verdicts = {r["requirement"]: r for r in json.loads((out / "report.json").read_text(encoding="utf-8"))["results"]}
    assert verdicts["S24-TLS-001"]["verdict"] == "fail" and "plain HTTP" in verdicts["S24-TLS-001"]["reason"]
    for rid in FEW.split(","):
        assert verdicts[rid]["verdict"] == "fail" and "the port does not answer TLS" in verdicts[rid]["reason"]
        assert verdicts[rid]["evidence"][0]["expected"] == "TLS ServerHello"


def test_plugin_runs_the_tls_checks_when_the_certificate_fails_verification(pytester, misconfigured, scenario_dir,
                                                                            pki):
    anchors, creds = misconfigured
    with tls_server(creds["name_mismatch"], client_ca=pki.ca_cert) as server:
        result = pytester.runpytest(*_plugin_args(f"https://127.0.0.1:{server.port}", scenario_dir, pki,
                                                  f"--s24-ca={anchors}", "--s24-select=S24-TLS-012,S24-API-001"))
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*does not verify*--s24-ca=FILE*"])


# ---- the pytest plugin ----------------------------------------------------------------------------------------

def test_plugin_names_a_relative_state_s_certificates_by_absolute_paths_and_warns_of_a_new_pki_under_q(
        pytester, misconfigured, scenario_dir):
    """A vendor's report: run from a folder without a PKI (the default --s24-state .s24kit, relative), the
    evidence and the "trusted CA" notice named .s24kit/pki/… relative, and -q hid the new-PKI warning."""
    _, creds = misconfigured
    with tls_server(creds["untrusted_chain"]) as server:  # the new PKI cannot verify it: the notice names the CA
        result = pytester.runpytest(f"--s24-target=https://127.0.0.1:{server.port}",
                                    f"--s24-scenario={scenario_dir}", "--s24-select=S24-API-001", "-q")
    result.assert_outcomes(failed=1)
    text, pki = result.stdout.str(), pytester.path / ".s24kit" / "pki"
    assert f"-CAfile {pki / 'ca.pem'}" in text and f"-cert {pki / 'relay-client.pem'}" in text
    assert f"trusted CA: {pki / 'ca.pem'}" in text
    assert text.count(".s24kit/pki") == text.count(f"{pytester.path}/.s24kit/pki"), "every path absolute"
    warned = [line for line in result.outlines if "시험 PKI를 방금 새로 만들었습니다" in line]
    assert warned and all("/ warning: a new test PKI was just created" in line for line in warned)
    assert warned[0].index("경고") < warned[0].index("warning")  # Korean first, then English


def _plugin_args(url, scenario_dir, pki, *extra):
    return [f"--s24-target={url}", f"--s24-scenario={scenario_dir}", f"--s24-state={pki.directory.parent}",
            "--s24-lang=en", *extra]


@pytest.mark.parametrize("name", ["s24kit", "s24kit.conformance.plugin"])
def test_the_plugin_loads_by_entry_point_name_or_module(pytester, name):
    result = pytester.runpytest_subprocess("-p", name, "--help")  # a fresh process, as vendors run it
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*--s24-target=URL*"])


def test_without_target_the_plugin_adds_nothing(pytester):
    pytester.makepyfile("def test_alone(s24_validate):\n    assert s24_validate({}) != []\n")
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=1)


def test_one_item_per_check_named_by_requirement(pytester, reference, scenario_dir, pki):
    result = pytester.runpytest(*_plugin_args(reference, scenario_dir, pki, f"--s24-select={FEW}"),
                                "--collect-only", "-q")
    assert result.ret == 0
    # One class per family: pytest's JUnit XML writes classname="s24kit.API" name="S24-API-001".
    assert [line for line in result.outlines if line.startswith("s24kit.")] == [
        f"s24kit.{rid.split('-')[1]}::{rid}" for rid in FEW.split(",")]


def test_plugin_verdicts_and_reports(pytester, reference, scenario_dir, pki, tmp_path):
    out = tmp_path / "plugin-report"
    result = pytester.runpytest(*_plugin_args(reference, scenario_dir, pki, f"--s24-select={FEW}",
                                              f"--s24-report={out}"), "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*collected 3 items", "s24kit.API::S24-API-001 PASSED*"])
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "pass" and len(report["results"]) == 3


def test_plugin_fail_shows_reason_evidence_and_remedy(pytester, faulty, scenario_dir, pki):
    result = pytester.runpytest(*_plugin_args(faulty, scenario_dir, pki, "--s24-select=S24-API-005"))
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "S24-API-005 [MUST]" in text and "not_found" in text and "remedy:" in text and "curl " in text


def test_plugin_warn_is_a_tolerated_failure_and_role_skip(pytester, monkeypatch, reference, scenario_dir, pki,
                                                          tmp_path):
    # A SHOULD that is not met warns (a MUST that may not warn would fail: tests/test_levels.py).
    load_checks()  # imported here, not first inside the run below, where the real check would register over this
    monkeypatch.setitem(CHECKS, "S24-SEC-003", Check("S24-SEC-003", "http",
                                                     lambda ctx: failed("names its server, version too")))
    # S24-API-100 is for agents only (an agent target is served, not called: tests/test_agent_suite.py).
    junit = tmp_path / "pytest-junit.xml"
    result = pytester.runpytest(*_plugin_args(reference, scenario_dir, pki, "--s24-select=S24-API-100,S24-SEC-003"),
                                "-rsx", f"--junitxml={junit}")
    # Not a plain pass: xfailed (exit 0), with the warning in pytest's warnings summary too.
    result.assert_outcomes(xfailed=1, skipped=1, warnings=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*S24Warning: S24-SEC-003*", "*reason: names its server, version too*"])
    result.stdout.fnmatch_lines(["SKIPPED*does not apply to role provider_pull*"])
    result.stdout.fnmatch_lines(["XFAIL*S24-SEC-003*warning: names its server, version too (SHOULD)*"])
    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    assert {name: case.get("classname") for name, case in cases.items()} == {"S24-API-100": "s24kit.API",
                                                                            "S24-SEC-003": "s24kit.SEC"}
    assert cases["S24-SEC-003"].find("skipped").get("type") == "pytest.xfail"
    props = {p.get("name"): p.get("value") for p in cases["S24-SEC-003"].iterfind("properties/property")}
    assert props["title_en"] == requirements()["S24-SEC-003"].title_en and props["s24_verdict"] == "warn"
    assert cases["S24-API-100"].find("skipped").get("type") == "pytest.skip"


def test_plugin_unreachable_target_exits_3(pytester, scenario_dir, pki):
    result = pytester.runpytest(*_plugin_args(_refused_url(), scenario_dir, pki))
    assert result.ret == 3
    result.stdout.fnmatch_lines(["*cannot connect*"])


def test_plugin_bad_scenario_is_a_usage_error(pytester, reference, pki, tmp_path):
    result = pytester.runpytest(*_plugin_args(reference, tmp_path / "none", pki))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--scenario*no such directory*"])


def test_plugin_and_check_give_the_same_verdicts(pytester, faulty, scenario_dir, pki, tmp_path):
    """The whole suite both ways against one faulty provider: requirement by requirement, the same verdict."""
    by_plugin, by_check = tmp_path / "plugin", tmp_path / "check"
    pytester.runpytest(*_plugin_args(faulty, scenario_dir, pki, f"--s24-report={by_plugin}"))
    result = _check("--target", faulty, "--scenario", str(scenario_dir), "--out", str(by_check),
                    "--state", str(pki.directory.parent))
    assert result.exit_code == 1

    def verdicts(folder):
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        return {r["requirement"]: r["verdict"] for r in report["results"]}

    assert verdicts(by_plugin) == verdicts(by_check)
    assert verdicts(by_check)["S24-API-005"] == "fail" and len(verdicts(by_check)) > 80


def test_the_kit_s_own_provider_sends_its_intermediate_and_its_client_ca_is_found(reference, scenario_dir, pki):
    """The test PKI issues through an intermediate: the kit's servers send leaf + intermediate (S24-TLS-011
    passes), and the checks minting client certificates find the intermediate that issued the relay's."""
    run = run_suite(_target(reference, scenario_dir, pki), select=["S24-TLS-011", "S24-TLS-021", "S24-TLS-022"])
    verdicts = {r.requirement: r.verdict for r in run.results}
    assert verdicts == {"S24-TLS-011": "pass", "S24-TLS-021": "pass", "S24-TLS-022": "pass"}, [
        (r.requirement, r.outcome.reason) for r in run.results]
    assert "(2 sent)" in next(r for r in run.results if r.requirement == "S24-TLS-011").outcome.reason

"""The kit's pytest plugin (entry point ``pytest11``): the conformance suite as test items, and fixtures.

Vendors run the suite inside their own CI::

    pytest -p s24kit --s24-target=https://127.0.0.1:8443 --s24-scenario=./scenario --s24-report=./s24-report

(``--option=value``: pytest takes a separate value that names an existing folder for a test path when it
chooses its rootdir.) For an outbound-only agent, ``--s24-role=provider_agent`` instead of ``--s24-target``:
the suite listens on ``--s24-listen`` (default 127.0.0.1:18443) as the relay and the agent polls it.

Each check becomes one item named by its requirement id, in a class per family (node id
``s24kit.API::S24-API-003``: pytest's ``--junitxml`` then writes ``classname="s24kit.API" name="S24-API-003"``,
the same names as the kit's own junit.xml, whatever ``--s24-lang``). fail → test failure with reason,
evidence and remedy; warn → xfail (a tolerated failure: shown as ``x``/XFAIL, written to JUnit as
``<skipped type="pytest.xfail">``, so CI viewers show it apart from passes without failing the job) plus an
``S24Warning`` in the warnings summary; skip → skip. Without ``--s24-target`` the plugin
adds nothing but its options and the ``s24_validate`` fixture (nor without ``--s24-role=provider_agent``), so other
test runs are untouched.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from ..schemas.validation import validate
from .language import localised


@pytest.fixture
def s24_validate():
    """``s24_validate(document_or_bundle)`` → list of findings (empty when the value is valid kit-v1)."""
    return validate


#: Evidence items shown in a failure (all of them are in the reports).
SHOWN_EVIDENCE = 3
#: The name of the ``pytest11`` entry point that auto-loads this module.
ENTRY_POINT = "s24kit"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Loaded by module path (``-p s24kit.conformance.plugin``)? Then keep the entry point from loading it again.

    pytest would register this module a second time under the entry point's name, which pluggy refuses.
    """
    name = pluginmanager.get_name(sys.modules[__name__])
    if name is not None and name != ENTRY_POINT and pluginmanager.get_plugin(ENTRY_POINT) is None:
        pluginmanager.set_blocked(ENTRY_POINT)


class S24Warning(UserWarning):
    """A requirement that passed with a warning (a SHOULD not met, or a limit close to its bound)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("s24kit", "silson24-kit conformance suite (kit-v1)")
    group.addoption("--s24-target", metavar="URL", help="provider under test, e.g. https://127.0.0.1:8443; "
                    "without it the suite does not run")
    group.addoption("--s24-scenario", metavar="DIR", type=Path, help="scenario written by s24kit generate")
    group.addoption("--s24-role", default="provider_pull", choices=("provider_pull", "provider_agent"),
                    help="role of the target (default provider_pull)")
    group.addoption("--s24-listen", metavar="HOST:PORT", help="provider_agent: where the suite serves the relay's "
                    "agent endpoints (default 127.0.0.1:18443)")
    group.addoption("--s24-agent-cert-sha256", metavar="HEX", help="provider_agent: accept only this agent "
                    "certificate (SHA-256 of its DER)")
    group.addoption("--s24-agent-wait", metavar="SECONDS", type=float, default=60.0,
                    help="provider_agent: how long to wait for the agent's first poll (default 60)")
    group.addoption("--s24-provider", metavar="CODE", help="provider code in the scenario (default: the largest)")
    group.addoption("--s24-ca", metavar="FILE", type=Path, help="CA bundle of the target's server certificate")
    group.addoption("--s24-cert", metavar="FILE", type=Path, help="the relay's client certificate (PEM)")
    group.addoption("--s24-key", metavar="FILE", type=Path, help="its private key (PEM)")
    group.addoption("--s24-state", metavar="DIR", type=Path, default=Path(".s24kit"),
                    help="kit state directory whose test PKI supplies missing certificates (default .s24kit)")
    group.addoption("--s24-select", metavar="PATTERNS", action="append",
                    help="requirement ids, families or globs, comma-separated (API, S24-DOC-1*, S24-API-003)")
    group.addoption("--s24-timeout", metavar="SECONDS", type=float, default=5.0,
                    help="answer timeout the target must meet (default 5)")
    group.addoption("--s24-lang", default="ko", choices=("ko", "en"), help="language of messages and HTML report")
    group.addoption("--s24-report", metavar="DIR", type=Path, help="write report.json, junit.xml, report.html and "
                    "evidence.zip here at the end")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "s24kit: a kit-v1 conformance check (generated by --s24-target)")
    if config.getoption("s24_target") or config.getoption("s24_role") == "provider_agent":
        config.pluginmanager.register(ConformanceRun(config), "s24kit-conformance-run")


def _line(exc: Any) -> str:
    return f"{exc.message_ko} / {exc.message_en}"


class ConformanceRun:
    """The suite inside one pytest session: plans at collection, connects once, reports at the end."""

    def __init__(self, config: pytest.Config) -> None:
        from .runner import ConfigError, make_target

        option = config.getoption
        if option("s24_scenario") is None:
            raise pytest.UsageError("--s24-scenario DIR 가 필요합니다 / --s24-scenario DIR is required "
                                    "(s24kit generate --out DIR)")
        try:
            self.target = make_target(option("s24_target"), option("s24_scenario"), role=option("s24_role"),
                                      provider_code=option("s24_provider"), ca=option("s24_ca"),
                                      cert=option("s24_cert"), key=option("s24_key"),
                                      timeout=option("s24_timeout"), state=option("s24_state"),
                                      listen=option("s24_listen"), agent_cert_sha256=option("s24_agent_cert_sha256"),
                                      agent_wait=option("s24_agent_wait"))
        except ConfigError as exc:
            raise pytest.UsageError(_line(exc)) from None
        self.config, self.lang = config, option("s24_lang")
        self.select, self.report_dir = option("s24_select"), option("s24_report")
        if self.target.role == "provider_agent" and getattr(config.option, "numprocesses", None):
            # Each xdist worker would listen for the agent on the same address.
            raise pytest.UsageError("--s24-role=provider_agent는 한 프로세스에서만 쓸 수 있습니다 (-n 0) "
                                    "/ --s24-role=provider_agent needs a single process (-n 0)")
        if self.report_dir is not None and getattr(config.option, "numprocesses", None):
            # Each xdist worker would run its share of the checks and write a partial report over the others'.
            raise pytest.UsageError("--s24-report는 한 프로세스에서만 쓸 수 있습니다 (-n 0) "
                                    "/ --s24-report needs a single process (-n 0)")
        self.suite: Any = None
        self.results: dict[str, Any] = {}  # requirement id → Result, in run order
        self.written: dict[str, Path] = {}  # report kind → file, once written
        self.warned: str | None = None  # the new-PKI warning, once shown before the run (repeated at the end)

    def pytest_report_header(self) -> list[str]:
        from .runner import credentials_banner, new_pki_notice

        where = f"listening for the agent at {self.target.url}" if self.target.role == "provider_agent" else \
            f"target {self.target.url}"
        head = (f"s24kit: {where} ({self.target.role}), scenario {self.target.scenario}, "
                f"timeout {self.target.timeout:g} s")
        notice = new_pki_notice(self.target)  # not here: -q hides the header (see _new_pki_line)
        return [head, *(f"s24kit: {ko if self.lang == 'ko' else en}" for ko, en in credentials_banner(self.target)
                        if (ko, en) != notice)]

    def _new_pki_line(self) -> str | None:
        """The new-PKI warning, Korean first with English like the plugin's other notices (None: no new PKI)."""
        from .runner import new_pki_notice

        notice = new_pki_notice(self.target)
        return f"s24kit: {notice[0]} / {notice[1]}" if notice else None

    @pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so those select among the checks too
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        from .reproduction import REQUESTS
        from .runner import ConfigError, Suite

        try:
            requests = self.report_dir / REQUESTS if self.report_dir is not None else None
            self.suite = Suite(self.target, select=self.select, lang=self.lang, announce=self._announce,
                               requests_dir=requests)
        except ConfigError as exc:
            raise pytest.UsageError(_line(exc)) from None
        new = [RequirementItem.from_parent(session, name=p.requirement, nodeid=node_id(p.requirement), planned=p)
               for p in self.suite.planned]
        items.extend(new)
        # Tell the reporters, as a collector would: otherwise the header says "collected 0 items".
        session.ihook.pytest_collectreport(report=pytest.CollectReport("s24kit", "passed", None, new))

    def _announce(self, text: str) -> None:
        """Where the agent must point, shown before the suite waits for its first poll."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            print(text, flush=True)  # -p no:terminal: the instructions must still be seen
            return
        reporter.ensure_newline()
        for line in text.splitlines():
            reporter.write_line(line)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Connect once before the first check: an unreachable target stops the run with exit code 3."""
        from .runner import ConfigError, TargetUnreachable

        if session.config.option.collectonly or self.suite is None:
            return
        if not any(isinstance(item, RequirementItem) for item in session.items):
            return
        if (warning := self._new_pki_line()) is not None:
            self._announce(warning)  # before the connection the new CA will likely make fail
            self.warned = warning
        try:
            self.suite.open()
            if self.suite.rejected is not None:  # the TLS checks still run; the HTTP ones fail with this reason
                self._announce(_line(self.suite.rejected))
        except TargetUnreachable as exc:
            pytest.exit(_line(exc), returncode=3)
        except ConfigError as exc:
            pytest.exit(_line(exc), returncode=2)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.suite is None or not self.suite.opened:
            return
        try:
            if self.report_dir is not None and self.results:
                from .runner import write_reports

                run = self.suite.finish(list(self.results.values()))
                self.written = write_reports(run, self.report_dir, lang=self.lang)
        finally:
            self.suite.close()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        # Again at the end, next to the failures it explains (the line before the run has scrolled away by then).
        if self.warned is not None:
            terminalreporter.write_sep("-", "s24kit")
            terminalreporter.write_line(self.warned)
        if self.written:
            terminalreporter.write_sep("-", "s24kit report")
            for kind, path in self.written.items():
                terminalreporter.write_line(f"{kind}: {path}")


def node_id(requirement: str) -> str:
    """``s24kit.API::S24-API-003``: pytest's JUnit XML takes what is before ``::`` as the classname."""
    return f"s24kit.{requirement.split('-')[1]}::{requirement}"


class RequirementFailed(Exception):
    """A check's fail verdict (rendered by :meth:`RequirementItem.repr_failure`)."""


class RequirementItem(pytest.Item):
    """One planned check; its node id is the requirement id."""

    def __init__(self, *, planned: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.planned = planned
        from .catalogue import requirements

        self.requirement = requirements()[planned.requirement]
        self.add_marker(pytest.mark.s24kit)
        self.keywords[self.requirement.family] = True

    def _run(self) -> ConformanceRun:
        return self.config.pluginmanager.get_plugin("s24kit-conformance-run")

    def runtest(self) -> None:
        run = self._run()
        result = run.suite.run(self.planned)
        run.results[self.planned.requirement] = result
        # pytest's --junitxml writes these as the test case's properties (the titles as in the kit's junit.xml).
        self.user_properties += [("title_ko", self.requirement.title_ko), ("title_en", self.requirement.title_en),
                                 ("s24_verdict", result.verdict), ("s24_level", self.requirement.level)]
        if result.verdict == "fail":
            raise RequirementFailed(self._describe(result, run.lang))
        if result.verdict == "skip":
            pytest.skip(result.outcome.reason or "skipped")
        if result.verdict == "warn":
            text = self._describe(result, run.lang)
            self.user_properties.append(("s24_warning", text))
            warnings.warn(S24Warning(text), stacklevel=1)
            pytest.xfail(f"{'경고' if run.lang == 'ko' else 'warning'}: {localised(result.outcome.reason, run.lang)}")

    def _describe(self, result: Any, lang: str) -> str:
        req = self.requirement
        lines = [f"{req.id} [{req.level}] {req.title(lang)}", f"{'사유' if lang == 'ko' else 'reason'}: "
                 f"{result.outcome.reason}"]
        evidence = result.outcome.evidence
        for number, item in enumerate(evidence[:SHOWN_EVIDENCE], start=1):
            lines.append(f"{'증거' if lang == 'ko' else 'evidence'} {number}:")
            lines += [f"    {name}: {value}" for name, value in item.as_json().items()]
        if len(evidence) > SHOWN_EVIDENCE:
            more = len(evidence) - SHOWN_EVIDENCE
            lines.append(f"(증거 {more}건 더: --s24-report 보고서 참고)" if lang == "ko"
                         else f"({more} more pieces of evidence: see the --s24-report report)")
        lines.append(f"{'조치' if lang == 'ko' else 'remedy'}: {result.remedy(lang)}")
        return "\n".join(lines)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, RequirementFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, None, str]:
        return self.path, None, f"{self.requirement.id} {self.requirement.title(self.config.getoption('s24_lang'))}"

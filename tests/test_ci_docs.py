"""``docs/ci/``: the GitHub Actions workflow and the GitLab CI job, their steps run as one script from an empty
folder against the Node example connector, end in PASS and leave the files they publish.

Left out are only the steps that set up the machine, which this test's machine already is: checkout, Python and
Node setup, the uploads (``uses:`` steps) and installing the kit (GitHub's "Install the kit" step, GitLab's
``before_script``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ._require import require
from .conftest import ROOT
from .documented import child_environment, copy_node_example, free_port, run_shell

CI = ROOT / "docs" / "ci"


def _github() -> tuple[str, dict[str, str], list[str]]:
    workflow = yaml.safe_load((CI / "github-actions.yml").read_text(encoding="utf-8"))
    [job] = workflow["jobs"].values()
    steps = [step["run"] for step in job["steps"] if "run" in step and step.get("name") != "Install the kit"]
    upload = next(step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact"))
    assert any(str(step.get("uses", "")).startswith("actions/setup-node") for step in job["steps"])
    return "\n".join(steps), job["env"], upload["with"]["path"].split()


def _gitlab() -> tuple[str, dict[str, str], list[str]]:
    [job] = yaml.safe_load((CI / "gitlab-ci.yml").read_text(encoding="utf-8")).values()
    artefacts = job["artifacts"]
    assert artefacts["when"] == "always"
    return "\n".join(job["script"]), job["variables"], [*artefacts["paths"], artefacts["reports"]["junit"]]


@pytest.mark.parametrize("read", [_github, _gitlab], ids=["github-actions", "gitlab-ci"])
def test_the_ci_job_passes_and_leaves_its_reports(read, tmp_path: Path) -> None:
    require(shutil.which("node"), "node is not installed (Debian: apt install nodejs)")
    script, variables, published = read()
    copy_node_example(tmp_path)
    env = {**child_environment(), **{name: str(value) for name, value in variables.items()}}
    result = run_shell(script, tmp_path, port=free_port(), env=env)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "passed" in result.stdout and "failed" not in result.stdout.splitlines()[-1]
    assert "report/junit.xml" in published and "report/report.html" in published
    for path in published:
        assert (tmp_path / path).is_file(), path

"""The vendor guide works as written: the Korean guide's marked commands, run in order from an empty folder with
the Node example connector as ``connector/``, end in PASS (the full suite, then one requirement re-run); the
English guide shows the same commands; the mapping tables name every column of the EMR seed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ._require import require
from .conftest import ROOT
from .documented import copy_node_example, free_port, marked_blocks, run_shell

KO = ROOT / "docs" / "vendor-guide.ko.md"
EN = ROOT / "docs" / "vendor-guide.en.md"


def test_the_korean_guide_leads_from_an_empty_folder_to_pass(tmp_path: Path) -> None:
    require(shutil.which("node"), "node is not installed (Debian: apt install nodejs)")
    blocks = marked_blocks(KO, "guide")
    assert len(blocks) == 4, "generate, certificates, start and check, re-run one requirement"
    copy_node_example(tmp_path)
    result = run_shell("\n".join(blocks), tmp_path, port=free_port())
    assert result.returncode == 0, result.stdout[-4000:]
    verdicts = re.findall(r"판정: (\S+)", result.stdout)
    assert verdicts == ["적합", "적합"], result.stdout[-4000:]  # the full run, then --select S24-DOC-103
    assert (tmp_path / "report" / "report.html").is_file()
    assert "S24-DOC-103" in (tmp_path / "report-doc103" / "report.json").read_text(encoding="utf-8")
    assert "경고: 시험 PKI를 방금" not in result.stdout  # check used the PKI the connector was given


def test_the_english_guide_shows_the_same_commands() -> None:
    assert marked_blocks(EN, "guide-en") == marked_blocks(KO, "guide")


def _seed_columns(scenario: Path) -> dict[str, list[str]]:
    readme = (scenario / "emr-seed").glob("*.csv")
    return {csv.stem: csv.read_text(encoding="utf-8").splitlines()[0].split(",") for csv in readme}


def test_the_mapping_names_every_seed_column(tmp_path_factory) -> None:
    from .conftest import generated_scenario

    scenario = generated_scenario(tmp_path_factory, "--patients", "3")
    for guide in (KO, EN):
        text = guide.read_text(encoding="utf-8")
        section = text[text.index("## 3."):text.index("## 4.")]
        unnamed = [f"{table}.{column}" for table, columns in _seed_columns(scenario).items() for column in columns
                   if not re.search(rf"`(?:{table}\.)?{re.escape(column)}`", section)]
        assert not unnamed, f"{guide.name}: {unnamed}"


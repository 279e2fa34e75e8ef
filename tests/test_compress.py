"""``s24kit generate --compress`` and the size estimate: a gzip'ed scenario holds the same content as a
plain one and every command that reads scenarios reads it as it is."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from s24kit.conformance.cli import main
from s24kit.conformance.runner import make_target
from s24kit.simulator.generator.context import Options
from s24kit.simulator.generator.scenario import Generator, estimate, write_scenario
from s24kit.simulator.provider import Scenario
from s24kit.simulator.stack import Stack, StackOptions

ARGS = ["--patients", "30", "--seed", "11"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The same scenario written plain and compressed by the command, and what the compressed run said."""
    root = tmp_path_factory.mktemp("compress")
    plain = CliRunner().invoke(main, ["generate", *ARGS, "--out", str(root / "plain")])
    packed = CliRunner().invoke(main, ["generate", *ARGS, "--compress", "--out", str(root / "packed")])
    assert plain.exit_code == 0 and packed.exit_code == 0, plain.output + packed.output
    return root / "plain", root / "packed", packed.stderr


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def test_the_compressed_scenario_holds_the_same_content(pair) -> None:
    plain, packed, _ = pair
    files = _manifest(packed)["files"]
    assert (packed / "claims.jsonl.gz").is_file() and not (packed / "claims.jsonl").exists()
    assert {name.removesuffix(".gz"): facts for name, facts in files.items()} == _manifest(plain)["files"]
    for name, facts in files.items():
        content = (packed / name).read_bytes()
        if name.endswith(".gz"):
            content = gzip.decompress(content)
        assert hashlib.sha256(content).hexdigest() == facts["sha256"], name
    assert _manifest(packed)["counts"] == _manifest(plain)["counts"]


def test_the_size_is_said_before_writing_and_close_to_what_was_written(pair) -> None:
    _, packed, said = pair
    assert said.startswith("예상 크기 / estimated size:") and "gzip" in said
    on_disk = sum(p.stat().st_size for p in packed.rglob("*") if p.name != "manifest.json")
    estimated = float(said.split(":")[1].split()[0].replace(",", "")) * {"kB": 1e3, "MB": 1e6, "GB": 1e9}[
        said.split(":")[1].split()[1]]
    assert 0.5 < estimated / on_disk < 2, (estimated, on_disk)


def test_the_estimate_samples_across_the_scenario_and_its_range_holds_the_size() -> None:
    # seed 0's first 32 patients visit little: an estimate from them alone said 20.6 MB for 27.2 MB written
    generator = Generator(Options(patients=400, seed=0).resolved())
    expected = estimate(generator)
    chunk = generator.chunk(0, 400)
    actual = sum(len(data) for data in chunk.data.values())
    assert expected.low * expected.plain_bytes <= actual <= expected.high * expected.plain_bytes, (expected, actual)
    assert abs(expected.plain_bytes / actual - 1) < 0.15 and abs(expected.visits / chunk.counts["visits"] - 1) < 0.15


def test_a_small_scenario_is_estimated_exactly() -> None:
    generator = Generator(Options(patients=20, seed=3).resolved())
    expected = estimate(generator)
    chunk = generator.chunk(0, 20)
    assert (expected.visits, expected.plain_bytes) == (chunk.counts["visits"], sum(map(len, chunk.data.values())))
    assert expected.low == expected.high == 1.0


def test_estimating_first_changes_nothing_in_the_scenario(pair, tmp_path: Path) -> None:
    plain, _, _ = pair
    direct = write_scenario(tmp_path / "direct", Options(patients=30, seed=11).resolved())
    assert direct["files"] == _manifest(plain)["files"]


def test_the_provider_and_the_stack_read_it_as_they_read_a_plain_one(pair, tmp_path: Path) -> None:
    plain, packed, _ = pair
    a, b = Scenario.load(plain), Scenario.load(packed)
    assert (a.provider_code, a.visits, dict(a.documents), a.patients) == \
        (b.provider_code, b.visits, dict(b.documents), b.patients)
    claims = [list(Stack(StackOptions(s, tmp_path / s.name)).claims()) for s in (plain, packed)]
    assert claims[0] == claims[1] and claims[0]
    make_target("https://127.0.0.1:9", packed, state=tmp_path / "state")  # the suite accepts it as a scenario


def test_validate_reads_a_compressed_expected_folder(pair) -> None:
    plain, packed, _ = pair
    results = [json.loads(CliRunner().invoke(main, ["validate", "--format", "json", str(s / "expected")]).stdout)
               for s in (plain, packed)]
    assert len(results[1]["results"]) == len(results[0]["results"]) > 0
    assert results[1]["index_entries"] == results[0]["index_entries"] > 0
    assert [r["valid"] for r in results[1]["results"]] == [r["valid"] for r in results[0]["results"]]


def test_validate_reads_a_compressed_file_named_plainly(pair) -> None:
    plain, packed, _ = pair
    results = [CliRunner().invoke(main, ["validate", "--format", "json", str(s / "expected" / "documents.jsonl")])
               for s in (plain, packed)]
    assert not (packed / "expected" / "documents.jsonl").exists()
    assert results[1].exit_code == results[0].exit_code != 2, results[1].output
    found = [[(r["valid"], r["findings"]) for r in json.loads(x.stdout)["results"]] for x in results]
    assert found[1] == found[0] and found[0]


def test_a_damaged_compressed_file_is_one_unusable_input(tmp_path: Path) -> None:
    broken = tmp_path / "documents.jsonl.gz"
    broken.write_bytes(b"\x1f\x8b not really gzip")
    result = CliRunner().invoke(main, ["validate", str(broken)])
    assert result.exit_code == 2 and "not a gzip file" in result.stderr


def test_a_scenario_that_does_not_fit_on_the_disk_is_refused_before_writing(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(10**6, 10**6 - 1000, 1000))
    result = CliRunner().invoke(main, ["generate", *ARGS, "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and "--compress" in result.stderr and "--out" in result.stderr
    assert not (tmp_path / "s").exists()

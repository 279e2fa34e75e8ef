"""The quick benchmarks still run end to end and end with their one-line result (a benchmark is not a test of
speed here, only of still measuring: the journal's broke once when a column was added and nobody ran it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


@pytest.mark.parametrize("script, args", [
    ("journal.py", ["--records", "300", "--patients", "6", "--rounds", "2"]),
    ("payout.py", ["--claims", "20", "--seconds", "0.05"]),
    ("validate.py", ["--documents", "200", "--seconds", "0.05"]),
])
def test_a_quick_benchmark_runs_and_names_its_unit_and_baseline(script: str, args: list[str]) -> None:
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["unit"] and result["value"] > 0 and result["baseline"] > 0, result

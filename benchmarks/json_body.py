"""Request bodies parsed with the limits of simulator/safe_json.py vs plain ``json.loads``, same run, same bodies.

The bodies are what the parties receive most: patient claims, insurer submissions (a claim with its documents)
and provider bundles, taken from a generated scenario. The ratio is what the hostile-input limits cost on valid
bodies (docs/hostile-input.md).

    python benchmarks/json_body.py [--patients 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import rate, result
from click.testing import CliRunner

from s24kit.conformance.cli.generate import generate
from s24kit.simulator.safe_json import parse_body


def scenario_bodies(patients: int) -> list[bytes]:
    """Patient claims and the documents of each claim as one bundle, serialised as a party would send them."""
    out = Path(tempfile.mkdtemp(prefix="s24kit-bench-")) / "s"
    run = CliRunner().invoke(generate, ["--patients", str(patients), "--seed", "5", "--out", str(out), "--quiet"])
    if run.exit_code != 0:
        raise SystemExit(run.output)
    claims = [json.loads(line)["claim"] for line in (out / "claims.jsonl").read_text(encoding="utf-8").splitlines()]
    documents = [json.loads(line) for line in (out / "expected" / "documents.jsonl").read_text(encoding="utf-8")
                 .splitlines()]
    bundles = [{"profile": "kit-v1", "documents": documents[i:i + 4]} for i in range(0, len(documents), 4)]
    return [json.dumps(b, ensure_ascii=False).encode() for b in claims + bundles]


def plain(body: bytes) -> object:
    return json.loads(body.decode("utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=30)
    args = parser.parse_args()
    bodies = scenario_bodies(args.patients)
    for body in bodies:
        assert parse_body(body) == plain(body)
    baseline = value = 0.0
    for _ in range(5):  # alternate, keep the best of each: a busy machine slows both alike
        baseline = max(baseline, rate(plain, bodies, min_seconds=0.3))
        value = max(value, rate(parse_body, bodies, min_seconds=0.3))
    print(f"{len(bodies)} bodies, {sum(map(len, bodies)) / len(bodies):,.0f} bytes on average")
    print(f"json.loads: {baseline:,.0f} bodies/s; with the limits: {value:,.0f} bodies/s")
    result("json_body", value, "bodies/s", baseline, bodies=len(bodies))


if __name__ == "__main__":
    main()

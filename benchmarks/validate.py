"""Full kit-v1 validation (schema + every document rule) against bare jsonschema-rs ``is_valid``, same run.

Goals (issue 14 §6): for valid documents, full validation at least 10% of the rate of bare jsonschema-rs
``is_valid`` on the same documents with the same compiled schema (ratio ≥ 0.10); for invalid documents,
at least 20,000 documents per second *explained* (every finding with its rule, JSON Pointer and messages).
The sides run in alternating passes (``interleaved_rates``). Memory flat over ``--documents`` validations.
Each rate is also given per second of this process's CPU (the best of five passes): on a machine other work
shares, wall-clock rates fall with the load, CPU rates much less.

    python benchmarks/validate.py [--documents 100000] [--seconds 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import current_rss_mb, interleaved_rates, result

from s24kit.schemas import loader
from s24kit.schemas.loader import DOCUMENT_SCHEMAS
from s24kit.schemas.validation import validate_document

EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "kit-v1" / "examples"
MIX = {"medical-receipt.outpatient": 4, "itemised-statement": 4, "prescription": 3, "pharmacy-receipt": 3,
       "medical-receipt.inpatient": 1}
#: How the invalid documents are broken: a required field missing, a wrong type, a total that does not add up.
BREAKS = ("missing", "type", "sum")


def corpus() -> tuple[list[dict], list[dict]]:
    """Valid documents in a realistic mix (mostly outpatient), and the same documents broken three ways."""
    valid, invalid = [], []
    for name, weight in MIX.items():
        base = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
        for i in range(weight * 20):
            doc = copy.deepcopy(base)
            doc["visit_id"] = f"V-{i:06d}"
            valid.append(doc)
            broken = copy.deepcopy(doc)
            how = BREAKS[i % len(BREAKS)]
            if how == "missing":
                broken.pop("issue_date", None)
            elif how == "type":
                broken["visit_id"] = 42
            else:
                totals = broken.get("totals") or {}
                key = next((k for k, v in totals.items() if isinstance(v, int)), None)
                if key is None:
                    broken.pop("issue_date", None)
                else:
                    totals[key] += 1
            invalid.append(broken)
    return valid, invalid


def cpu_rate(func: Callable[[dict], object], docs: list[dict], passes: int = 5) -> float:
    """Documents per second of this process's CPU time, the best of ``passes`` passes over ``docs``."""
    best = float("inf")
    for _ in range(passes):
        started = time.process_time()
        for doc in docs:
            func(doc)
        best = min(best, time.process_time() - started)
    return len(docs) / best if best > 0 else float("inf")


def memory_over(count: int, docs: list[dict]) -> tuple[float, float]:
    """RSS after 10% and after all of ``count`` validations: flat memory means the two are close."""
    checkpoint = count // 10
    at_checkpoint = 0.0
    for i in range(count):
        validate_document(docs[i % len(docs)])
        if i == checkpoint:
            at_checkpoint = current_rss_mb()
    return at_checkpoint, current_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=100_000, help="documents for the memory run")
    parser.add_argument("--seconds", type=float, default=2.0, help="time of each side, in alternating passes")
    args = parser.parse_args()
    valid, invalid = corpus()
    assert all(validate_document(d) == [] for d in valid), "the valid corpus must be valid"
    assert all(any(f.severity == "error" for f in validate_document(d)) for d in invalid)

    def bare(doc: dict) -> bool:  # the compiled jsonschema-rs validator, as loader.is_valid holds it
        return loader.fast_validator(DOCUMENT_SCHEMAS[doc["document_type"]]).is_valid(doc)

    assert all(bare(d) for d in valid)
    rates = interleaved_rates({"bare": (bare, valid), "full": (validate_document, valid),
                               "explained": (validate_document, invalid)}, min_seconds=args.seconds)
    cpu = {"bare": cpu_rate(bare, valid), "full": cpu_rate(validate_document, valid),
           "explained": cpu_rate(validate_document, invalid)}
    findings = sum(len(validate_document(d)) for d in invalid)
    before, after = memory_over(args.documents, valid + invalid)
    ratio = rates["full"] / rates["bare"]
    print(f"documents: {len(valid)} valid, {len(invalid)} invalid ({findings} findings explained)")
    print(f"bare jsonschema-rs is_valid (valid documents): {rates['bare']:,.0f} docs/s")
    print(f"full validation, valid documents:     {rates['full']:,.0f} docs/s (ratio {ratio:.3f}, goal >= 0.10)")
    print(f"full validation, invalid (explained): {rates['explained']:,.0f} docs/s (goal >= 20,000)")
    print(f"per CPU second: bare {cpu['bare']:,.0f}, full {cpu['full']:,.0f} (ratio {cpu['full'] / cpu['bare']:.3f}), "
          f"explained invalid {cpu['explained']:,.0f} docs/s")
    print(f"RSS after {args.documents // 10:,} documents: {before:.1f} MB; after {args.documents:,}: {after:.1f} MB")
    result("validate", rates["full"], "valid documents/s (schema + rules)", rates["bare"],
           baseline_kind="bare jsonschema-rs is_valid", explained_invalid_per_s=round(rates["explained"], 1),
           ratio_goal=0.10, explained_goal=20_000, cpu_bare_per_s=round(cpu["bare"]),
           cpu_full_per_s=round(cpu["full"]), cpu_explained_invalid_per_s=round(cpu["explained"]),
           rss_mb_at_10pct=round(before, 1), rss_mb_at_end=round(after, 1))


if __name__ == "__main__":
    main()

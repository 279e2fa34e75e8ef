"""Full kit-v1 validation (schema + rules) vs plain jsonschema schema-only validation, same documents.

Goal (issue 2): at least 3x the plain jsonschema rate while also running the rules; memory flat over
100,000 documents.

    python benchmarks/validate.py [--documents 100000]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator

sys.path.insert(0, str(Path(__file__).parent))
from _common import current_rss_mb, rate, result

from s24kit.schemas import loader
from s24kit.schemas.validation import validate_document

EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "kit-v1" / "examples"
MIX = {"medical-receipt.outpatient": 4, "itemised-statement": 4, "prescription": 3, "pharmacy-receipt": 3,
       "medical-receipt.inpatient": 1}


def corpus() -> list[dict]:
    """A realistic mix: mostly outpatient visits, some inpatient; 1 in 20 documents is broken."""
    docs = []
    for name, weight in MIX.items():
        base = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
        for i in range(weight * 20):
            doc = copy.deepcopy(base)
            doc["visit_id"] = f"V-{i:06d}"
            if i % 20 == 19:
                doc.pop("issue_date")  # an invalid document exercises the detailed error path
            docs.append(doc)
    return docs


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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=100_000, help="documents for the memory run")
    args = parser.parse_args()
    docs = corpus()
    plain = Draft202012Validator(loader.schema("document"), registry=loader._py_registry())
    assert all(plain.is_valid(d) == (not any(f.rule == "schema" for f in validate_document(d))) for d in docs)

    validate_document(docs[0])  # compile once, outside the timing
    baseline = rate(plain.is_valid, docs)
    kit = rate(validate_document, docs)
    before, after = memory_over(args.documents, docs)
    print(f"documents in the mix: {len(docs)} ({sum(1 for d in docs if 'issue_date' not in d)} invalid)")
    print(f"plain jsonschema (schema only): {baseline:,.0f} docs/s")
    print(f"s24kit validate_document (schema + {len(__import__('s24kit.schemas.rules').schemas.rules.RULES)} "
          f"rules): {kit:,.0f} docs/s")
    print(f"RSS after {args.documents // 10:,} documents: {before:.1f} MB; after {args.documents:,}: {after:.1f} MB")
    result("validate", kit, "documents/s", baseline, rss_mb_at_10pct=round(before, 1), rss_mb_at_end=round(after, 1),
           documents=args.documents)


if __name__ == "__main__":
    main()

"""Read a scenario directory written by ``s24kit generate``: patients, visits and their documents."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


@dataclass
class Scenario:
    """What one provider's EMR holds: its patients' visits (EMR-sourced only) and their documents."""

    directory: Path
    provider_code: str
    patients: dict[str, dict[str, Any]] = field(default_factory=dict)  # identity_token → patient
    visits: dict[str, dict[str, Any]] = field(default_factory=dict)  # visit_id → index entry
    documents: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def load(cls, directory: Path, provider_code: str | None = None) -> Scenario:
        """The provider ``provider_code`` of the scenario (default: the one with the most visits)."""
        index = [v for v in _lines(directory / "expected" / "index.jsonl") if v["source"] == "emr"]
        if not index:
            raise ValueError(f"{directory}: no EMR visits in expected/index.jsonl")
        if provider_code is None:
            counts: dict[str, int] = defaultdict(int)
            for visit in index:
                counts[visit["provider_code"]] += 1
            provider_code = max(sorted(counts), key=counts.__getitem__)
        scenario = cls(directory, provider_code)
        scenario.visits = {v["visit_id"]: v for v in index if v["provider_code"] == provider_code}
        if not scenario.visits:
            raise ValueError(f"{directory}: provider {provider_code} has no visits in this scenario")
        holders = {v["patient_id"] for v in scenario.visits.values()}
        for patient in _lines(directory / "emr-seed" / "patients.jsonl"):
            if patient["patient_id"] in holders:
                scenario.patients[patient["identity_token"]] = patient
        for doc in _lines(directory / "expected" / "documents.jsonl"):
            if doc["visit_id"] in scenario.visits:
                scenario.documents[doc["visit_id"]].append(doc)
        return scenario

    def patient(self, query: dict[str, Any]) -> dict[str, Any] | None:
        """The patient matching identity token, name and birth date — all three, or nobody."""
        found = self.patients.get(query["identity_token"])
        if found and found["name"] == query["name"] and found["birth_date"] == query["birth_date"]:
            return found
        return None

    def visits_of(self, patient_id: str, start: str, end: str) -> list[dict[str, Any]]:
        return [v for v in self.visits.values()
                if v["patient_id"] == patient_id and v["start_date"] <= end and v["end_date"] >= start]

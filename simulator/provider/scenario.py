"""Read a scenario directory written by ``s24kit generate``: patients, visits and their documents."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..scenario_files import read_lines as _lines  # plain or gzip-compressed (s24kit generate --compress)


def _emr_index(directory: Path) -> list[dict[str, Any]]:
    index = [v for v in _lines(directory / "expected" / "index.jsonl") if v["source"] == "emr"]
    if not index:
        raise ValueError(f"{directory}: no EMR visits in expected/index.jsonl")
    return index


class UnknownProvider(ValueError):
    """The scenario holds no visit of the provider asked for; ``known`` are the codes it does hold."""

    def __init__(self, directory: Path, provider_code: str, known: list[str]) -> None:
        super().__init__(f"{directory}: provider {provider_code} has no visits in this scenario")
        self.provider_code, self.known = provider_code, known


@dataclass(eq=False)
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
        index = _emr_index(directory)
        if provider_code is None:
            counts: dict[str, int] = defaultdict(int)
            for visit in index:
                counts[visit["provider_code"]] += 1
            provider_code = max(sorted(counts), key=counts.__getitem__)
        found = cls._build(directory, index, {provider_code})
        if provider_code not in found:
            raise UnknownProvider(directory, provider_code, sorted({v["provider_code"] for v in index}))
        return found[provider_code]

    @classmethod
    def load_all(cls, directory: Path) -> dict[str, Scenario]:
        """Every provider of the scenario that holds EMR visits, read in one pass."""
        index = _emr_index(directory)
        return cls._build(directory, index, {v["provider_code"] for v in index})

    @classmethod
    def _build(cls, directory: Path, index: list[dict[str, Any]], codes: set[str]) -> dict[str, Scenario]:
        found = {code: cls(directory, code) for code in sorted(codes)}
        owner: dict[str, Scenario] = {}
        holders: dict[str, list[Scenario]] = defaultdict(list)
        for visit in index:
            if (scenario := found.get(visit["provider_code"])) is not None:
                scenario.visits[visit["visit_id"]] = visit
                owner[visit["visit_id"]] = scenario
                if scenario not in holders[visit["patient_id"]]:
                    holders[visit["patient_id"]].append(scenario)
        for patient in _lines(directory / "emr-seed" / "patients.jsonl"):
            for scenario in holders.get(patient["patient_id"], ()):
                scenario.patients[patient["identity_token"]] = patient
        for doc in _lines(directory / "expected" / "documents.jsonl"):
            if (scenario := owner.get(doc["visit_id"])) is not None:
                scenario.documents[doc["visit_id"]].append(doc)
        return {code: s for code, s in found.items() if s.visits}

    def patient(self, query: dict[str, Any]) -> dict[str, Any] | None:
        """The patient matching identity token, name and birth date — all three, or nobody."""
        found = self.patients.get(query["identity_token"])
        if found and found["name"] == query["name"] and found["birth_date"] == query["birth_date"]:
            return found
        return None

    def visits_of(self, patient_id: str, start: str, end: str) -> list[dict[str, Any]]:
        return [v for v in self.visits.values()
                if v["patient_id"] == patient_id and v["start_date"] <= end and v["end_date"] >= start]

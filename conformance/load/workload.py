"""What the load users send, drawn from a generated scenario and partitioned between Locust workers.

A worker owns the patients whose id hashes to its index (``crc32(patient_id) % workers``), so two workers
never send a claim for the same patient, and numbers its request ids ``ld-<run>-w<index>-<n>``, so two
workers never send the same request id. Nothing here imports Locust: the kit's own process (and its
tests) can build and inspect a worker's share without gevent patching anything.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...simulator.scenario_files import exists, read_lines

KST = dt.timezone(dt.timedelta(hours=9))
CONSENT_DAYS = 7


class WorkloadError(ValueError):
    """The scenario or the partition cannot give this worker anything to send; said in Korean and English."""

    def __init__(self, message_ko: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_ko, self.message_en = message_ko, message_en


@dataclass(frozen=True)
class Partition:
    """Worker ``index`` of ``count``: the patients and request ids that are this worker's alone."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise WorkloadError(f"작업자 번호 {self.index}이(가) 작업자 수 {self.count} 범위 밖입니다: "
                                f"모든 작업자에 같은 --workers 값을 주십시오",
                                f"worker index {self.index} is outside {self.count} workers: give every worker "
                                f"the same --workers")

    def owns(self, patient_id: str) -> bool:
        return zlib.crc32(patient_id.encode()) % self.count == self.index


@dataclass
class RequestIds:
    """Request ids no other worker (and no other run, by ``run``) can produce."""

    run: str
    partition: Partition
    _counter: Iterator[int] = field(default_factory=itertools.count, repr=False)

    def next(self) -> str:
        return f"ld-{self.run}-w{self.partition.index:03d}-{next(self._counter):08d}"


def check_scenario(scenario: Path) -> None:
    """Refuse a folder that is not a scenario of ``s24kit generate`` before anything reads it."""
    missing = [name for name in ("claims.jsonl", "expected/index.jsonl") if not exists(scenario / name)]
    if missing:
        raise WorkloadError(f"{scenario}은(는) s24kit generate 가 만든 시나리오가 아닙니다 ({', '.join(missing)} 없음)",
                            f"{scenario} is not a scenario written by s24kit generate (no {', '.join(missing)})")


def claim_providers(scenario: Path) -> set[str]:
    """The providers that have claims to send (claims whose documents come from the provider)."""
    return {r["claim"]["provider_code"] for r in read_lines(scenario / "claims.jsonl")
            if r["documents_from"] == "provider"}


def busiest_provider(scenario: Path) -> str:
    """The provider holding the most EMR visits: the one ``s24kit serve`` serves by default."""
    counts = Counter(v["provider_code"] for v in read_lines(scenario / "expected" / "index.jsonl")
                     if v["source"] == "emr")
    if not counts:
        raise WorkloadError(f"{scenario}: EMR 내원이 없는 시나리오입니다", f"{scenario}: the scenario has no EMR visit")
    return max(sorted(counts), key=counts.__getitem__)


@dataclass(frozen=True)
class Item:
    """One scenario claim (its patient claim body) with the visit dates a relay needs to search for it."""

    patient_id: str
    claim: dict[str, Any]
    period: tuple[str, str]


def read_tenants(path: Path) -> dict[str, list[str]]:
    """``tenants.jsonl`` of ``s24kit serve --tenants N``: each scenario provider → the clinic codes answering
    with its records (itself and its copies)."""
    clinics: dict[str, list[str]] = {}
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                tenant = json.loads(line)
                code, source = tenant["provider_code"], tenant.get("copy_of") or tenant["provider_code"]
            except (ValueError, KeyError, TypeError):
                raise WorkloadError(f"{path}:{number}: provider_code 가 있는 JSON 줄이 아닙니다 "
                                    f"(s24kit serve --tenants 가 쓴 tenants.jsonl 을 주십시오)",
                                    f"{path}:{number}: not a JSON line with a provider_code (give the "
                                    f"tenants.jsonl written by s24kit serve --tenants)") from None
            clinics.setdefault(str(source), []).append(str(code))
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkloadError(f"{path}: 읽을 수 없습니다 ({exc})", f"{path}: cannot be read ({exc})") from None
    if not clinics:
        raise WorkloadError(f"{path}: 요양기관이 없습니다", f"{path}: no clinic in it")
    return clinics


def spread(items: list[Item], clinics: dict[str, list[str]]) -> list[Item]:
    """Each claim once for every clinic answering with its provider's records, in an order where claims
    in a row go to different clinics (a run bounded by ``--claims`` still reaches many of them)."""
    rounds = max((len(codes) for codes in clinics.values()), default=0)
    copies = []
    for turn in range(rounds):
        for position, item in enumerate(items):
            codes = clinics.get(item.claim["provider_code"], ())
            if turn < len(codes):
                code = codes[(position + turn) % len(codes)]
                copies.append(dataclasses.replace(item, claim={**item.claim, "provider_code": code}))
    return copies


def share(scenario: Path, partition: Partition, providers: frozenset[str] | None,
          insurers: frozenset[str] | None = None, clinics: dict[str, list[str]] | None = None) -> list[Item]:
    """The scenario's claims through ``providers`` (None: any) of the patients ``partition`` owns, each
    addressed to the ``insurers`` (None: any) the target knows; a claim left with no insurer is not sent.
    With ``clinics`` (:func:`read_tenants`), each claim goes to every clinic copying its provider."""
    if not exists(scenario / "claims.jsonl"):
        raise WorkloadError(f"{scenario}은(는) s24kit generate 가 만든 시나리오가 아닙니다 (claims.jsonl 없음)",
                            f"{scenario} is not a scenario written by s24kit generate (no claims.jsonl)")
    dates = {v["visit_id"]: (v["start_date"], v["end_date"])
             for v in read_lines(scenario / "expected" / "index.jsonl") if partition.owns(v["patient_id"])}
    items = []
    for record in read_lines(scenario / "claims.jsonl"):
        claim = record["claim"]
        if record["documents_from"] != "provider" or not partition.owns(record["patient_id"]):
            continue
        if providers is not None and claim["provider_code"] not in providers:
            continue
        if insurers is not None:
            claim = {**claim, "insurers": [c for c in claim["insurers"] if c in insurers]}
            if not claim["insurers"]:
                continue
        spans = [dates[v] for v in claim.get("visit_ids") or () if v in dates]
        period = (min(s for s, _ in spans), max(e for _, e in spans)) if spans else \
            (claim["period"]["start"], claim["period"]["end"])
        items.append(Item(record["patient_id"], claim, period))
    if clinics is not None:
        items = spread(items, clinics)
    if not items:
        wanted = ", ".join(sorted(providers)) if providers else "any provider"
        raise WorkloadError(f"작업자 {partition.index}/{partition.count}에 보낼 청구가 없습니다 ({wanted}): "
                            f"환자가 더 많은 시나리오를 쓰거나 작업자 수를 줄이십시오",
                            f"worker {partition.index}/{partition.count} has no claim to send ({wanted}): use a "
                            f"scenario with more patients or fewer workers")
    return items


def consent(claim: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The claim's consent granted a minute before ``now``, valid for a week (providers check it)."""
    granted = now.astimezone(KST).replace(microsecond=0) - dt.timedelta(minutes=1)
    return {**claim["consent"], "granted_at": granted.isoformat(),
            "expires_at": (granted + dt.timedelta(days=CONSENT_DAYS)).isoformat()}


def patient_claim(item: Item, request_id: str, now: dt.datetime) -> dict[str, Any]:
    """The body a patient app posts to ``/relay/v1/claims``."""
    return {**item.claim, "request_id": request_id, "consent": consent(item.claim, now)}


def _patient(item: Item) -> dict[str, Any]:
    return {k: item.claim["insured"][k] for k in ("name", "birth_date", "identity_token")}


def visit_search(item: Item, request_id: str, now: dt.datetime) -> dict[str, Any]:
    """The relay's ``visits:search`` for the claim's patient over its visits' dates."""
    return {"request_id": request_id, "patient": _patient(item),
            "period": {"start": item.period[0], "end": item.period[1]}, "consent": consent(item.claim, now)}


def document_fetch(item: Item, request_id: str, visit_ids: list[str], now: dt.datetime) -> dict[str, Any]:
    """The relay's ``documents:fetch`` of ``visit_ids`` (the types the claim asks for, else all consented)."""
    kinds = item.claim.get("document_types") or item.claim["consent"]["scope"]
    return {"request_id": request_id, "patient": _patient(item), "visit_ids": visit_ids,
            "document_types": kinds, "consent": consent(item.claim, now)}


class Feed:
    """A worker's items handed out in turn; after the last one, again from the first with new request ids
    (``repeat``) or nothing. ``budget`` bounds how many are handed out in all (None: no bound)."""

    def __init__(self, items: list[Item], *, repeat: bool, budget: int | None) -> None:
        self.items, self.repeat, self.budget = items, repeat, budget
        self.given = 0

    def next(self) -> Item | None:
        if self.budget is not None and self.given >= self.budget:
            return None
        if self.given >= len(self.items) and not self.repeat:
            return None
        item = self.items[self.given % len(self.items)]
        self.given += 1
        return item


def worker_budget(total: int | None, partition: Partition) -> int | None:
    """This worker's part of a run-wide budget of ``total`` claims (the parts add up to ``total``)."""
    if total is None:
        return None
    return total // partition.count + (1 if partition.index < total % partition.count else 0)

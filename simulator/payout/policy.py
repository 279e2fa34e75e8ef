"""The policy an insurer adjudicates under: who, which rule table, which riders, from when.

Policy JSON (format ``s24kit-policy/1``; fixtures/rules/README.md and fixtures/rules/examples/):

    {"insurer_code": "INSA", "policy_number": "INSA-4-000123", "contract_date": "2022-03-01",
     "generation": "gen4", "variant": "standard",   # or "table": "gen4" (a file of fixtures/rules)
     "riders": ["non_covered"]}                       # omitted: every rider of the table

The generation follows the contract date: given only ``contract_date`` the table sold on that day is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from .dates import policy_year_start
from .errors import PayoutInputError
from .tables import Table, load_table, resolve_table, table_ids

POLICY_FORMAT = "s24kit-policy/1"
EXAMPLE = "fixtures/rules/examples/policy-gen4.json"
_INSURER = re.compile(r"^[A-Z][A-Z0-9_-]{1,15}$")
_KNOWN = {"format", "insurer_code", "policy_number", "contract_date", "generation", "variant", "table", "riders",
          "insured", "note"}


@dataclass(frozen=True, slots=True)
class Policy:
    """A policy: its rule table is compiled once and shared."""

    insurer_code: str
    policy_number: str
    contract_date: date
    table: Table
    riders: frozenset[str]

    @property
    def generation(self) -> str:
        return self.table.generation

    @property
    def variant(self) -> str:
        return self.table.variant

    def year_start(self, day: date) -> date:
        """Start of the policy year holding ``day`` (the contract anniversary, not 1 January)."""
        return policy_year_start(self.contract_date, day)

    def holds(self, rider: str | None) -> bool:
        return rider is None or rider in self.riders

    def as_json(self) -> dict[str, Any]:
        return {"format": POLICY_FORMAT, "insurer_code": self.insurer_code, "policy_number": self.policy_number,
                "contract_date": self.contract_date.isoformat(), "table": self.table.id,
                "generation": self.generation, "variant": self.variant, "riders": sorted(self.riders)}


def _fail(field: str, ko: str, en: str, fix_ko: str, fix_en: str) -> PayoutInputError:
    return PayoutInputError(f"policy.{field}", ko, en, fix_ko, fix_en)


def policy_from_json(raw: Any) -> Policy:
    """Check and build a :class:`Policy` from its JSON form; errors name the field and the fix."""
    if isinstance(raw, Policy):
        return raw
    if not isinstance(raw, Mapping):
        raise _fail("", "계약은 JSON 객체여야 합니다", "a policy must be a JSON object",
                    f"{EXAMPLE}을 참고하십시오", f"see {EXAMPLE}")
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise _fail(unknown[0], f"알 수 없는 항목 {', '.join(unknown)}", f"unknown field(s) {', '.join(unknown)}",
                    f"허용 항목: {', '.join(sorted(_KNOWN))}", f"allowed fields: {', '.join(sorted(_KNOWN))}")
    if "format" in raw and raw["format"] != POLICY_FORMAT:
        raise _fail("format", f"format은 {POLICY_FORMAT!r}", f"format must be {POLICY_FORMAT!r}",
                    "format을 지우거나 고치십시오", "fix or drop 'format'")
    insurer = raw.get("insurer_code", "INSA")
    if not isinstance(insurer, str) or not _INSURER.match(insurer):
        raise _fail("insurer_code", f"보험회사 코드 형식 오류 {insurer!r}", f"bad insurer code {insurer!r}",
                    "대문자로 시작하는 2~16자 (예: INSA)", "2-16 characters starting with a capital letter (e.g. INSA)")
    number = raw.get("policy_number")
    if not isinstance(number, str) or not number:
        raise _fail("policy_number", "증권번호가 없습니다", "policy_number is missing",
                    "예: \"INSA-4-000123\"", "e.g. \"INSA-4-000123\"")
    text = raw.get("contract_date")
    try:
        contract = date.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        contract = None
    if contract is None:
        raise _fail("contract_date", f"계약일이 없거나 형식이 틀립니다: {text!r}",
                    f"contract_date missing or not a date: {text!r}",
                    "YYYY-MM-DD로 쓰십시오 (세대는 계약일로 정해집니다)",
                    "write YYYY-MM-DD (the generation follows it)")
    table_id = raw.get("table")
    generation, variant = raw.get("generation"), raw.get("variant")
    for name, value in (("table", table_id), ("generation", generation), ("variant", variant)):
        if value is not None and not isinstance(value, str):
            raise _fail(name, f"문자열이어야 합니다: {value!r}", f"must be a string: {value!r}",
                        "예: \"gen4\"", "e.g. \"gen4\"")
    if table_id is not None:
        if table_id not in table_ids():
            raise _fail("table", f"알 수 없는 규칙표 {table_id!r}", f"unknown rule table {table_id!r}",
                        f"다음 중 하나: {', '.join(table_ids())}", f"use one of {', '.join(table_ids())}")
        table = load_table(table_id)
        if generation is not None and generation != table.generation:
            raise _fail("generation", f"{generation!r}는 규칙표 {table_id}의 세대 {table.generation}와 다릅니다",
                        f"{generation!r} differs from table {table_id}'s generation {table.generation}",
                        "generation을 지우거나 맞추십시오", "drop 'generation' or make it match")
    else:
        try:
            table = resolve_table(generation, variant, contract)
        except PayoutInputError as exc:
            raise _fail(exc.field, exc.message_ko, exc.message_en, exc.fix_ko, exc.fix_en) from None
    if not table.sold_on(contract):
        raise _fail("contract_date", f"계약일 {contract}은 {table.label_ko} 판매기간 밖입니다",
                    f"contract date {contract} is outside the sale period of {table.label_en}",
                    f"판매기간 {table.sold_from or '~'}~{table.sold_to or ''} 안의 날짜를 쓰십시오",
                    f"use a date within {table.sold_from or '...'}..{table.sold_to or '...'}")
    riders_raw = raw.get("riders")
    if riders_raw is None:
        riders = frozenset(table.riders)
    elif isinstance(riders_raw, list) and all(isinstance(r, str) for r in riders_raw):
        riders = frozenset(riders_raw)
        unknown_riders = sorted(riders - set(table.riders))
        if unknown_riders:
            known = ", ".join(table.riders) or "(없음/none)"
            raise _fail("riders", f"{table.id}에 없는 특약 {', '.join(unknown_riders)}",
                        f"rider(s) {', '.join(unknown_riders)} do not exist in {table.id}",
                        f"가능한 특약: {known}", f"riders of this table: {known}")
    else:
        raise _fail("riders", "특약은 문자열 목록이어야 합니다", "riders must be a list of strings",
                    f"예: {list(table.riders)}", f"e.g. {list(table.riders)}")
    return Policy(insurer, number, contract, table, riders)

"""Checks for the shipped code lists in fixtures/codes/ (no network, package not installed)."""

from __future__ import annotations

import functools
import itertools
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

CODES_DIR = Path(__file__).parents[1] / "fixtures" / "codes"

MIN_COUNTS = {
    "facility-types": 15,
    "departments": 55,
    "patient-categories": 7,
    "kcd": 220,
    "receipt-rows": 29,
    "pharmacy-fees": 10,
    "drugs": 70,
    "procedures": 80,
}
FILES = tuple(MIN_COUNTS)

TOP_REQUIRED = {"name", "title_ko", "title_en", "source", "license", "code_format", "codes"}
TOP_OPTIONAL = {"notes"}

ENTRY_FIELDS = {
    "facility-types": {"ko", "en", "tier", "code_digit"},
    "departments": {"ko", "en"},
    "patient-categories": {"ko", "en", "nhi_applied"},
    "kcd": {"ko", "en", "chapter", "severe", "msk", "mild_graded"},
    "receipt-rows": {"ko", "en", "inpatient_only", "order", "group"},
    "pharmacy-fees": {"ko", "en", "kind", "days_from", "days_to", "fee"},
    "drugs": {"ko", "en", "ingredient", "route", "unit", "unit_price", "covered", "atc", "generic_code"},
    "procedures": {"ko", "en", "chapter", "receipt_row", "covered", "big_three", "unit_price", "settings"},
}

HANGUL = re.compile(r"[\uac00-\ud7a3]")
BIG_THREE = {"manual_therapy", "eswt", "prolotherapy", "injection", "mri"}
HIRA_CHAPTERS = {f"{n:02d}" for n in (*range(11), 15, 16, 17, 18, 19, 20)}


class DuplicateKeyError(ValueError):
    pass


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKeyError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def loads_strict(text: str) -> Any:
    """json.loads that raises on duplicate object keys instead of keeping the last one."""
    return json.loads(text, object_pairs_hook=_reject_duplicates)


def _path(name: str) -> Path:
    return CODES_DIR / f"{name}.json"


@functools.cache
def _load(name: str) -> dict[str, Any]:
    return loads_strict(_path(name).read_text(encoding="utf-8"))


def codes(name: str) -> dict[str, dict[str, Any]]:
    return _load(name)["codes"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_nonneg_int(value: Any) -> bool:
    return _is_int(value) and value >= 0


# ------------------------------------------------------------------ the strict loader itself


def test_strict_loader_rejects_duplicate_keys() -> None:
    with pytest.raises(DuplicateKeyError, match="'A00'"):
        loads_strict('{"codes": {"A00": {"ko": "가"}, "A00": {"ko": "나"}}}')
    # plain json keeps the last value silently, which is why the hook is needed
    assert json.loads('{"a": 1, "a": 2}') == {"a": 2}


def test_strict_loader_accepts_same_key_in_different_objects() -> None:
    assert loads_strict('{"a": {"ko": 1}, "b": {"ko": 2}}') == {"a": {"ko": 1}, "b": {"ko": 2}}


def test_every_json_file_is_covered() -> None:
    assert {p.stem for p in CODES_DIR.glob("*.json")} == set(FILES)


# ------------------------------------------------------------------ every file


@pytest.mark.parametrize("name", FILES)
def test_top_level_shape(name: str) -> None:
    doc = _load(name)
    keys = set(doc)
    assert keys >= TOP_REQUIRED, f"missing: {sorted(TOP_REQUIRED - keys)}"
    assert keys <= TOP_REQUIRED | TOP_OPTIONAL, f"unexpected: {sorted(keys - TOP_REQUIRED - TOP_OPTIONAL)}"
    assert doc["name"] == name
    for key in keys - {"codes"}:
        assert isinstance(doc[key], str) and doc[key].strip(), f"{key} must be a non-empty string"
    re.compile(doc["code_format"])
    assert doc["code_format"].startswith("^") and doc["code_format"].endswith("$")
    assert isinstance(doc["codes"], dict)
    assert len(doc["codes"]) >= MIN_COUNTS[name]


@pytest.mark.parametrize("name", FILES)
def test_file_is_canonical(name: str) -> None:
    """UTF-8, NFC, 2-space indent, non-ASCII kept, codes in sorted order, trailing newline."""
    text = _path(name).read_text(encoding="utf-8")
    assert unicodedata.is_normalized("NFC", text)
    assert list(codes(name)) == sorted(codes(name)), "codes are not in sorted order"
    assert text == json.dumps(_load(name), ensure_ascii=False, indent=2) + "\n"


@pytest.mark.parametrize("name", FILES)
def test_codes_match_format(name: str) -> None:
    pattern = re.compile(_load(name)["code_format"])
    bad = [code for code in codes(name) if not pattern.fullmatch(code)]
    assert not bad, f"codes not matching {pattern.pattern}: {bad}"


@pytest.mark.parametrize("name", FILES)
def test_entry_fields(name: str) -> None:
    wrong = {
        code: sorted(set(entry) ^ ENTRY_FIELDS[name])
        for code, entry in codes(name).items()
        if set(entry) != ENTRY_FIELDS[name]
    }
    assert not wrong, f"entries with missing or extra fields: {wrong}"


@pytest.mark.parametrize("name", FILES)
def test_labels(name: str) -> None:
    for code, entry in codes(name).items():
        for field in ("ko", "en"):
            label = entry[field]
            assert isinstance(label, str) and label.strip() == label and label, f"{code}.{field}: {label!r}"
            assert unicodedata.is_normalized("NFC", label), f"{code}.{field} is not NFC"
        assert HANGUL.search(entry["ko"]), f"{code}.ko has no Korean text: {entry['ko']!r}"
        assert not HANGUL.search(entry["en"]), f"{code}.en contains Korean text: {entry['en']!r}"


# ------------------------------------------------------------------ file-specific


def test_facility_types() -> None:
    tiers = {"tertiary", "general", "hospital", "clinic", "public_health", "pharmacy"}
    entries = codes("facility-types")
    assert set(entries) == {"01", "11", "21", "28", "29", "31", "41", "51", "71", "72", "73", "75", "81", "92", "93"}
    assert {code: e["tier"] for code, e in entries.items() if e["tier"] not in tiers} == {}
    expected = {
        "01": "tertiary",
        "11": "general",
        "21": "hospital",
        "28": "hospital",
        "31": "clinic",
        "51": "clinic",
        "71": "public_health",
        "81": "pharmacy",
        "92": "hospital",
        "93": "clinic",
    }
    assert {code: entries[code]["tier"] for code in expected} == expected


def test_departments() -> None:
    entries = codes("departments")
    assert {"00", "01", "05", "21", "26", "49", "50", "61", "80", "87"} <= set(entries)
    assert entries["01"]["ko"] == "내과" and entries["49"]["ko"] == "치과"


def test_patient_categories() -> None:
    entries = codes("patient-categories")
    assert set(entries) == {"nhi", "medical_aid_1", "medical_aid_2", "veterans", "auto", "industrial", "general"}
    assert all(isinstance(e["nhi_applied"], bool) for e in entries.values())
    assert {code for code, e in entries.items() if not e["nhi_applied"]} == {"auto", "industrial", "general"}


def test_kcd() -> None:
    doc = _load("kcd")
    assert doc.get("notes"), "kcd.json must explain that the flags are the kit's approximation"
    entries = doc["codes"]
    for code, e in entries.items():
        assert e["chapter"] == code[0], code
        assert isinstance(e["severe"], bool) and isinstance(e["msk"], bool), code
        if code[0] == "C" or code[:2] == "D0":
            assert e["severe"], f"{code}: malignant neoplasms and in-situ carcinomas are severe"
        if code[0] == "M":
            assert e["msk"], f"{code}: every M-chapter code is musculoskeletal"
        if code[0] not in "MS":
            assert not e["msk"], f"{code}: msk is only for the M chapter and injuries"
    assert sum(e["severe"] for e in entries.values()) >= 25
    assert sum(e["msk"] for e in entries.values()) >= 40
    for code in ("M54.5", "M51.1", "M75.1", "M17.9", "S93.4", "K02.9", "K05.3", "I10", "E11.9", "J00"):
        assert code in entries, f"common code {code} missing"


def test_receipt_rows() -> None:
    entries = codes("receipt-rows")
    assert set(entries) == {
        "ENAMT",
        "INAMT_BDM1",
        "INAMT_BDM2",
        "INAMT_BDM4",
        "FOEP",
        "CPMD_ACTAMT",
        "CPMD_MDAMT",
        "IJCT_ACTAMT",
        "IJCT_MDAMT",
        "NCAMT",
        "DPAMT",
        "EXAMT",
        "IMG_DIAMT",
        "RADT_TRRT",
        "TMCAT",
        "PTR",
        "PYAMT",
        "BCF",
        "CT_DIAMT",
        "MRI_DIAMT",
        "PET_DIAMT",
        "ULTRS_DIAMT",
        "CRFE",
        "YPAY_XPNS",
        "A65G",
        "FAMT_MDFEE",
        "FAMT_PLCR_MDFEE",
        "ICSN_MDFEE",
        "ETC_AMT",
    }
    assert all(isinstance(e["inpatient_only"], bool) for e in entries.values())
    assert {c for c, e in entries.items() if e["inpatient_only"]} == {"INAMT_BDM1", "INAMT_BDM2", "INAMT_BDM4", "FOEP"}
    orders = [e["order"] for e in entries.values()]
    assert all(_is_int(o) for o in orders)
    assert sorted(orders) == list(range(1, len(entries) + 1)), "order must be 1..N without gaps or repeats"
    assert {e["group"] for e in entries.values()} <= {"기본항목", "선택항목"}
    assert entries["ENAMT"]["order"] == 1 and entries["ENAMT"]["ko"] == "진찰료"


def test_pharmacy_fees() -> None:
    entries = codes("pharmacy-fees")
    kinds = {"management", "basic", "guidance", "dispensing", "drug_management"}
    assert {e["kind"] for e in entries.values()} == kinds, "every kind must be present, and no other"
    assert {"Z1000", "Z2000", "Z3000", "Z5000"} <= set(entries)
    for code, e in entries.items():
        assert _is_nonneg_int(e["fee"]), f"{code}: fee must be a non-negative integer"
        if e["kind"] != "dispensing":
            assert e["days_from"] is None and e["days_to"] is None, code
    ladder = sorted((e for e in entries.values() if e["kind"] == "dispensing"), key=lambda e: e["days_from"])
    assert len(ladder) >= 10
    assert ladder[0]["days_from"] == 1
    for prev, nxt in itertools.pairwise(ladder):
        assert _is_int(prev["days_to"]) and prev["days_from"] <= prev["days_to"]
        assert nxt["days_from"] == prev["days_to"] + 1, "the day ladder must have no gaps or overlaps"
        assert nxt["fee"] >= prev["fee"], "fees must not fall as days rise"
    assert ladder[-1]["days_to"] is None, "the last band is open-ended"


def test_drugs() -> None:
    entries = codes("drugs")
    units = {"정", "캡슐", "mL", "g", "포", "병", "관", "앰플", "바이알", "백", "통", "매", "펜", "주사기"}
    atc = re.compile(r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$")
    for code, e in entries.items():
        assert code.startswith("99"), f"{code}: drug codes must use the reserved synthetic prefix 99"
        assert e["route"] in {"oral", "external", "injection"}, code
        assert e["unit"] in units, f"{code}: unit {e['unit']!r}"
        assert _is_nonneg_int(e["unit_price"]), f"{code}: unit_price must be a non-negative integer"
        assert isinstance(e["covered"], bool), code
        assert atc.fullmatch(e["atc"]), f"{code}: ATC {e['atc']!r}"
        assert isinstance(e["ingredient"], str) and e["ingredient"].strip(), code
    assert {e["route"] for e in entries.values()} == {"oral", "external", "injection"}
    assert any(not e["covered"] and e["route"] == "injection" for e in entries.values()), (
        "at least one non-covered injection is needed"
    )
    assert "99" in _load("drugs")["notes"]


def test_procedures() -> None:
    entries = codes("procedures")
    rows = codes("receipt-rows")
    for code, e in entries.items():
        assert e["chapter"] in HIRA_CHAPTERS, f"{code}: chapter {e['chapter']!r}"
        assert e["receipt_row"] in rows, f"{code}: unknown receipt row {e['receipt_row']!r}"
        assert isinstance(e["covered"], bool), code
        assert _is_nonneg_int(e["unit_price"]), f"{code}: unit_price must be a non-negative integer"
        settings = e["settings"]
        assert isinstance(settings, list) and settings, code
        assert len(settings) == len(set(settings)) and set(settings) <= {"outpatient", "inpatient"}, code
        if rows[e["receipt_row"]]["inpatient_only"]:
            assert settings == ["inpatient"], f"{code}: {e['receipt_row']} is an inpatient-only row"
        if e["big_three"] is not None:
            assert e["big_three"] in BIG_THREE, f"{code}: big_three {e['big_three']!r}"
            assert not e["covered"], f"{code}: big_three is only for non-covered items"
        if e["big_three"] == "mri":
            assert e["receipt_row"] == "MRI_DIAMT", code
        if code.startswith("NC"):
            assert not e["covered"] and e["chapter"] == "00", f"{code}: NC codes are non-covered, chapter 00"
        if e["chapter"] == "00":
            assert code.startswith("NC"), f"{code}: chapter 00 items must use the kit's NC codes"
    kinds = [e["big_three"] for e in entries.values() if e["big_three"]]
    for kind in BIG_THREE:
        assert kinds.count(kind) >= 2, f"big_three {kind!r} needs at least two items"
    used_rows = {e["receipt_row"] for e in entries.values()}
    assert {
        "ENAMT",
        "INAMT_BDM1",
        "INAMT_BDM2",
        "INAMT_BDM4",
        "FOEP",
        "EXAMT",
        "IMG_DIAMT",
        "CT_DIAMT",
        "MRI_DIAMT",
        "ULTRS_DIAMT",
        "PTR",
        "IJCT_ACTAMT",
        "DPAMT",
        "NCAMT",
    } <= used_rows
    assert {"AA154", "AA254", "AA155", "AA255", "AA156", "AA256", "AA157", "AA257"} <= set(entries)
    assert any(e["chapter"] == "03" and e["receipt_row"] == "MRI_DIAMT" and e["covered"] for e in entries.values()), (
        "a covered MRI is needed"
    )

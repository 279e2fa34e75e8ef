"""Synthetic people, addresses and providers (s24kit.simulator.people) and their data tables."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from s24kit.fixtures import fixture_path
from s24kit.schemas.identifiers import (
    DRUG_CODE,
    FULL_RRN,
    KCD_CODE,
    MASKED_RRN,
    is_valid_business_number,
)
from s24kit.simulator.people import (
    DEFAULT_TODAY,
    PROVIDER_CODE_GROUPS,
    register,
    resident_gender_digit,
)

SEED = 20_241_025
DRAWS = 20_000
MOBILE = re.compile(r"^010-0[0-9]{3}-[0-9]{4}$")
LANDLINE = re.compile(r"^(0[0-9]{1,2})-0[0-9]{2}-[0-9]{4}$")
THIRTEEN_DIGITS = re.compile(r"(?<![0-9])[0-9]{13}(?![0-9])")
SIDO_CODES = {"11", "26", "27", "28", "29", "30", "31", "36", "41", "43", "44", "46", "47", "48", "50", "51", "52"}
SEOUL_GU = {
    "종로구", "중구", "용산구", "성동구", "광진구", "동대문구", "중랑구", "성북구", "강북구", "도봉구",
    "노원구", "은평구", "서대문구", "마포구", "양천구", "강서구", "구로구", "금천구", "영등포구", "동작구",
    "관악구", "서초구", "강남구", "송파구", "강동구",
}  # fmt: skip


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicates = sorted(k for k, n in Counter(keys).items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate keys: {duplicates}")
    return dict(pairs)


def _raw(name: str) -> str:
    return fixture_path("people", name).read_text(encoding="utf-8")


def _table(name: str) -> dict[str, Any]:
    return json.loads(_raw(name), object_pairs_hook=_no_duplicate_keys)


def _fake(seed: int = SEED) -> Faker:
    fake = Faker("ko_KR")
    register(fake)
    fake.seed_instance(seed)
    return fake


@pytest.fixture(scope="module")
def patients() -> list[dict[str, Any]]:
    fake = _fake()
    return [fake.kr_patient() for _ in range(DRAWS)]


def _age(birth: date, today: date = DEFAULT_TODAY) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


# --- data tables --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["surnames.json", "given-names.json", "addresses.json", "given-name-lengths.json",
                                  "foreign-residents.json"])
def test_table_loads_with_metadata_and_is_nfc(name: str) -> None:
    raw = _raw(name)
    table = _table(name)
    assert raw == unicodedata.normalize("NFC", raw)
    for key in ("name", "source", "notes"):
        assert isinstance(table[key], str) and table[key].strip(), key
    assert table["data"]


def test_duplicate_key_hook_rejects_duplicates() -> None:
    with pytest.raises(ValueError, match="duplicate keys"):
        json.loads('{"a": 1, "a": 2}', object_pairs_hook=_no_duplicate_keys)


def test_surnames_top_100_sorted_and_unique() -> None:
    table = _table("surnames.json")
    rows = table["data"]
    names = [s for s, _ in rows]
    counts = [n for _, n in rows]
    assert len(rows) >= 100
    assert len(set(names)) == len(names)
    assert counts == sorted(counts, reverse=True)
    assert all(isinstance(n, int) and n > 0 for n in counts)
    assert all(re.fullmatch(r"[가-힣]{1,2}", s) for s in names)
    assert names[:3] == ["김", "이", "박"]
    published = {"김": 10_689_959, "이": 7_306_828, "박": 4_192_074, "최": 2_333_927}
    assert {s: n for s, n in rows if s in published} == published
    assert table["hanja"]["정"]["鄭"] == 2_151_879
    assert sum(counts) <= table["census_total"]


def test_surname_hanja_breakdown_sums_to_rows() -> None:
    table = _table("surnames.json")
    rows = dict(table["data"])
    for surname, parts in table["hanja"].items():
        assert sum(parts.values()) == rows[surname], surname


def test_given_names_cover_eight_cohorts_per_sex() -> None:
    table = _table("given-names.json")
    assert len(table["cohorts"]) == 8
    for sex in ("M", "F"):
        cohorts = table["data"][sex]
        assert sorted(int(c) for c in cohorts) == table["cohorts"]
        for cohort, rows in cohorts.items():
            names = [n for n, _ in rows]
            weights = [w for _, w in rows]
            assert len(names) >= 25, (sex, cohort)
            assert len(set(names)) == len(names), (sex, cohort)
            assert all(re.fullmatch(r"[가-힣]{2,3}", n) for n in names), (sex, cohort)
            assert all(w > 0 for w in weights) and weights == sorted(weights, reverse=True)


def test_addresses_cover_all_sido_with_coherent_entries() -> None:
    sidos = _table("addresses.json")["data"]
    assert {s["code"] for s in sidos} == SIDO_CODES
    assert len({s["sido"] for s in sidos}) == len(sidos)
    assert 50_000_000 < sum(s["population"] for s in sidos) < 53_000_000
    for sido in sidos:
        assert sido["population"] > 0
        assert re.fullmatch(r"0[2-6][0-9]?", sido["area_code"]), sido["sido"]
        low, high = sido["postcode_range"]
        areas = sido["sigungu"]
        assert len(areas) >= 4, sido["sido"]
        assert len({(a["sigungu"], a.get("town", "")) for a in areas}) == len(areas)
        for area in areas:
            where = (sido["sido"], area["sigungu"], area.get("town"))
            assert len(area["roads"]) >= 3 and len(set(area["roads"])) == len(area["roads"]), where
            assert all(re.fullmatch(r"[가-힣0-9·]+(로|길)", r) for r in area["roads"]), where
            assert area["postcode_prefixes"], where
            for prefix in area["postcode_prefixes"]:
                assert re.fullmatch(r"[0-9]{3}", prefix) and low <= prefix[:2] <= high, (where, prefix)
            assert area["sigungu"] or area.get("town"), where
            assert area.get("town_kind", "") in ("", "읍면", "동"), where


def test_seoul_lists_all_25_gu() -> None:
    seoul = next(s for s in _table("addresses.json")["data"] if s["code"] == "11")
    assert {a["sigungu"] for a in seoul["sigungu"]} == SEOUL_GU


# --- distributions ------------------------------------------------------------------------------


def test_top_10_surname_shares_match_census() -> None:
    rows = _table("surnames.json")["data"]
    total = sum(n for _, n in rows)
    fake = _fake()
    drawn = Counter(fake.kr_surname() for _ in range(DRAWS))
    for surname, count in rows[:10]:
        expected, observed = count / total, drawn[surname] / DRAWS
        assert abs(observed - expected) <= 0.015, (surname, observed, expected)


def test_sido_shares_follow_population() -> None:
    sidos = _table("addresses.json")["data"]
    total = sum(s["population"] for s in sidos)
    fake = _fake()
    drawn = Counter(fake.kr_address()["sido_code"] for _ in range(DRAWS))
    for sido in sidos:
        assert abs(drawn[sido["code"]] / DRAWS - sido["population"] / total) <= 0.015, sido["sido"]


def test_sex_ratio_is_balanced(patients: list[dict[str, Any]]) -> None:
    males = sum(p["sex"] == "M" for p in patients) / len(patients)
    assert {p["sex"] for p in patients} == {"M", "F"}
    assert 0.45 <= males <= 0.55


def test_age_bands_are_sane(patients: list[dict[str, Any]]) -> None:
    ages = [_age(date.fromisoformat(p["birth_date"])) for p in patients]
    share = lambda lo, hi: sum(lo <= a <= hi for a in ages) / len(ages)  # noqa: E731
    assert min(ages) >= 0 and max(ages) <= 95
    assert 0.10 <= share(0, 19) <= 0.25
    assert 0.55 <= share(20, 64) <= 0.75
    assert 0.12 <= share(65, 95) <= 0.30
    assert 38 <= sum(ages) / len(ages) <= 50


def test_given_names_follow_sex_and_cohort() -> None:
    table = _table("given-names.json")["data"]
    fake = _fake()
    for sex, year, cohort in (("M", 2015, "2010"), ("F", 1947, "1940"), ("F", 1930, "1940"), ("M", 2024, "2010")):
        allowed = {n for n, _ in table[sex][cohort]}
        assert {fake.kr_given_name(sex, year) for _ in range(300)} <= allowed


def test_patient_names_use_their_birth_cohort(patients: list[dict[str, Any]]) -> None:
    """A citizen's given name is a name of the birth decade, or two syllables of the decade's names (first
    syllable of one, second of another), or one of the listed one- or three-syllable names of the sex."""
    table = _table("given-names.json")["data"]
    lengths = _table("given-name-lengths.json")["data"]
    surnames = {s for s, _ in _table("surnames.json")["data"]}
    for p in patients[:2000]:
        decade = min(max(int(p["birth_date"][:4]) // 10 * 10, 1940), 2010)
        names = {n for n, _ in table[p["sex"]][str(decade)]}
        allowed = (names | {a[0] + b[1] for a in names for b in names}
                   | set(lengths["one_syllable"][p["sex"]]) | set(lengths["three_syllables"][p["sex"]]))
        assert any(p["name"][:k] in surnames and p["name"][k:] in allowed for k in (1, 2)), p


def test_given_name_lengths_and_variety(patients: list[dict[str, Any]]) -> None:
    surnames = {s for s, _ in _table("surnames.json")["data"] if len(s) > 1}
    given = [p["name"][2:] if p["name"][:2] in surnames else p["name"][1:] for p in patients]
    two = sum(1 for g in given if len(g) == 2) / len(given)
    assert 0.91 <= two <= 0.95  # 93.5% drawn; docs/domain.md §6 targets 85–97%
    assert sum(1 for g in given if len(g) == 1) / len(given) >= 0.03
    assert sum(1 for g in given if len(g) == 3) / len(given) >= 0.015
    listed = {n for sex in _table("given-names.json")["data"].values() for rows in sex.values() for n, _ in rows}
    assert len(set(given)) > 3 * len(listed)  # composed names: many more than the popular-name tables hold


def test_foreign_residents_have_a_foreigner_number_and_a_registered_name() -> None:
    fake = _fake()
    foreigners = [fake.kr_patient(min_age=19, max_age=69, foreigner=True) for _ in range(400)]
    for p in foreigners:
        _check_masked(p["resident_number_masked"], date.fromisoformat(p["birth_date"]), p["sex"], foreigner=True)
        assert p["resident_number_masked"][7] in "5678"
    romanised = [p["name"] for p in foreigners if re.fullmatch(r"[A-Z]+( [A-Z]+)+", p["name"])]
    korean = [p["name"] for p in foreigners if re.fullmatch(r"[가-힣]{2,5}", p["name"])]
    assert len(romanised) + len(korean) == len(foreigners)
    assert 0.15 <= len(korean) / len(foreigners) <= 0.45  # 한국계 중국인: 24 of 82 weight


# --- resident numbers and dates -----------------------------------------------------------------


def _check_masked(rrn: str, birth: date, sex: str, foreigner: bool = False) -> None:
    assert MASKED_RRN.fullmatch(rrn), rrn
    assert rrn[:6] == birth.strftime("%y%m%d")
    digit = int(rrn[7])
    assert digit % 2 == (1 if sex == "M" else 0)
    assert (digit in (1, 2, 5, 6)) == (birth.year < 2000)
    assert (digit >= 5) == foreigner


def test_masked_rrn_matches_birth_date_and_sex(patients: list[dict[str, Any]]) -> None:
    for p in patients:
        _check_masked(p["resident_number_masked"], date.fromisoformat(p["birth_date"]), p["sex"])


def test_no_full_resident_number_anywhere(patients: list[dict[str, Any]]) -> None:
    fake = _fake()
    providers = [fake.kr_provider(t) for t in PROVIDER_CODE_GROUPS for _ in range(20)]
    text = json.dumps([patients[:5000], providers], ensure_ascii=False)
    assert FULL_RRN.search(text) is None
    assert THIRTEEN_DIGITS.search(text) is None
    leak = "900101" + "-1" + "0" * 6  # built at run time: the detectors must catch this shape
    assert FULL_RRN.search(text + leak) and THIRTEEN_DIGITS.search(text + leak.replace("-", ""))


def test_every_birth_date_is_a_real_date(patients: list[dict[str, Any]]) -> None:
    for p in patients:
        assert date.fromisoformat(p["birth_date"]).isoformat() == p["birth_date"]


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63))
def test_any_seed_gives_well_formed_patient(seed: int) -> None:
    p = _fake(seed).kr_patient()
    _check_masked(p["resident_number_masked"], date.fromisoformat(p["birth_date"]), p["sex"])
    assert MOBILE.fullmatch(p["phone"])
    assert re.fullmatch(r"[0-9]{8}", p["patient_number"])


@settings(max_examples=300, deadline=None)
@given(
    birth=st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    sex=st.sampled_from(["M", "F"]),
    foreigner=st.booleans(),
)
def test_masked_rrn_for_any_birth_date(birth: date, sex: str, foreigner: bool) -> None:
    _check_masked(_fake().kr_masked_resident_number(birth, sex, foreigner), birth, sex, foreigner)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    today=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    ages=st.tuples(st.integers(0, 110), st.integers(0, 110)).map(sorted),
)
def test_birth_date_is_within_the_age_range(seed: int, today: date, ages: list[int]) -> None:
    birth = _fake(seed).kr_birth_date(ages[0], ages[1], today)
    assert ages[0] <= _age(birth, today) <= ages[1]


def test_birth_date_on_29_february() -> None:
    fake = _fake()
    today = date(2028, 2, 29)
    births = [fake.kr_birth_date(3, 3, today) for _ in range(2000)]
    assert all(_age(b, today) == 3 for b in births)
    assert min(births) == date(2024, 3, 1) and max(births) == date(2025, 2, 28)


def test_gender_digit_rules() -> None:
    assert [resident_gender_digit(1985, s) for s in "MF"] == [1, 2]
    assert [resident_gender_digit(2005, s) for s in "MF"] == [3, 4]
    assert [resident_gender_digit(1985, s, foreigner=True) for s in "MF"] == [5, 6]
    assert [resident_gender_digit(2005, s, foreigner=True) for s in "MF"] == [7, 8]
    with pytest.raises(ValueError, match="1900"):
        resident_gender_digit(1899, "M")
    with pytest.raises(ValueError, match="sex"):
        resident_gender_digit(1985, "X")


# --- addresses, phones, providers ---------------------------------------------------------------


def test_generated_addresses_are_coherent() -> None:
    index = {
        (s["code"], a["sigungu"], a.get("town", "")): (s, a)
        for s in _table("addresses.json")["data"]
        for a in s["sigungu"]
    }
    fake = _fake()
    for _ in range(3000):
        addr = fake.kr_address()
        sido, area = index[(addr["sido_code"], addr["sigungu"], addr["town"])]
        assert addr["sido"] == sido["sido"]
        assert addr["road"] in area["roads"]
        assert addr["postcode"][:3] in area["postcode_prefixes"] and re.fullmatch(r"[0-9]{5}", addr["postcode"])
        assert re.fullmatch(r"[1-9][0-9]*(-[1-9][0-9]*)?", addr["building_number"])
        assert addr["full"].startswith(" ".join(p for p in (addr["sido"], addr["sigungu"]) if p) + " ")
        assert f" {addr['road']} {addr['building_number']}" in addr["full"]


def test_phone_numbers_are_unreachable() -> None:
    fake = _fake()
    area_codes = {s["code"]: s["area_code"] for s in _table("addresses.json")["data"]}
    assert all(MOBILE.fullmatch(fake.kr_mobile()) for _ in range(2000))
    for code, area_code in area_codes.items():
        for _ in range(50):
            match = LANDLINE.fullmatch(fake.kr_landline(code))
            assert match and match.group(1) == area_code


def test_business_numbers_pass_check_digit_and_are_synthetic() -> None:
    fake = _fake()
    for facility_type in (None, *PROVIDER_CODE_GROUPS):
        for _ in range(200):
            number = fake.kr_business_number(facility_type)
            assert re.fullmatch(r"000-[0-9]{2}-[0-9]{5}", number), number
            assert is_valid_business_number(number), number


@pytest.mark.parametrize("facility_type", sorted(PROVIDER_CODE_GROUPS))
def test_provider_is_coherent(facility_type: str) -> None:
    departments = _codes("departments.json")
    fake = _fake()
    suffix = _codes("facility-types.json")[facility_type]["ko"]
    for _ in range(200):
        p = fake.kr_provider(facility_type)
        code = p["provider_code"]
        assert re.fullmatch(r"99[0-9]{6}", code) and code[2] == PROVIDER_CODE_GROUPS[facility_type]
        assert p["facility_type"] == facility_type
        assert is_valid_business_number(p["business_number"])
        assert LANDLINE.fullmatch(p["phone"])
        assert set(p["departments"]) <= set(departments)
        assert re.fullmatch(r"[가-힣]{2,4}", p["representative"])
        _check_name_fits(p, suffix, departments)


def _check_name_fits(p: dict[str, Any], type_label: str, departments: dict[str, Any]) -> None:
    name = p["name"]
    endings = {"상급종합병원": "대학교병원", "종합병원": "종합병원", "정신병원": "병원"}
    assert name.endswith(endings.get(type_label, type_label)), (type_label, name)
    if p["facility_type"] == "31":
        assert not name.endswith(("치과의원", "한의원"))
        dept = p["departments"][0]
        assert dept == "00" or departments[dept]["ko"] in name, (name, dept)
    if p["facility_type"] == "81":
        assert p["departments"] == []


def test_provider_phone_area_code_matches_address() -> None:
    area_codes = {s["code"]: s["area_code"] for s in _table("addresses.json")["data"]}
    fake = _fake()
    for _ in range(500):
        p = fake.kr_provider("31")
        assert p["phone"].split("-")[0] == area_codes[p["address"]["sido_code"]]


def test_provider_types_match_the_code_list() -> None:
    assert set(PROVIDER_CODE_GROUPS) == set(_codes("facility-types.json"))


# --- code lists ---------------------------------------------------------------------------------


def _codes(name: str) -> dict[str, Any]:
    return json.loads(fixture_path("codes", name).read_text(encoding="utf-8"))["codes"]


def test_diagnosis_filters() -> None:
    fake = _fake()
    for msk, severe in ((True, None), (False, None), (None, True), (True, False)):
        for _ in range(100):
            d = fake.kr_diagnosis(msk=msk, severe=severe)
            assert KCD_CODE.fullmatch(d["code"])
            assert msk is None or d["msk"] is msk
            assert severe is None or d["severe"] is severe
    assert len({fake.kr_diagnosis()["code"] for _ in range(500)}) > 50


def test_procedure_and_drug_filters() -> None:
    fake = _fake()
    assert all(fake.kr_procedure(big_three=True)["big_three"] for _ in range(100))
    assert all(fake.kr_procedure(big_three=False)["big_three"] is None for _ in range(100))
    assert all(fake.kr_procedure(big_three="mri")["big_three"] == "mri" for _ in range(50))
    assert all("inpatient" in fake.kr_procedure(setting="inpatient")["settings"] for _ in range(100))
    for _ in range(100):
        drug = fake.kr_drug(route="oral", covered=True)
        assert DRUG_CODE.fullmatch(drug["code"]) and drug["route"] == "oral" and drug["covered"] is True
    with pytest.raises(ValueError, match="no entry"):
        fake.kr_drug(route="no-such-route")


# --- determinism and isolation ------------------------------------------------------------------


def _bundle(seed: int) -> str:
    fake = _fake(seed)
    people = [fake.kr_patient() for _ in range(200)]
    providers = [fake.kr_provider(t) for t in PROVIDER_CODE_GROUPS]
    codes = [fake.kr_diagnosis(), fake.kr_procedure(), fake.kr_drug()]
    return json.dumps([people, providers, codes], ensure_ascii=False, sort_keys=True)


def test_same_seed_same_output_different_seed_different_output() -> None:
    assert _bundle(7) == _bundle(7)
    assert _bundle(7) != _bundle(8)


def test_fakers_ko_kr_person_address_ssn_providers_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake()
    generator = fake.factories[0]

    def forbidden(*_: Any, **__: Any) -> None:
        raise AssertionError("Faker's own ko_KR provider was called")

    for method in ("name", "last_name", "first_name", "ssn", "address", "street_address", "postcode",
                   "phone_number", "city", "date_of_birth"):  # fmt: skip
        monkeypatch.setattr(generator, method, forbidden)
    fake.kr_patient()
    fake.kr_provider("21")
    fake.kr_name()


def test_bad_arguments_are_rejected_with_clear_errors() -> None:
    fake = _fake()
    with pytest.raises(ValueError, match="sex"):
        fake.kr_given_name("X", 1990)
    with pytest.raises(ValueError, match="종별코드"):
        fake.kr_provider("99")
    with pytest.raises(ValueError, match="min_age"):
        fake.kr_birth_date(50, 40)
    with pytest.raises(ValueError, match="시도 code"):
        fake.kr_landline("99")


def test_today_is_a_parameter_not_the_clock() -> None:
    fake = _fake()
    later = DEFAULT_TODAY + timedelta(days=365 * 30)
    assert all(_age(fake.kr_birth_date(0, 0, later), later) == 0 for _ in range(200))

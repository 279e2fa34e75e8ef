"""Every worked example of docs/domain.md §4 (W1–W22), the 1세대 example and the corrected consumer-guide cases.

Documents are built with simulator/documents.py (through the payout claim factory) and validated by the
contract validator before they are adjudicated; every payout document is validated against payout.schema.json.
"""

from __future__ import annotations

import json

import pytest

from s24kit.schemas.loader import is_valid, iter_schema_errors
from s24kit.schemas.validation import validate
from s24kit.simulator.payout import Adjudication, PayoutInputError, adjudicate, policy_from_json, render
from s24kit.simulator.payout.claims import ClaimFactory, provider
from s24kit.simulator.payout.dates import last_claim_day, policy_year_start

GEN1 = {"policy_number": "T-1", "contract_date": "2007-05-01", "table": "gen1-nonlife-example"}
GEN2_EARLY = {"policy_number": "T-2E", "contract_date": "2011-05-01", "generation": "gen2"}
GEN2_LATE_SELECTIVE = {"policy_number": "T-2L", "contract_date": "2014-05-01", "generation": "gen2",
                       "variant": "selective"}
GEN3 = {"policy_number": "T-3", "contract_date": "2019-05-01", "generation": "gen3", "variant": "standard"}
GEN3_SELECTIVE = {**GEN3, "variant": "selective"}
GEN4 = {"policy_number": "T-4", "contract_date": "2022-03-01", "generation": "gen4"}
GEN5 = {"policy_number": "T-5", "contract_date": "2026-05-06"}
DAY = "2026-04-06"  # a 4세대 / 3세대 / 2세대 treatment day (policy years from 1 March / 1 May)
DAY5 = "2026-06-10"  # a 5세대 treatment day
CLAIMED = "2026-10-20"

CLINIC, GENERAL, TERTIARY, HOSPITAL = provider("31"), provider("11", 2), provider("01", 3), provider("21", 4)
OVERSEAS = provider("31", 9, country="JP")


def run(docs: list[dict], policy: dict, history=None, *, claim_date: str = CLAIMED, **kwargs) -> Adjudication:
    """Validate the documents, adjudicate, and check the result's own invariants."""
    assert validate(docs) == []
    result = adjudicate(docs, policy, history, claim_date=claim_date, **kwargs)
    assert sum(line.amount for line in result.lines) == result.total
    payout = result.as_payout()
    assert is_valid("payout", payout), [e.message for e in iter_schema_errors("payout", payout)]
    json.dumps(result.history.to_json())  # JSON-serialisable
    return result


def w(f: ClaimFactory) -> dict[str, tuple[list[dict], dict, int]]:
    """W1–W22 of docs/domain.md §4: documents, policy, expected payout."""
    return {
        "W1": (f.outpatient(DAY, covered=15_000), GEN4, 5_000),
        "W2": (f.outpatient(DAY, covered=12_000, non_covered=50_000), GEN4, 22_000),
        "W3": (f.outpatient(DAY, provider_doc=TERTIARY, covered=120_000), GEN4, 96_000),
        "W4": (f.outpatient(DAY, provider_doc=GENERAL, covered=400_000), GEN4, 200_000),
        "W5": (f.outpatient(DAY, covered=20_000, non_covered=50_000, big_three=[("manual_therapy", 150_000)]),
               GEN4, 135_000),
        "W6": (f.outpatient(DAY, big_three=[("manual_therapy", 100_000), ("eswt", 80_000)]), GEN4, 120_000),
        "W7": (f.outpatient(DAY, big_three=[("mri", 600_000)]), GEN4, 420_000),
        "W8": (f.outpatient(DAY, covered=8_000, diagnosis=("M54.5",))
               + f.outpatient(DAY, provider_doc=GENERAL, covered=30_000, diagnosis=("M54.4",)), GEN4, 18_000),
        "W9": (f.outpatient(DAY, covered=8_000, diagnosis=("M54.5",))
               + f.outpatient(DAY, provider_doc=GENERAL, covered=30_000, diagnosis=("J06.9",)), GEN4, 10_000),
        "W10": (f.outpatient(DAY, covered=6_000) + f.pharmacy(DAY, prescriber_doc=CLINIC, covered=4_500), GEN4, 500),
        "W11": (f.pharmacy(DAY, prescriber_doc=CLINIC, covered=20_000, non_covered=10_000), GEN4, 10_000),
        "W12": (f.inpatient("2026-03-20", DAY, covered=15_000_000), GEN4, 13_000_000),
        "W13": (f.outpatient(DAY, covered=25_000) + f.outpatient(DAY, provider_doc=TERTIARY, covered=75_000),
                GEN3, 80_000),
        "W14": (f.outpatient(DAY, provider_doc=HOSPITAL, covered=200_000), GEN3, 160_000),
        "W15": (f.pharmacy(DAY, prescriber_doc=CLINIC, covered=12_000), GEN3, 4_000),
        "W16": (f.outpatient(DAY, big_three=[("manual_therapy", 100_000)]), GEN3, 70_000),
        "W17": (f.inpatient("2026-03-20", DAY, covered=10_000_000), GEN2_EARLY, 9_000_000),
        "W18": (f.outpatient(DAY, covered=25_000), GEN2_EARLY, 15_000),
        # NHIS 300,000 + patient 200,000 = 500,000 total: a 40% copay rate.
        "W19": (f.outpatient(DAY5, provider_doc=GENERAL, covered=200_000, copay_rate=0.4), GEN5, 120_000),
        "W20": (f.outpatient(DAY5, non_covered=80_000, diagnosis=("M54.5",)), GEN5, 30_000),
        "W21": (f.outpatient(DAY5, big_three=[("manual_therapy", 100_000)], diagnosis=("M54.5",)), GEN5, 0),
        "W22": (f.outpatient(DAY, provider_doc=OVERSEAS, covered=15_000, non_covered=50_000), GEN4, 0),
    }


@pytest.mark.parametrize("name", [f"W{i}" for i in range(1, 23)])
def test_worked_example(name: str) -> None:
    docs, policy, expected = w(ClaimFactory())[name]
    assert run(docs, policy).total == expected


def test_w19_uses_the_nhi_copay_rate_of_the_receipt() -> None:
    docs, policy, _ = w(ClaimFactory())["W19"]
    receipt = docs[0]
    assert (receipt["totals"]["copay"], receipt["totals"]["insurer"]) == (200_000, 300_000)
    line = next(x for x in run(docs, policy).lines if x.code == "covered.deductible")
    assert line.amount == -80_000 and "40.0%" in line.label_ko


def test_w8_applies_the_highest_deductible_once() -> None:
    docs, policy, _ = w(ClaimFactory())["W8"]
    deductibles = [x for x in run(docs, policy).lines if x.code.endswith("deductible")]
    assert [x.amount for x in deductibles] == [-20_000]
    assert len(deductibles[0].visit_ids) == 2


def test_w22_overseas_is_explained_as_an_exclusion() -> None:
    docs, policy, _ = w(ClaimFactory())["W22"]
    codes = {x.code: x.amount for x in run(docs, policy).lines}
    assert codes["exclusion.overseas"] == -65_000


def test_gen1_example_product_combines_clinic_and_pharmacy() -> None:
    """docs/domain.md §4: clinic 15,000 + pharmacy 5,000 with a 5,000 deductible → 15,000."""
    f = ClaimFactory()
    day = "2008-06-02"
    docs = f.outpatient(day, covered=15_000) + f.pharmacy(day, prescriber_doc=CLINIC, covered=5_000)
    assert run(docs, GEN1, claim_date="2008-06-30").total == 15_000


def test_gen1_products_are_configurable_tables() -> None:
    f = ClaimFactory()
    docs = f.inpatient("2008-06-01", "2008-06-05", covered=1_000_000)
    life = {**GEN1, "table": "gen1-life-example"}
    assert run(docs, GEN1, claim_date="2008-06-30").total == 1_000_000  # non-life: no inpatient share
    assert run(docs, life, claim_date="2008-06-30").total == 800_000  # life: 20%


# -- the consumer guides, corrected (docs/domain.md §4 "Known errors") ----------------------------------------

def test_gen4_pharmacy_30000_pays_10000_not_nothing() -> None:
    """"4세대 약제비 30,000원 (급여 20,000 / 비급여 10,000)이면 보상 없음" is wrong: 20,000 − 10,000 is paid."""
    docs = ClaimFactory().pharmacy(DAY, prescriber_doc=CLINIC, covered=20_000, non_covered=10_000)
    result = run(docs, GEN4)
    assert result.total == 10_000
    amounts = {x.code: x.amount for x in result.lines}
    assert amounts["non_covered.deductible"] == -10_000  # max(30%, 3만) eats the non-covered 10,000


@pytest.mark.parametrize(("price", "paid"), [(80_000, 50_000), (150_000, 105_000), (200_000, 140_000)])
def test_gen4_manual_therapy_deductible_is_max_30000_30_percent(price: int, paid: int) -> None:
    """"4세대 도수치료 본인부담 10%" is wrong: the deductible is max(3만, 30%) per act."""
    result = run(ClaimFactory().outpatient(DAY, big_three=[("manual_therapy", price)]), GEN4)
    assert result.total == paid == price - max(30_000, price * 3 // 10)
    assert result.total != price - price // 10


def test_the_20000_floor_is_the_gen3_riders_rule() -> None:
    """The garbled "비급여 공제 최소 2만원" is the 3세대 rider's max(2만, 30%), not 4세대's."""
    docs = ClaimFactory().outpatient(DAY, big_three=[("manual_therapy", 50_000)])
    assert run(docs, GEN3).total == 30_000
    assert run(ClaimFactory().outpatient(DAY, big_three=[("manual_therapy", 50_000)]), GEN4).total == 20_000


def test_annual_share_cap_does_not_reset_on_january_first() -> None:
    """Policy year from the contract anniversary (1 July): the 200만 cap used in November still binds in February."""
    policy = {**GEN4, "contract_date": "2023-07-01"}
    f = ClaimFactory()
    first = run(f.inpatient("2025-11-03", "2025-11-20", covered=15_000_000), policy, claim_date="2025-12-01")
    assert first.total == 13_000_000
    february = run(f.inpatient("2026-02-02", "2026-02-10", covered=1_000_000), policy, first.history,
                   claim_date="2026-02-20")
    assert february.total == 1_000_000  # the cap is used up for the policy year 2025-07-01 ~ 2026-06-30
    july = run(f.inpatient("2026-07-06", "2026-07-10", covered=1_000_000), policy, february.history,
               claim_date="2026-07-20")
    assert july.total == 800_000  # a new policy year: 20% again
    assert sorted(july.history.years) == ["2025-07-01", "2026-07-01"]


def test_policy_year_starts_on_the_anniversary() -> None:
    from datetime import date

    assert policy_year_start(date(2022, 3, 1), date(2026, 2, 28)) == date(2025, 3, 1)
    assert policy_year_start(date(2022, 3, 1), date(2026, 3, 1)) == date(2026, 3, 1)
    assert policy_year_start(date(2024, 2, 29), date(2025, 2, 28)) == date(2025, 2, 28)


# -- cross-cutting rules -------------------------------------------------------------------------------

def test_limitation_three_years_first_day_not_counted() -> None:
    from datetime import date

    assert last_claim_day(date(2023, 4, 6), 3) == date(2026, 4, 6)
    f = ClaimFactory()
    day = "2023-04-06"
    in_time = run(f.outpatient(day, covered=15_000), GEN4, claim_date="2026-04-06")
    lapsed = run(f.outpatient(day, covered=15_000), GEN4, claim_date="2026-04-07")
    assert (in_time.total, lapsed.total) == (5_000, 0)
    line = next(x for x in lapsed.lines if x.code == "exclusion.lapsed")
    assert "2026-04-06" in line.label_ko and "초일불산입" in line.label_ko and "first day not counted" in line.label_en


def test_ceiling_excess_is_not_paid() -> None:
    docs = ClaimFactory().outpatient(DAY, provider_doc=GENERAL, covered=300_000, ceiling_excess=100_000)
    result = run(docs, GEN4)
    assert result.total == 200_000 - 40_000  # (300,000 − 100,000) − max(2만, 20%)
    assert {x.code: x.amount for x in result.lines}["covered.ceiling_excess"] == -100_000


def test_nhi_not_applied_pays_40_percent() -> None:
    docs = ClaimFactory().outpatient(DAY, covered=30_000, non_covered=70_000, patient_category="general")
    result = run(docs, GEN4)
    assert result.total == 40_000
    assert any(x.code == "covered.nhi_not_applied.reduction" and x.amount == -60_000 for x in result.lines)


def test_rider_not_held_is_excluded() -> None:
    policy = {**GEN4, "riders": []}
    docs = ClaimFactory().outpatient(DAY, covered=20_000, non_covered=50_000, big_three=[("mri", 600_000)])
    result = run(docs, policy)
    assert result.total == 10_000
    assert sum(x.amount for x in result.lines if x.code.startswith("exclusion.rider_not_held")) == -650_000


def test_treatment_before_the_contract_is_excluded() -> None:
    result = run(ClaimFactory().outpatient("2022-02-27", covered=15_000), GEN4)
    assert result.total == 0 and any(x.code == "exclusion.before_contract" for x in result.lines)


def test_a_document_is_paid_once() -> None:
    docs = ClaimFactory().outpatient(DAY, covered=15_000)
    first = run(docs, GEN4)
    again = run(docs, GEN4, first.history)
    assert (first.total, again.total) == (5_000, 0)
    assert any(x.code == "exclusion.duplicate" for x in again.lines)


def test_pharmacy_claimed_separately_joins_its_visit() -> None:
    """실손24 claims go per provider: the pharmacy's later claim completes W10, paying 500 in all."""
    f = ClaimFactory()
    clinic_docs = f.outpatient(DAY, covered=6_000)
    pharmacy_docs = f.pharmacy(DAY, prescriber_doc=CLINIC, covered=4_500, with_prescription=False)
    first = run(clinic_docs, GEN4)
    second = run(pharmacy_docs, GEN4, first.history)
    assert (first.total, second.total) == (0, 500)
    # and in the other order
    first = run(pharmacy_docs, GEN4)
    second = run(clinic_docs, GEN4, first.history)
    assert first.total + second.total == 500


def test_later_bill_of_the_same_day_pays_only_the_difference() -> None:
    """W8 in two claims: 의원 8,000 (nothing), then 종합병원 30,000 → 18,000 in all."""
    f = ClaimFactory()
    first = run(f.outpatient(DAY, covered=8_000), GEN4)
    second = run(f.outpatient(DAY, provider_doc=GENERAL, covered=30_000, diagnosis=("M54.4",)), GEN4,
                 first.history)
    assert (first.total, second.total) == (0, 18_000)


def test_pharmacy_floor_follows_the_prescriber() -> None:
    """4세대: a general hospital's prescription carries the 2만 floor to the pharmacy."""
    f = ClaimFactory()
    assert run(f.pharmacy(DAY, prescriber_doc=GENERAL, covered=30_000), GEN4).total == 10_000
    assert run(f.pharmacy(DAY, prescriber_doc=CLINIC, covered=30_000), GEN4).total == 20_000


def test_interim_and_discharge_bills_are_one_admission() -> None:
    """Two bills of one stay claimed apart pay what one bill would: the 200만 share cap applies once."""
    f = ClaimFactory()
    interim = f.inpatient("2026-04-01", "2026-04-10", covered=10_000_000, status="interim", visit_id="V-ADM-1")
    discharge = f.inpatient("2026-04-11", "2026-04-20", covered=5_000_000, visit_id="V-ADM-1")
    first = run(interim, GEN4)
    second = run(discharge, GEN4, first.history)
    assert (first.total, second.total) == (8_000_000, 5_000_000)
    assert first.total + second.total == 15_000_000 - 2_000_000


def test_gen3_pharmacy_has_its_own_deductible_within_the_visit_cap() -> None:
    f = ClaimFactory()
    docs = f.outpatient(DAY, covered=25_000) + f.pharmacy(DAY, prescriber_doc=CLINIC, covered=12_000)
    assert run(docs, GEN3).total == (25_000 - 10_000) + (12_000 - 8_000)


def test_gen3_selective_rates_covered_10_non_covered_20() -> None:
    docs = ClaimFactory().outpatient(DAY, provider_doc=HOSPITAL, covered=200_000, non_covered=100_000)
    # max(15,000, 10% × 200,000 + 20% × 100,000 = 40,000) → 260,000, under the 30만 visit cap
    assert run(docs, GEN3_SELECTIVE).total == 260_000


def test_gen2_late_selective_uses_the_fixed_deductible_only() -> None:
    docs = ClaimFactory().outpatient(DAY, provider_doc=HOSPITAL, covered=200_000)
    assert run(docs, GEN2_LATE_SELECTIVE).total == 185_000


def test_gen2_pays_the_big_three_in_the_combined_cover() -> None:
    docs = ClaimFactory().outpatient(DAY, covered=20_000, big_three=[("manual_therapy", 100_000)])
    assert run(docs, GEN2_EARLY).total == 110_000  # one deductible of 1만 on 120,000


def test_gen3_riders_must_be_held() -> None:
    docs = ClaimFactory().outpatient(DAY, big_three=[("manual_therapy", 100_000), ("mri", 600_000)])
    policy = {**GEN3, "riders": ["big_three_mri"]}
    assert run(docs, policy).total == 420_000


def test_private_room_difference_half_up_to_100000_a_day() -> None:
    f = ClaimFactory()
    docs = f.inpatient("2026-04-01", "2026-04-05", private_room=1_000_000)  # 4 nights
    # 50% = 500,000 but at most 100,000 × 4 nights
    assert run(docs, GEN4).total == 400_000
    docs = f.inpatient("2026-04-01", "2026-04-05", private_room=600_000)
    assert run(docs, GEN4).total == 300_000


def test_gen5_severe_visit_uses_rider_1() -> None:
    f = ClaimFactory()
    docs = f.outpatient(DAY5, provider_doc=TERTIARY, non_covered=200_000, diagnosis=("C50.9",))
    assert run(docs, GEN5).total == 200_000 - 60_000  # rider 1: max(30%, 3만)
    docs = f.outpatient(DAY5, provider_doc=TERTIARY, big_three=[("manual_therapy", 100_000)], diagnosis=("C50.9",))
    assert run(docs, GEN5).total == 70_000  # rider 1 pays the manual group


def test_gen5_rider_2_adds_up_the_whole_day() -> None:
    f = ClaimFactory()
    docs = (f.outpatient(DAY5, non_covered=60_000, diagnosis=("M54.5",))
            + f.outpatient(DAY5, provider_doc=HOSPITAL, non_covered=90_000, diagnosis=("J06.9",)))
    # one day: 150,000 − max(50%, 5만) = 75,000 (two separate visits would pay 10,000 + 40,000)
    assert run(docs, GEN5).total == 75_000


def test_gen5_rider_2_mri() -> None:
    docs = ClaimFactory().outpatient(DAY5, big_three=[("mri", 600_000)], diagnosis=("M54.5",))
    assert run(docs, GEN5).total == 300_000


def test_gen4_review_gate_after_ten_manual_acts() -> None:
    f = ClaimFactory()
    history = None
    totals = []
    for i in range(11):
        day = f"2026-04-{i + 6:02d}"
        result = run(f.outpatient(day, big_three=[("manual_therapy", 100_000)]), GEN4, history)
        history = result.history
        totals.append(result.total)
    assert totals == [70_000] * 10 + [0]
    assert any(x.code == "big_three.manual_therapy.review_gate" for x in result.lines)
    docs = f.outpatient("2026-04-20", big_three=[("manual_therapy", 100_000)])
    assert run(docs, GEN4, history, improvement_documented=True).total == 70_000


def test_several_acts_on_one_line_have_a_deductible_each() -> None:
    docs = ClaimFactory().outpatient(DAY, big_three=[("manual_therapy", 200_000, 2)])
    assert docs[1]["lines"][0]["quantity"] == 2
    assert run(docs, GEN4).total == 2 * 70_000


def test_explanation_shows_floor_rate_and_total() -> None:
    docs, policy, _ = w(ClaimFactory())["W5"]
    result = run(docs, policy)
    ko, en = render(result, "ko", width=400), render(result, "en", width=400)
    assert "최저 공제" in ko and "135,000원" in ko.strip().splitlines()[-1]
    assert "the floor applies" in en and en.strip().splitlines()[-1] == "Total payout: 135,000 won"


@pytest.mark.parametrize(("policy", "field"), [
    ({**GEN4, "generation": "gen9"}, "generation"),
    ({**GEN4, "contract_date": "2019-01-01"}, "contract_date"),
    ({**GEN4, "riders": ["dental"]}, "riders"),
    ({"contract_date": "2022-03-01"}, "policy_number"),
    ({**GEN4, "table": "gen7"}, "table"),
])
def test_bad_policies_name_the_field(policy: dict, field: str) -> None:
    with pytest.raises(PayoutInputError) as caught:
        policy_from_json(policy)
    assert field in caught.value.field


def test_inputs_are_not_changed() -> None:
    f = ClaimFactory()
    history = run(f.outpatient(DAY, covered=15_000), GEN4).history.to_json()
    before = json.dumps(history, sort_keys=True)
    docs = f.outpatient(DAY, covered=15_000, diagnosis=("M54.4",))
    snapshot = json.dumps(docs, sort_keys=True)
    run(docs, GEN4, history)
    assert json.dumps(history, sort_keys=True) == before and json.dumps(docs, sort_keys=True) == snapshot



# -- the tables are data -----------------------------------------------------------------------------------

def _gen4_raw() -> dict:
    from s24kit.fixtures import fixture_path

    return json.loads(fixture_path("rules", "gen4.json").read_text(encoding="utf-8"))


def test_changing_a_number_is_a_data_change() -> None:
    from datetime import date

    from s24kit.simulator.payout import Policy
    from s24kit.simulator.payout.tables import compile_table

    raw = _gen4_raw()
    raw["axes"][0]["outpatient"]["floor"]["clinic"] = 12_000
    table = compile_table(raw, "edited gen4")
    policy = Policy("INSA", "T-4X", date(2022, 3, 1), table, frozenset(table.riders))
    docs = ClaimFactory().outpatient(DAY, covered=15_000)
    assert run(docs, GEN4).total == 5_000
    assert adjudicate(docs, policy, None, claim_date=CLAIMED).total == 3_000


@pytest.mark.parametrize("edit", ["no_source", "float", "bad_rate", "unknown_rider"])
def test_tables_are_checked(edit: str) -> None:
    from s24kit.simulator.payout import TableError
    from s24kit.simulator.payout.tables import compile_table

    raw = _gen4_raw()
    floor = raw["axes"][0]["outpatient"]["floor"]
    if edit == "no_source":
        del floor["source"]
    elif edit == "float":
        floor["clinic"] = 10000.0
    elif edit == "bad_rate":
        raw["axes"][0]["outpatient"]["rate"]["covered"] = "0.2x"
    else:
        raw["axes"][1]["rider"] = "dental"
    with pytest.raises(TableError) as caught:
        compile_table(raw, "edited gen4")
    assert caught.value.field.startswith("edited gen4#/")


def test_every_shipped_table_loads_and_cites_its_sources() -> None:
    from s24kit.simulator.payout import load_table, table_ids

    ids = table_ids()
    assert {"gen1-nonlife-example", "gen2-early", "gen2-late-standard", "gen2-late-selective", "gen3-standard",
            "gen3-selective", "gen4", "gen5"} <= set(ids)
    for table_id in ids:
        table = load_table(table_id)
        assert table.id == table_id and table.sources["limitation"] and table.limitation_years == 3


def test_gen5_severity_from_any_diagnosis_of_the_visit() -> None:
    f = ClaimFactory()
    # 산정특례 C50.9 second on the receipt: still rider 1: 200,000 − max(30% = 60,000, 3만) = 140,000
    docs = f.outpatient(DAY5, provider_doc=TERTIARY, non_covered=200_000, diagnosis=("M54.5", "C50.9"))
    assert run(docs, GEN5).total == 140_000
    # without it, rider 2: 200,000 − max(50% = 100,000, 5만) = 100,000
    docs = f.outpatient(DAY5, provider_doc=TERTIARY, non_covered=200_000, diagnosis=("M54.5",))
    assert run(docs, GEN5).total == 100_000


def test_gen3_selective_outpatient_deductible_is_the_larger_of_the_tier_and_the_rates() -> None:
    f = ClaimFactory()
    # 의원, covered 150,000 + non-covered 50,000: max(1만, 10% × 150,000 + 20% × 50,000 = 25,000) → 175,000
    assert run(f.outpatient(DAY, covered=150_000, non_covered=50_000), GEN3_SELECTIVE).total == 175_000
    # covered 30,000: max(1만, 10% = 3,000) = 1만 → 20,000
    assert run(f.outpatient(DAY, covered=30_000), GEN3_SELECTIVE).total == 20_000

"""Synthetic claims for the payout engine's examples, tests and benchmark, built with simulator/documents.py.

Amounts are given the way docs/domain.md §4 states them — "covered 15,000" is what the patient paid as 급여
본인부담금 — and the builder finds the 급여 총액 that the receipt's copay split turns into exactly that amount,
so every total in the documents is computed, never typed. Everything is deterministic (counters, no clock).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...schemas.codes import code_list
from ...schemas.identifiers import business_number_check_digit, format_business_number
from ..documents import Billed, exact, medical_documents, pharmacy_receipt, prescription, visit_shares

Document = dict[str, Any]

PATIENT: Document = {"patient_number": "P0001234", "name": "김하늘", "resident_number_masked": "850412-2******"}
PRESCRIBER: Document = {"name": "박서준", "license_type": "physician", "license_number": "123456"}
#: Typical NHI outpatient copay rates by tier (patient share of 급여), used to split covered amounts.
COPAY_RATE = {"clinic": 0.3, "public_health": 0.3, "hospital": 0.4, "general": 0.5, "tertiary": 0.6}
#: Pharmacy copay: 30%, or 40% / 50% on 종합 / 상급종합 prescriptions for a condition on the graded mild list.
PHARMACY_COPAY_RATE = 0.3
MILD_PHARMACY_COPAY_RATE = {"general": 0.4, "tertiary": 0.5}
_TYPE = {  # facility type → (tier, provider-code group digit, business kind digits, name)
    "01": ("tertiary", "1", "82", "한빛대학교병원"), "11": ("general", "1", "82", "누리종합병원"),
    "21": ("hospital", "2", "82", "바른병원"), "31": ("clinic", "3", "91", "하늘정형외과의원"),
    "71": ("public_health", "7", "83", "푸른보건소"), "81": ("pharmacy", "8", "05", "새봄약국"),
}
_BIG_THREE = {"manual_therapy": ("PTR", "NC001", "도수치료(30분 이내)"),
              "eswt": ("PTR", "NC002", "체외충격파치료(근골격계)"),
              "prolotherapy": ("IJCT_ACTAMT", "NC003", "증식치료(1부위)"),
              "injection": ("IJCT_MDAMT", "NC020", "비급여 영양주사(고용량 비타민C)"),
              "mri": ("MRI_DIAMT", "NC010", "비급여 MRI(요추)")}


def provider(facility_type: str = "31", serial: int = 1, *, country: str = "KR") -> Document:
    """A synthetic provider: code 99 + group digit + serial, a tax-office-000 business number with a valid check."""
    _tier, group, kind, name = _TYPE[facility_type]
    first_nine = f"000{kind}{serial % 10000:04d}"
    doc: Document = {
        "provider_code": f"99{group}{serial % 100000:05d}", "facility_type": facility_type,
        "name": name if serial == 1 else f"{name} {serial}호점",
        "business_number": format_business_number(first_nine + str(business_number_check_digit(first_nine))),
        "phone": f"02-011-{serial % 10000:04d}", "address": "서울특별시 강남구 테헤란로 152",
        "representative": "박서준",
    }
    if country != "KR":
        doc["country"] = country
    return doc


def tier(provider_doc: Document) -> str:
    return _TYPE[provider_doc["facility_type"]][0]


def total_for_copay(copay: int, rate: float, unit: int = 100) -> int:
    """The smallest 급여 총액 whose patient share, truncated as HIRA truncates it (documents.visit_shares, below
    ``unit`` won), is exactly ``copay``. A copay truncation cannot give (not a multiple of ``unit``) has none."""
    if copay == 0:
        return 0
    guess = int(copay / rate)
    for total in range(max(guess - 3, 1), guess + 2 * int(unit / rate) + 20):
        if visit_shares([(total, rate)], unit)[0] == copay:
            return total
    raise ValueError(f"no total gives copay {copay} at rate {rate} (truncated below {unit} won)")


def covered_terms(copay: int, rate: float, unit: int) -> tuple[int, int | None]:
    """(급여 총액, fixed copay or None) that make the bill's copay exactly ``copay``: by the rate when truncation
    can give it, else as a flat amount (정액, not rounded) on the total the rate would need."""
    if copay == 0 or (rate and copay % unit == 0):
        return total_for_copay(copay, rate, unit), None
    total = math.ceil(copay / exact(rate)) if rate else copay
    return total + (-total) % 10, copay


def _big_three_items(big_three: Sequence[tuple], day: str) -> list[Billed]:
    items = []
    for entry in big_three:
        kind, amount = entry[0], entry[1]
        acts = entry[2] if len(entry) > 2 else 1
        category, code, name = _BIG_THREE[kind]
        per_act, rest = divmod(amount, acts)
        if rest:
            per_act, acts = amount, 1
        items.append(Billed(category, code, name, per_act, day, quantity=acts, covered=False, code_kind="provider",
                            big_three=kind))
    return items


@dataclass
class ClaimFactory:
    """Builds the documents of visits; numbers every receipt, visit and prescription from one counter."""

    patient: Document = field(default_factory=lambda: dict(PATIENT))
    serial: int = 0

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    def outpatient(self, day: str, *, provider_doc: Document | None = None, covered: int = 0, non_covered: int = 0,
                   full_copay: int = 0, big_three: Sequence[tuple] = (), diagnosis: Sequence[str] = ("M54.5",),
                   ceiling_excess: int = 0, patient_category: str = "nhi", copay_rate: float | None = None,
                   department: str = "05") -> list[Document]:
        """진료비 영수증 + 세부산정내역서 of one outpatient visit."""
        prov = provider_doc or provider("31")
        rate = copay_rate if copay_rate is not None else COPAY_RATE[tier(prov)]
        total, fixed = covered_terms(covered, rate, 100)
        items = [Billed("ENAMT", "AA154", "초진진찰료-의원", total, day)] if covered else []
        if full_copay:
            items.append(Billed("EXAMT", "B1010", "혈액일반검사(CBC)", full_copay, day, full_copay=True))
        if non_covered:
            items.append(Billed("EXAMT", "NC050", "영양·비타민 검사(비급여)", non_covered, day, covered=False,
                                code_kind="provider"))
        items += _big_three_items(big_three, day)
        if not items:
            items.append(Billed("ENAMT", "AA154", "초진진찰료-의원", 0, day))
        n = self._next()
        return list(medical_documents(
            visit_id=f"V-{prov['provider_code']}-{n:06d}", receipt_number=f"R{day.replace('-', '')}-{n:04d}",
            statement_number=f"S{day.replace('-', '')}-{n:04d}", setting="outpatient", patient=self.patient,
            patient_category=patient_category, provider=prov, department=department, period=(day, day), items=items,
            copay_rate=rate, diagnosis_codes=diagnosis, ceiling_excess=ceiling_excess, fixed_copay=fixed))

    def inpatient(self, start: str, end: str, *, provider_doc: Document | None = None, covered: int = 0,
                  non_covered: int = 0, private_room: int = 0, big_three: Sequence[tuple] = (),
                  diagnosis: Sequence[str] = ("M51.1",), patient_category: str = "nhi", ceiling_excess: int = 0,
                  status: str = "discharge", visit_id: str | None = None) -> list[Document]:
        """진료비 영수증 + 세부산정내역서 of one inpatient bill (20% copay on covered items)."""
        prov = provider_doc or provider("21")
        total, fixed = covered_terms(covered, 0.2, 10)
        items = [Billed("INAMT_BDM4", "AB240", "입원료-4인실 이상(일반병상)", total, start)] if covered else []
        if non_covered:
            items.append(Billed("TMCAT", "NC070", "유착방지제(비급여 치료재료)", non_covered, start, covered=False,
                                code_kind="provider"))
        if private_room:
            items.append(Billed("INAMT_BDM1", "NC030", "상급병실료 차액(1인실)", private_room, start, covered=False,
                                code_kind="provider"))
        items += _big_three_items(big_three, start)
        n = self._next()
        return list(medical_documents(
            visit_id=visit_id or f"V-{prov['provider_code']}-{n:06d}",
            receipt_number=f"R{end.replace('-', '')}-{n:04d}",
            statement_number=f"S{end.replace('-', '')}-{n:04d}", setting="inpatient", patient=self.patient,
            patient_category=patient_category, provider=prov, department="05", period=(start, end), items=items,
            copay_rate=0.2, diagnosis_codes=diagnosis, ceiling_excess=ceiling_excess, room="702호", fixed_copay=fixed,
            inpatient_status=status))

    def pharmacy(self, day: str, *, prescriber_doc: Document, covered: int = 0, non_covered: int = 0,
                 diagnosis: Sequence[str] = ("M54.5",), dispensing_day: str | None = None,
                 pharmacy_doc: Document | None = None, with_prescription: bool = True, ceiling_excess: int = 0,
                 patient_category: str = "nhi") -> list[Document]:
        """처방전 (unless ``with_prescription`` is false) + 약제비 영수증 for a prescription issued on ``day``."""
        mild = any(code_list("kcd").get(code, {}).get("mild_graded") for code in diagnosis)
        rate = MILD_PHARMACY_COPAY_RATE.get(tier(prescriber_doc), PHARMACY_COPAY_RATE) if mild else PHARMACY_COPAY_RATE
        meds, prices, non_covered_drugs = [], {}, set()
        total, fixed = covered_terms(covered, rate, 100)
        drugs = (("990000010", "아목시실린캡슐500mg", total, True),
                 ("990000020", "아목시실린·클라불란산정625mg", non_covered, False))
        for code, name, price, covered_drug in drugs:
            if price or (covered_drug and not non_covered):
                meds.append({"drug_code": code, "name": name, "dose": 1, "times_per_day": 1, "days": 1,
                             "route": "oral"})
                prices[code] = price
                if not covered_drug:
                    non_covered_drugs.add(code)
        n = self._next()
        rx = prescription(visit_id=f"V-{prescriber_doc['provider_code']}-{n:06d}", serial=n, issue_date=day,
                          provider=prescriber_doc, patient=self.patient, insurance_type=patient_category,
                          diagnosis_codes=diagnosis, prescriber=PRESCRIBER, medications=meds)
        pharm = pharmacy_doc or provider("81")
        receipt = pharmacy_receipt(
            visit_id=f"V-{pharm['provider_code']}-{n:06d}", receipt_number=f"P{day.replace('-', '')}-{n:04d}",
            prescription_doc=rx, dispensing_date=dispensing_day or day, pharmacy=pharm, pharmacist="이약사",
            patient=self.patient, patient_category=patient_category, fees=[], drug_prices=prices, copay_rate=rate,
            non_covered_drugs=frozenset(non_covered_drugs), ceiling_excess=ceiling_excess, fixed_copay=fixed)
        return [rx, receipt] if with_prescription else [receipt]

"""Build kit-v1 documents that are consistent by construction: every total is computed, never typed.

The builders return plain dicts in the shape of the schemas (the schemas stay the only definition of that
shape; tests validate what these functions return).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from ..schemas.codes import dispensed_product
from ..schemas.kr_calendar import is_holiday
from ..schemas.rules.receipt import COLUMNS, floor10
from ..schemas.rules.rounding import COPAY_UNIT, TOTAL_UNIT, truncate
from ..schemas.rules.statement import LINE_COLUMNS, expected_line_total

Document = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Billed:
    """One billed service or drug of a visit, before it is split into money columns."""

    category: str  # the receipt row it rolls up into (fixtures/codes/receipt-rows.json)
    code: str
    name: str
    unit_price: int
    date: str
    quantity: float = 1
    days: int = 1
    covered: bool = True  # 급여 (copay + NHIS) or 비급여
    full_copay: bool = False  # 급여 but 100% paid by the patient (전액본인부담)
    code_kind: str = "edi"
    big_three: str | None = None
    copay_rate: float | None = None  # overrides the visit's rate for this item (e.g. meals 50%)


def split(total: int, copay_rate: float) -> tuple[int, int]:
    """Patient and NHIS shares of one line or item: the patient's share is rounded down to whole won."""
    copay = int(total * exact(copay_rate))
    return copay, total - copay


def exact(rate: float) -> Fraction:
    """A copay rate as the decimal fraction it is written as (0.3 is 3/10, not the nearest binary float)."""
    return Fraction(repr(rate))


def visit_shares(parts: Sequence[tuple[int, float]], unit: int, fixed_copay: int | None = None) -> tuple[int, int]:
    """(본인일부부담금, 공단부담금) of a visit's covered partial-copay amounts, as HIRA rounds them (§2.5).

    ``parts`` are (amount, copay rate) pairs. 요양급여비용총액 is truncated below 10 원; each rate applies to its
    parts' share of that truncated total, and the patient's sum is truncated below ``unit`` won. A flat
    amount (``fixed_copay``) is not rounded. The won cut off are the insurer's: insurer = total − copay.
    """
    gross = sum(amount for amount, _ in parts)
    total = truncate(gross, TOTAL_UNIT)
    if not total:
        return 0, 0
    if fixed_copay is not None:
        copay = min(max(fixed_copay, 0), total)
    else:
        by_rate = sum((amount * exact(rate) for amount, rate in parts), Fraction(0)) * total / gross
        copay = min(truncate(int(by_rate), unit), total)
    return copay, total - copay


def spread(amount: int, weights: Sequence[int]) -> list[int]:
    """``amount`` split in proportion to ``weights``; the won left by rounding down go to the largest
    remainders, earliest first (deterministic). All weights zero: everything to the first."""
    whole = sum(weights)
    if not whole:
        return [amount if i == 0 else 0 for i in range(len(weights))]
    shares = [divmod(amount * w, whole) for w in weights]
    left = amount - sum(q for q, _ in shares)
    bonus = set(sorted(range(len(weights)), key=lambda i: (-shares[i][1], i))[:left])
    return [q + (i in bonus) for i, (q, _) in enumerate(shares)]


def allocate_fixed_copay(parts: Sequence[Document], amount: int, total_key: str) -> None:
    """Turn ``amount`` won of NHIS share into patient share across ``parts`` (정액 본인부담).

    The amount (capped at the parts' total) is spread in proportion to each part's ``total_key``; the won
    left by rounding down go to the parts with the largest remainders, earliest first, so it is deterministic.
    """
    total = sum(p[total_key] for p in parts)
    amount = min(max(amount, 0), total)
    if not parts or not amount:
        return
    for part, share in zip(parts, spread(amount, [p[total_key] for p in parts]), strict=True):
        part["copay"] = share
        part["insurer"] = part[total_key] - share


def statement_lines(items: Iterable[Billed], copay_rate: float, fixed_copay: int | None = None) -> list[Document]:
    """Itemised lines with their money columns, each line split at its own rate (rounded down to the won).

    ``fixed_copay`` replaces the rate for the partial-copay lines with a fixed patient share for the whole
    visit (의료급여 and 65세 이상 정액 본인부담), spread over those lines.
    """
    return _lines(list(items), copay_rate, fixed_copay)[0]


def _lines(items: Sequence[Billed], copay_rate: float, fixed_copay: int | None
           ) -> tuple[list[Document], list[tuple[int, float]]]:
    """The lines, and the (amount, rate) of each partial-copay line (what the visit's shares are made of)."""
    lines, parts = [], []
    for item in items:
        total = expected_line_total(item.unit_price, item.quantity, item.days)
        copay = insurer = full = non_covered = 0
        if not item.covered:
            non_covered = total
        elif item.full_copay:
            full = total
        else:
            rate = copay_rate if item.copay_rate is None else item.copay_rate
            copay, insurer = split(total, rate)
            parts.append((total, rate))
        lines.append({"category": item.category, "date": item.date, "code": item.code, "code_kind": item.code_kind,
                      "name": item.name, "unit_price": item.unit_price, "quantity": item.quantity, "days": item.days,
                      "total": total, "copay": copay, "insurer": insurer, "full_copay": full,
                      "non_covered": non_covered, "big_three": item.big_three})
    if fixed_copay is not None:
        allocate_fixed_copay([line for line in lines if line["copay"] or line["insurer"]], fixed_copay, "total")
    return lines, parts


def bottom_rows(lines: Sequence[Document], copay: int, insurer: int) -> Document:
    """The statement's bottom rows 계 / 끝처리 조정금액 / 합계: the adjustment carries the lines to the visit's
    truncated shares (``copay``, ``insurer``)."""
    subtotal = {column: sum(line[column] for line in lines) for column in LINE_COLUMNS}
    adjustment = dict.fromkeys(LINE_COLUMNS, 0)
    adjustment["copay"], adjustment["insurer"] = copay - subtotal["copay"], insurer - subtotal["insurer"]
    total = {column: subtotal[column] + adjustment[column] for column in LINE_COLUMNS}
    for row in (subtotal, adjustment, total):
        row["total"] = sum(row[column] for column in LINE_COLUMNS)
    return {"subtotal": subtotal, "adjustment": adjustment, "total": total}


def rows_at(rows: list[Document], copay: int, insurer: int) -> list[Document]:
    """Receipt rows whose covered columns carry the visit's truncated shares, spread by the lines' weights."""
    for column, amount in (("copay", copay), ("insurer", insurer)):
        weights = [row["amounts"][column] for row in rows]
        if sum(weights) == amount:
            continue
        if not any(weights):  # e.g. a fixed copay larger than the rate would give: weigh by the covered rows
            weights = [row["amounts"]["copay"] + row["amounts"]["insurer"] for row in rows]
        for row, share in zip(rows, spread(amount, weights), strict=True):
            row["amounts"][column] = share
    return rows


def receipt_rows(lines: Sequence[Document]) -> list[Document]:
    """Receipt rows from itemised lines, in the order each row first appears."""
    rows: dict[str, dict[str, int]] = {}
    for line in lines:
        amounts = rows.setdefault(line["category"], dict.fromkeys(COLUMNS, 0))
        amounts["copay"] += line["copay"]
        amounts["insurer"] += line["insurer"]
        amounts["full_copay"] += line["full_copay"]
        amounts["non_covered"] += line["non_covered"]
    return [{"code": code, "amounts": amounts} for code, amounts in rows.items()]


def receipt_totals(rows: Sequence[Document], *, ceiling_excess: int = 0, already_paid: int = 0,
                   paid: int | None = None, discount: Document | None = None) -> tuple[Document, Document]:
    """The totals block and a payment block (by card, unless ``paid`` says otherwise).

    ``discount`` ({"covered", "non_covered"}) is the provider's 감면액·할인: it lowers the amount due. The amount
    due is floored to 10 won, as many EMRs print it (the form sets no floor; S24-DOC-059 accepts both).
    """
    totals = {column: sum(row["amounts"][column] for row in rows) for column in COLUMNS}
    totals["total_amount"] = sum(totals[c] for c in COLUMNS)
    totals["ceiling_excess"] = min(ceiling_excess, totals["copay"])
    totals["patient_total"] = (totals["copay"] - totals["ceiling_excess"] + totals["full_copay"]
                               + totals["selective"] + totals["non_covered"])
    waived = 0
    if discount:
        totals["discount"] = dict(discount)
        waived = discount["covered"] + discount["non_covered"]
    totals["already_paid"] = already_paid
    totals["amount_due"] = floor10(max(totals["patient_total"] - waived - already_paid, 0))
    paid_amount = totals["amount_due"] if paid is None else min(paid, totals["amount_due"])
    totals["unpaid"] = totals["amount_due"] - paid_amount
    return totals, payment(card=paid_amount)


def holiday_of(day: str, provider: Document) -> bool:
    """The 공휴일 mark of care on ``day`` (ISO) at ``provider``: Sundays and Korean public holidays, at home only."""
    return provider.get("country", "KR") == "KR" and is_holiday(date.fromisoformat(day))


def payment(card: int = 0, cash_receipt: int = 0, cash: int = 0) -> Document:
    return {"card": card, "cash_receipt": cash_receipt, "cash": cash, "total": card + cash_receipt + cash}


def medical_documents(*, visit_id: str, receipt_number: str, statement_number: str, setting: str,
                      patient: Document, patient_category: str, provider: Document, department: str,
                      period: tuple[str, str], items: Sequence[Billed], copay_rate: float,
                      diagnosis_codes: Sequence[str] = (), issue_date: str | None = None,
                      night: bool = False, holiday: bool | None = None, ceiling_excess: int = 0,
                      room: str | None = None, inpatient_status: str = "discharge", fixed_copay: int | None = None,
                      discount_share: float = 0.0) -> tuple[Document, Document]:
    """A 진료비 계산서·영수증 and its 세부산정내역서 for one visit (``fixed_copay``: see statement_lines).

    ``holiday`` left out: marked as the calendar says (:func:`holiday_of`).
    ``discount_share`` > 0: the provider waives that share of the patient's non-covered amount (감면·할인,
    rounded down to 10 won), shown on the receipt.

    The receipt carries the visit's covered shares as HIRA rounds them (:func:`visit_shares`); the statement's
    lines keep their own split and its bottom rows reconcile them with the receipt.
    """
    lines, parts = _lines(list(items), copay_rate, fixed_copay)
    copay, insurer = visit_shares(parts, COPAY_UNIT[setting], fixed_copay)
    rows = rows_at(receipt_rows(lines), copay, insurer)
    non_covered = sum(row["amounts"]["selective"] + row["amounts"]["non_covered"] for row in rows)
    waived = floor10(int(non_covered * discount_share))
    totals, paid = receipt_totals(rows, ceiling_excess=ceiling_excess,
                                  discount={"covered": 0, "non_covered": waived} if waived else None)
    issued = issue_date or period[1]
    receipt: Document = {
        "document_type": "medical_receipt", "receipt_number": receipt_number, "visit_id": visit_id,
        "setting": setting, "patient": patient, "patient_category": patient_category,
        "treatment_period": {"start": period[0], "end": period[1]}, "night": night,
        "holiday": holiday_of(period[0], provider) if holiday is None else holiday, "department": department,
        "diagnosis_codes": list(diagnosis_codes), "rows": rows, "totals": totals,
        "payment": paid, "provider": provider, "issue_date": issued,
    }
    if setting == "inpatient":
        receipt["inpatient_status"] = inpatient_status
        receipt["room"] = room
    statement: Document = {
        "document_type": "itemised_statement", "statement_number": statement_number,
        "receipt_number": receipt_number, "visit_id": visit_id, "setting": setting, "patient": patient,
        "patient_category": patient_category, "treatment_period": {"start": period[0], "end": period[1]},
        "lines": lines, "bottom_rows": bottom_rows(lines, copay, insurer), "provider": provider,
        "issue_date": issued,
    }
    return receipt, statement


def issue_number(day: str, serial: int) -> str:
    """교부번호 ``yyyymmdd-nnnnn``."""
    return f"{day.replace('-', '')}-{serial:05d}"


def prescription(*, visit_id: str, serial: int, issue_date: str, provider: Document, patient: Document,
                 insurance_type: str, diagnosis_codes: Sequence[str], prescriber: Document,
                 medications: Sequence[Document], validity_days: int = 3,
                 dispensing: Document | None = None) -> Document:
    """A 처방전. ``medications`` are dicts with drug_code, name, dose, times_per_day, days, route (usage optional)."""
    doc: Document = {
        "document_type": "prescription", "issue_number": issue_number(issue_date, serial), "issue_date": issue_date,
        "validity_days": validity_days, "visit_id": visit_id, "insurance_type": insurance_type,
        "provider": provider, "patient": {"name": patient["name"],
                                          "resident_number_masked": patient["resident_number_masked"]},
        "diagnosis_codes": list(diagnosis_codes), "prescriber": prescriber, "medications": list(medications),
    }
    if dispensing:
        doc["dispensing"] = dispensing
    return doc


def last_valid_day(issue_date: str, validity_days: int) -> str:
    return (date.fromisoformat(issue_date) + timedelta(days=validity_days - 1)).isoformat()


def pharmacy_receipt(*, visit_id: str, receipt_number: str, prescription_doc: Document, dispensing_date: str,
                     pharmacy: Document, pharmacist: str, patient: Document, patient_category: str,
                     fees: Sequence[tuple[str, str, int]], drug_prices: dict[str, int], copay_rate: float,
                     non_covered_drugs: frozenset[str] = frozenset(), night: bool = False,
                     holiday: bool | None = None, ceiling_excess: int = 0, fixed_copay: int | None = None) -> Document:
    """A 약제비 계산서·영수증 dispensing every drug of ``prescription_doc``.

    ``fees`` are (code, name, amount) pharmacy fee items; ``drug_prices`` maps product codes to unit prices;
    ``fixed_copay`` replaces the rate with a fixed patient share (의료급여, 65세 이상 정액), spread over the
    covered items.
    """
    def item(amount: int, covered: bool) -> dict[str, int]:
        copay, insurer = split(amount, copay_rate) if covered else (0, 0)
        return {"amount": amount, "copay": copay, "insurer": insurer, "non_covered": 0 if covered else amount}

    fee_items = [{"code": code, "name": name, **item(amount, True)} for code, name, amount in fees]
    drugs = []
    for med in prescription_doc["medications"]:
        product = dispensed_product(med["drug_code"])  # a generic-name line is filled with a product
        amount = expected_line_total(drug_prices[product], med["dose"] * med["times_per_day"], med["days"])
        drugs.append({"drug_code": product, "name": med["name"], "dose": med["dose"],
                      "times_per_day": med["times_per_day"], "days": med["days"],
                      **item(amount, product not in non_covered_drugs)})
    every = fee_items + drugs
    covered = [i for i in every if not i["non_covered"]]
    if fixed_copay is not None:
        allocate_fixed_copay(covered, fixed_copay, "amount")
    totals = {column: sum(i[column] for i in every) for column in ("copay", "insurer", "non_covered")}
    copay, insurer = visit_shares([(i["amount"], copay_rate) for i in covered], COPAY_UNIT["pharmacy"], fixed_copay)
    adjustment = {"copay": copay - totals["copay"], "insurer": insurer - totals["insurer"]}
    totals["copay"], totals["insurer"] = copay, insurer
    totals["rounding_adjustment"] = adjustment
    totals["total_amount"] = totals["copay"] + totals["insurer"] + totals["non_covered"]
    totals["ceiling_excess"] = min(ceiling_excess, totals["copay"])
    totals["amount_received"] = totals["copay"] + totals["non_covered"]
    prescriber = prescription_doc["provider"]
    return {
        "document_type": "pharmacy_receipt", "receipt_number": receipt_number, "visit_id": visit_id,
        "patient": {"name": patient["name"]}, "patient_category": patient_category,
        "dispensing_date": dispensing_date, "night": night,
        "holiday": holiday_of(dispensing_date, pharmacy) if holiday is None else holiday,
        "prescription_issue_number": prescription_doc["issue_number"],
        "prescriber": {"provider_code": prescriber["provider_code"], "facility_type": prescriber["facility_type"],
                       "name": prescriber["name"]},
        "dispensing_days": max(m["days"] for m in prescription_doc["medications"]),
        "fee_items": fee_items, "drugs": drugs, "totals": totals,
        "payment": payment(card=totals["amount_received"]), "provider": pharmacy, "pharmacist": pharmacist,
        "issue_date": dispensing_date,
    }

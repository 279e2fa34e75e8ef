"""The EMR seed: a neutral, tabular form of the scenario a vendor loads into a test EMR.

Six tables (fixtures/population/EMR-SEED-FORMAT.md describes every column), each written as CSV and as
JSON Lines with the same columns in the same order. Rows are derived from the documents, so what the
EMR holds and what the connector must return cannot disagree. Visits abroad are not in the seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .care import Visit
from .population import Patient, Provider
from .tables import DRUGS

TABLES: dict[str, tuple[str, ...]] = {
    "patients": ("patient_id", "patient_number", "name", "sex", "birth_date", "resident_number_masked", "phone",
                 "postcode", "address", "sido", "sigungu", "patient_category", "identity_token"),
    "providers": ("provider_code", "facility_type", "tier", "name", "departments", "business_number", "phone",
                  "postcode", "address", "sido", "sigungu", "representative", "doctors", "pharmacists"),
    "visits": ("visit_id", "provider_code", "patient_id", "patient_number", "setting", "start_date", "end_date",
               "department", "diagnosis_codes", "patient_category", "night", "holiday", "inpatient_status", "room",
               "receipt_number", "statement_number", "issue_date", "copay_total", "insurer_total", "ceiling_excess",
               "discount_covered", "discount_non_covered", "paid_card", "paid_cash_receipt",
               "paid_cash", "prescription_issue_number", "prescriber_provider_code", "pharmacist"),
    "line_items": ("visit_id", "line_no", "item_type", "category", "date", "code", "code_kind", "name",
                   "unit_price", "quantity", "days", "total", "copay", "insurer", "full_copay", "non_covered",
                   "big_three", "dose", "times_per_day"),
    "prescriptions": ("issue_number", "visit_id", "provider_code", "patient_id", "issue_date", "validity_days",
                      "insurance_type", "diagnosis_codes", "prescriber_name", "prescriber_license_type",
                      "prescriber_license_number"),
    "prescription_items": ("issue_number", "item_no", "drug_code", "name", "dose", "times_per_day", "days", "route",
                           "usage"),
}

Row = dict[str, Any]


def patient_row(patient: Patient) -> Row:
    r = patient.record
    a = r["address"]
    return {"patient_id": patient.patient_id, "patient_number": r["patient_number"], "name": r["name"],
            "sex": r["sex"], "birth_date": r["birth_date"], "resident_number_masked": r["resident_number_masked"],
            "phone": r["phone"], "postcode": a["postcode"], "address": a["full"], "sido": a["sido"],
            "sigungu": a["sigungu"], "patient_category": patient.category, "identity_token": r["identity_token"]}


def provider_row(provider: Provider) -> Row:
    b = provider.block
    postcode, sido, sigungu = provider.place
    return {"provider_code": provider.code, "facility_type": provider.facility_type, "tier": provider.tier,
            "name": b["name"], "departments": list(provider.departments), "business_number": b["business_number"],
            "phone": b["phone"], "postcode": postcode, "address": b["address"], "sido": sido,
            "sigungu": sigungu, "representative": b["representative"],
            "doctors": [name for name, _ in provider.doctors], "pharmacists": list(provider.pharmacists)}


def visit_rows(visit: Visit, patient: Patient) -> Iterator[tuple[str, Row]]:
    """(table, row) pairs of one visit: the visit, its line items, its prescription and the drugs on it."""
    docs = {doc["document_type"]: doc for doc in visit.documents}
    base = {"visit_id": visit.visit_id, "provider_code": visit.provider.code, "patient_id": patient.patient_id,
            "patient_number": patient.record["patient_number"], "setting": visit.setting,
            "start_date": visit.start.isoformat(), "end_date": visit.end.isoformat()}
    if visit.setting == "pharmacy":
        receipt = docs["pharmacy_receipt"]
        yield "visits", {**base, "department": None, "diagnosis_codes": [],
                         "patient_category": receipt["patient_category"],
                         "night": receipt["night"], "holiday": receipt["holiday"], "inpatient_status": None,
                         "room": None,
                         "receipt_number": receipt["receipt_number"], "statement_number": None,
                         "issue_date": receipt["issue_date"], **_covered(receipt),
                         "ceiling_excess": receipt["totals"]["ceiling_excess"],
                         **_paid(receipt), "prescription_issue_number": receipt["prescription_issue_number"],
                         "prescriber_provider_code": receipt["prescriber"]["provider_code"],
                         "pharmacist": receipt["pharmacist"]}
        n = 0
        for item in receipt["fee_items"]:
            n += 1
            yield "line_items", _pharmacy_line(visit, n, "pharmacy_fee", item, receipt)
        for item in receipt["drugs"]:
            n += 1
            yield "line_items", _pharmacy_line(visit, n, "pharmacy_drug", item, receipt)
        return
    receipt, statement = docs["medical_receipt"], docs["itemised_statement"]
    yield "visits", {**base, "department": receipt["department"], "diagnosis_codes": receipt["diagnosis_codes"],
                     "patient_category": receipt["patient_category"], "night": receipt["night"],
                     "holiday": receipt["holiday"], "inpatient_status": receipt.get("inpatient_status"),
                     "room": receipt.get("room"),
                     "receipt_number": receipt["receipt_number"], "statement_number": statement["statement_number"],
                     "issue_date": receipt["issue_date"], **_covered(receipt),
                     "ceiling_excess": receipt["totals"]["ceiling_excess"],
                     **_paid(receipt), "prescription_issue_number": None, "prescriber_provider_code": None,
                     "pharmacist": None}
    for n, line in enumerate(statement["lines"], start=1):
        yield "line_items", {"visit_id": visit.visit_id, "line_no": n, "item_type": "statement",
                             "category": line["category"], "date": line["date"], "code": line["code"],
                             "code_kind": line["code_kind"], "name": line["name"], "unit_price": line["unit_price"],
                             "quantity": line["quantity"], "days": line["days"], "total": line["total"],
                             "copay": line["copay"], "insurer": line["insurer"], "full_copay": line["full_copay"],
                             "non_covered": line["non_covered"], "big_three": line["big_three"], "dose": None,
                             "times_per_day": None}
    rx = docs.get("prescription")
    if rx is None:
        return
    yield "prescriptions", {"issue_number": rx["issue_number"], "visit_id": visit.visit_id,
                            "provider_code": visit.provider.code, "patient_id": patient.patient_id,
                            "issue_date": rx["issue_date"], "validity_days": rx["validity_days"],
                            "insurance_type": rx["insurance_type"], "diagnosis_codes": rx["diagnosis_codes"],
                            "prescriber_name": rx["prescriber"]["name"],
                            "prescriber_license_type": rx["prescriber"]["license_type"],
                            "prescriber_license_number": rx["prescriber"]["license_number"]}
    for n, med in enumerate(rx["medications"], start=1):
        yield "prescription_items", {"issue_number": rx["issue_number"], "item_no": n, "drug_code": med["drug_code"],
                                     "name": med["name"], "dose": med["dose"], "times_per_day": med["times_per_day"],
                                     "days": med["days"], "route": med["route"], "usage": med.get("usage")}


def _covered(receipt: dict[str, Any]) -> Row:
    """The visit's covered shares as HIRA rounds them; the lines keep their own split (끝처리 조정금액)."""
    return {"copay_total": receipt["totals"]["copay"], "insurer_total": receipt["totals"]["insurer"]}


def _paid(receipt: dict[str, Any]) -> Row:
    """What the patient paid, and the 감면액·할인 the amount due was lowered by (0 when none, pharmacies)."""
    p, discount = receipt["payment"], receipt["totals"].get("discount", {})
    return {"discount_covered": discount.get("covered", 0), "discount_non_covered": discount.get("non_covered", 0),
            "paid_card": p["card"], "paid_cash_receipt": p["cash_receipt"], "paid_cash": p["cash"]}


def _pharmacy_line(visit: Visit, n: int, item_type: str, item: dict[str, Any], receipt: dict[str, Any]) -> Row:
    drug = item_type == "pharmacy_drug"
    if drug:
        price, quantity = DRUGS[item["drug_code"]]["unit_price"], item["dose"] * item["times_per_day"]
        days = item["days"]
    else:
        price, quantity, days = item["amount"], 1, 1
    return {"visit_id": visit.visit_id, "line_no": n, "item_type": item_type, "category": None,
            "date": receipt["dispensing_date"], "code": item["drug_code"] if drug else item["code"],
            "code_kind": "drug" if drug else "edi", "name": item["name"], "unit_price": price,
            "quantity": quantity, "days": days, "total": item["amount"], "copay": item["copay"],
            "insurer": item["insurer"], "full_copay": 0, "non_covered": item["non_covered"], "big_three": None,
            "dose": item["dose"] if drug else None, "times_per_day": item["times_per_day"] if drug else None}


def csv_value(value: Any) -> Any:
    """Lists become ``|``-joined text, None an empty field, booleans ``true``/``false``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "|".join(value)
    return value


#: Columns that hold lists or booleans, by table (the csv module writes None as an empty field itself).
_SPECIAL = {table: tuple(i for i, c in enumerate(columns)
                         if c in ("departments", "doctors", "pharmacists", "diagnosis_codes", "night", "holiday"))
            for table, columns in TABLES.items()}


def csv_row(table: str, row: Row) -> list[Any]:
    """The CSV fields of ``row`` (fast path: only the list and boolean columns need converting)."""
    values = list(row.values())
    for i in _SPECIAL[table]:
        values[i] = csv_value(values[i])
    return values

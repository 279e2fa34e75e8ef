"""Rules across the documents of one bundle: statement ↔ receipt, prescription ↔ pharmacy receipt."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from ..codes import code_list, is_generic_code
from .pharmacy import last_dispensing_day
from .registry import Document, Violation, rule, won
from .rounding import COPAY_UNIT, adjustment_limit
from .statement import LINE_COLUMNS

BUNDLE = ("bundle",)


def _by_type(documents: list[Document], document_type: str) -> Iterator[tuple[int, Document]]:
    return ((i, d) for i, d in enumerate(documents) if d.get("document_type") == document_type)


def _receipts_by_number(documents: list[Document]) -> dict[tuple[str, str], tuple[int, Document]]:
    """Medical receipts by (issuing provider, receipt number): receipt numbers are unique per provider only."""
    return {(d["provider"]["provider_code"], d["receipt_number"]): (i, d)
            for i, d in _by_type(documents, "medical_receipt")}


def _receipt_key(statement: Document) -> tuple[str, str]:
    return statement["provider"]["provider_code"], statement["receipt_number"]


def _unreadable(documents: list[Document]) -> bool:
    """Whether a document failed the schema (it takes part as ``{}``): a missing partner may be that one."""
    return any(not d for d in documents)


def _prescriptions_by_number(documents: list[Document]) -> dict[str, tuple[int, Document]]:
    return {d["issue_number"]: (i, d) for i, d in _by_type(documents, "prescription")}


@rule("S24-DOC-014", "세부내역을 항목별로 더하면 영수증 금액과 같음",
      "Itemised lines add up, per category, to the receipt's rows", applies_to=BUNDLE, scope="bundle")
def statement_adds_up(documents: list[Document]) -> Iterator[Violation]:
    """Exact per category, except for the covered columns a 끝처리 조정금액 moved: there the rows differ from
    the lines by what the adjustment says in all, and by no more than truncation can move on any row."""
    receipts = _receipts_by_number(documents)
    for s_index, statement in _by_type(documents, "itemised_statement"):
        if _receipt_key(statement) not in receipts:
            continue
        r_index, receipt = receipts[_receipt_key(statement)]
        summed: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(LINE_COLUMNS, 0))
        counts: dict[str, int] = defaultdict(int)
        for line in statement["lines"]:
            counts[line["category"]] += 1
            for column in LINE_COLUMNS:
                summed[line["category"]][column] += line[column]
        adjustment = statement.get("bottom_rows", {}).get("adjustment", {})
        unit = COPAY_UNIT.get(statement["setting"], 100)
        rows = {row["code"]: row["amounts"] for row in receipt["rows"]}
        differences: dict[str, int] = defaultdict(int)
        for code in sorted(set(rows) | set(summed)):
            row = rows.get(code, dict.fromkeys(("copay", "insurer", "full_copay", "selective", "non_covered"), 0))
            lines = summed.get(code, dict.fromkeys(LINE_COLUMNS, 0))
            expected = {"copay": row["copay"], "insurer": row["insurer"], "full_copay": row["full_copay"],
                        "non_covered": row["selective"] + row["non_covered"]}
            for column in LINE_COLUMNS:
                differences[column] += expected[column] - lines[column]
                allowed = adjustment_limit(unit, counts[code]) if adjustment.get(column) else 0
                if abs(lines[column] - expected[column]) > allowed:
                    yield Violation(f"/documents/{s_index}/lines",
                                    f"세부내역 {code} 항목의 {column} 합 {won(lines[column])}이 "
                                    f"영수증 {receipt['receipt_number']}의 "
                                    f"{won(expected[column])}과 다릅니다",
                                    f"itemised lines of {code}, column {column}, add up to {lines[column]} but "
                                    f"receipt {receipt['receipt_number']} says {expected[column]}")
        for column in LINE_COLUMNS:
            moved = adjustment.get(column, 0)
            if adjustment.get(column) and differences[column] != moved:
                lines_sum = sum(lines[column] for lines in summed.values())
                yield _adjustment_disagrees(Gap(column, moved, lines_sum, lines_sum + differences[column],
                                                _receipt_total(receipt, column)), s_index, r_index, receipt)


@dataclass(frozen=True, slots=True)
class Gap:
    """One column where the statement's rounding adjustment does not separate its lines from the receipt's rows."""

    column: str
    moved: int  # the statement's 끝처리 조정금액
    lines: int  # the statement's lines, summed
    rows: int  # the receipt's rows[], summed (non_covered: selective + non_covered)
    total: int | None  # the receipt's totals for the column, None when it has none


#: The receipt's fields that a statement column is compared with.
_RECEIPT_FIELD = {"non_covered": "selective + non_covered"}


def _receipt_total(receipt: Document, column: str) -> int | None:
    totals = receipt.get("totals", {})
    names = ("selective", "non_covered") if column == "non_covered" else (column,)
    values = [totals.get(name) for name in names]
    return sum(values) if all(isinstance(v, int) for v in values) else None


def _adjustment_disagrees(gap: Gap, s_index: int, r_index: int, receipt: Document) -> Violation:
    """The finding for ``gap``, blaming the document the receipt's own totals contradict.

    Three numbers, two documents: the receipt's totals side with the statement (lines + adjustment) when the
    rows left the adjustment out, so the rows are wrong; they side with the rows when the statement's
    adjustment is wrong; otherwise neither is singled out and both documents' values are named.
    """
    number, column = receipt["receipt_number"], gap.column
    field = _RECEIPT_FIELD.get(column, column)
    stated = gap.lines + gap.moved
    if gap.total == stated:
        return Violation(f"/documents/{r_index}/rows",
                         f"영수증 {number}의 rows[] {field} 합 {won(gap.rows)}이 영수증 totals({won(gap.total)})와 "
                         f"세부내역서(줄 합 {won(gap.lines)} + 끝처리 조정금액 {won(gap.moved)})가 함께 말하는 "
                         f"{won(stated)}과 다릅니다: 끝처리 조정금액을 영수증 rows[]의 {field}에 나누어 반영하십시오",
                         f"receipt {number}'s rows[] add up to {gap.rows} in {field}, but its totals ({gap.total}) "
                         f"and the statement (lines {gap.lines} + rounding adjustment {gap.moved}) both make "
                         f"{stated}: spread the rounding adjustment over the receipt's rows[] ({field})")
    pointer = f"/documents/{s_index}/bottom_rows/adjustment/{column}"
    if gap.total == gap.rows == gap.lines:
        # The receipt is the plain sum of the lines, as a connector that forgot HIRA's truncation writes it: the
        # likelier error, though a statement may also carry an adjustment it should not (both are said).
        return Violation(f"/documents/{r_index}/totals" + ("" if column == "non_covered" else f"/{column}"),
                         f"영수증 {number}의 {field}(rows[]와 totals 모두 {won(gap.rows)})가 세부내역 줄의 단순 합인데 "
                         f"세부내역서는 끝처리 조정금액 {won(gap.moved)}을 둡니다: 심평원 끝처리를 거친 내원 금액 "
                         f"{won(stated)}을 영수증 totals에 적고 rows[]에 나누어 반영하십시오 (세부내역서가 틀렸다면 그 "
                         f"조정금액이 0이어야 합니다)",
                         f"receipt {number}'s {field} (rows[] and totals both {gap.rows}) is the plain sum of the "
                         f"statement's lines, while the statement carries a rounding adjustment of {gap.moved}: put "
                         f"the visit's amount after HIRA truncation ({stated}) in the receipt's totals and spread it "
                         f"over its rows[] (if the statement is the one in error, its adjustment must be 0)")
    if gap.total == gap.rows:
        return Violation(pointer,
                         f"세부내역서의 끝처리 조정금액 {column} {won(gap.moved)}이 영수증 {number}"
                         f"(rows[]와 totals 모두 {won(gap.rows)})과 세부내역 줄 합 {won(gap.lines)}의 차이 "
                         f"{won(gap.rows - gap.lines)}과 다릅니다",
                         f"the statement's rounding adjustment {column} is {gap.moved}, but receipt {number} (rows[] "
                         f"and totals both {gap.rows}) differs from the statement's lines ({gap.lines}) by "
                         f"{gap.rows - gap.lines}")
    totals_ko = f", totals {won(gap.total)}" if gap.total is not None else ""
    totals_en = f", totals {gap.total}" if gap.total is not None else ""
    return Violation(pointer,
                     f"영수증 {number}과 세부내역서가 {field}에서 맞지 않습니다: 영수증 rows[] 합 {won(gap.rows)}"
                     f"{totals_ko}, 세부내역서 줄 합 {won(gap.lines)} + 끝처리 조정금액 {won(gap.moved)} = "
                     f"{won(stated)}",
                     f"receipt {number} and its itemised statement disagree on {field}: the receipt's rows[] add "
                     f"up to {gap.rows}{totals_en}, the statement's lines {gap.lines} + rounding adjustment "
                     f"{gap.moved} = {stated}")


@rule("S24-DOC-015", "세부내역서는 같은 내원의 영수증을 가리킴",
      "An itemised statement points at the receipt of the same visit", applies_to=BUNDLE, scope="bundle")
def statement_links_receipt(documents: list[Document]) -> Iterator[Violation]:
    receipts = _receipts_by_number(documents)
    # Statements asked for alone (a request for more documents) come without receipts: nothing to match.
    issuers = {code for code, _ in receipts}
    for s_index, statement in _by_type(documents, "itemised_statement"):
        found = receipts.get(_receipt_key(statement))
        if found is None:
            if statement["provider"]["provider_code"] in issuers and not _unreadable(documents):
                number = statement["receipt_number"]
                yield Violation(f"/documents/{s_index}/receipt_number",
                                f"세부내역서가 가리키는 영수증 {number}이(가) 함께 보낸 서류에 없습니다: "
                                "세부내역서는 같은 내원의 진료비 영수증과 함께 보내십시오",
                                f"receipt {number}, which the statement points at, is not among the documents sent "
                                "with it: send an itemised statement together with the receipt of the same visit")
            continue
        _, receipt = found
        for field in ("visit_id", "setting", "treatment_period"):
            if statement[field] != receipt[field]:
                yield Violation(f"/documents/{s_index}/{field}",
                                f"세부내역서의 {field}이(가) 영수증 {statement['receipt_number']}과 다릅니다",
                                f"the statement's {field} differs from receipt {statement['receipt_number']}")


@rule("S24-DOC-022", "약제비 영수증의 교부번호·처방기관은 처방전과 일치",
      "A pharmacy receipt's issue number and prescriber match its prescription", applies_to=BUNDLE,
      scope="bundle")
def pharmacy_links_prescription(documents: list[Document]) -> Iterator[Violation]:
    prescriptions = _prescriptions_by_number(documents)
    if not prescriptions:
        return
    for index, receipt in _by_type(documents, "pharmacy_receipt"):
        number = receipt["prescription_issue_number"]
        if number not in prescriptions:
            yield Violation(f"/documents/{index}/prescription_issue_number",
                            f"교부번호 {number}의 처방전이 묶음에 없습니다",
                            f"no prescription with issue number {number} in the bundle")
            continue
        _, prescription = prescriptions[number]
        if receipt["prescriber"]["provider_code"] != prescription["provider"]["provider_code"]:
            yield Violation(f"/documents/{index}/prescriber/provider_code",
                            "처방기관 요양기관기호가 처방전 발행기관과 다릅니다",
                            "the prescriber's provider code differs from the prescription's issuer")


@rule("S24-DOC-023", "조제 약품은 처방전의 약품이며 사용기간 안에 조제",
      "Dispensed drugs come from the prescription, within its validity", applies_to=BUNDLE, scope="bundle")
def pharmacy_drugs_prescribed(documents: list[Document]) -> Iterator[Violation]:
    prescriptions = _prescriptions_by_number(documents)
    for index, receipt in _by_type(documents, "pharmacy_receipt"):
        found = prescriptions.get(receipt["prescription_issue_number"])
        if found is None:
            continue
        _, prescription = found
        last = last_dispensing_day(prescription)
        if not prescription["issue_date"] <= receipt["dispensing_date"] <= last:
            yield Violation(f"/documents/{index}/dispensing_date",
                            f"조제일 {receipt['dispensing_date']}이 "
                            f"처방전 사용기간 {prescription['issue_date']}~{last} "
                            "밖입니다",
                            f"dispensed on {receipt['dispensing_date']}, outside the prescription's validity "
                            f"{prescription['issue_date']}..{last}")
        prescribed = {m["drug_code"] for m in prescription["medications"]}
        generic = {code for code in prescribed if is_generic_code(code)}
        for i, drug in enumerate(receipt["drugs"]):
            if not _fills(drug["drug_code"], prescribed, generic):
                yield Violation(f"/documents/{index}/drugs/{i}/drug_code",
                                f"약품 {drug['drug_code']}({drug['name']})은(는) 처방전에 없습니다",
                                f"drug {drug['drug_code']} ({drug['name']}) is not on the prescription")


def _fills(product: str, prescribed: set[str], generic: set[str]) -> bool:
    """Whether a dispensed product fills the prescription: prescribed by its code, or by its 일반명코드. A product
    the kit's list does not know may fill a generic-name line: the kit cannot tell its ingredient (docs/domain.md
    §2.3)."""
    if product in prescribed:
        return True
    entry = code_list("drugs").get(product)
    return bool(generic) and (entry is None or entry["generic_code"] in generic)


def _label(doc: Document) -> str:
    """A document named by its type and number, never by its patient."""
    number = doc.get("statement_number") or doc.get("receipt_number") or doc.get("issue_number") or "?"
    return f"{doc['document_type']} {number}"


def _same_text(a: str, b: str) -> bool:
    # An NFD name is S24-DOC-030's finding, not another patient.
    return unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b)


@rule("S24-DOC-017", "함께 보낸 서류는 모두 한 환자의 것 (성명, 생년월일, 주민등록번호)",
      "The documents sent together belong to one patient (name, birth date, masked number)",
      applies_to=BUNDLE, scope="bundle")
def one_patient(documents: list[Document]) -> Iterator[Violation]:
    # Messages name the document to compare with (type and number), never the person: reports are handed on.
    first_name: tuple[str, str] | None = None
    first_number: tuple[str, str] | None = None
    for index, doc in enumerate(documents):
        patient = doc.get("patient")
        if not patient:
            continue
        if first_name is None:
            first_name = _label(doc), patient["name"]
        elif not _same_text(patient["name"], first_name[1]):
            yield Violation(f"/documents/{index}/patient/name",
                            f"환자 성명이 {first_name[0]}의 환자와 다릅니다: "
                            "한 묶음에는 한 환자의 서류만 넣으십시오",
                            f"the patient's name differs from that of {first_name[0]}: send one patient's "
                            "documents together")
        number = patient.get("resident_number_masked")
        if number is None:
            continue
        if first_number is None:
            first_number = _label(doc), number
        elif number != first_number[1]:
            what_ko, what_en = (("생년월일", "birth date") if number[:6] != first_number[1][:6]
                                else ("주민등록번호 7번째 자리", "7th digit of the resident number"))
            yield Violation(f"/documents/{index}/patient/resident_number_masked",
                            f"{what_ko}가 {first_number[0]}의 환자와 다릅니다: "
                            "한 묶음에는 한 환자의 서류만 넣으십시오",
                            f"the {what_en} differs from that of {first_number[0]}: send one patient's "
                            "documents together")


@rule("S24-DOC-018", "묶음의 요양기관기호는 모든 서류의 발행기관 요양기관기호와 같음",
      "The bundle's provider code equals every document's provider code", applies_to=BUNDLE, scope="envelope")
def bundle_provider(bundle: Document) -> Iterator[Violation]:
    code = bundle.get("provider_code")
    if not isinstance(code, str):
        return  # the schema reports a missing or malformed provider_code
    for index, doc in enumerate(bundle["documents"]):
        issuer = doc.get("provider", {}).get("provider_code")
        if issuer is not None and issuer != code:
            yield Violation(f"/documents/{index}/provider/provider_code",
                            f"서류 발행기관의 요양기관기호 {issuer}가 묶음의 provider_code {code}와 다릅니다: "
                            "각 요양기관은 자기가 발행한 서류만 보냅니다",
                            f"the document's provider code {issuer} differs from the bundle's provider_code {code}: "
                            "a provider sends only the documents it issued")

"""Rules every document obeys: text encoding, masked identities, whole won, identifiers, code lists."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ..codes import code_list, is_generic_code, products_by_generic_code
from ..identifiers import FULL_RRN, FULL_RRN_SCAN, is_valid_business_number
from .registry import Document, Violation, rule, schema_rule

ALL = ("medical_receipt", "itemised_statement", "prescription", "pharmacy_receipt")
#: The only fields where a fraction is meaningful (half a tablet); every other number is won or a count.
FRACTIONAL_FIELDS = frozenset({"quantity", "dose"})


def walk(value: Any, pointer: str = "", key: str | None = None) -> Iterator[tuple[str, str | None, Any]]:
    """Every scalar as (JSON Pointer, the key it sits under, value)."""
    if isinstance(value, dict):
        for k, item in value.items():
            yield from walk(item, f"{pointer}/{_escape(str(k))}", k)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk(item, f"{pointer}/{i}")
    else:
        yield pointer, key, value


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True, slots=True)
class Scan:
    """What the text and number rules need of a document, gathered in one walk."""

    text: str  # every string value of the document, one per line
    long_text: str  # the string values long enough to hold a full resident number, one per line
    has_float: bool


#: The fewest characters a full resident number takes (YYMMDD and seven digits, no hyphen): shorter strings
#: need no resident-number search.
_RRN_LENGTH = 13
#: The document being validated and its scan, so the rules that read every string share one walk.
_SCANNED: ContextVar[tuple[Any, Scan | None] | None] = ContextVar("s24kit_scanned", default=None)


def _scan(value: Any) -> Scan:
    texts: list[str] = []
    long_texts: list[str] = []
    has_float = False
    add, add_long = texts.append, long_texts.append
    pending: list[Any] = [[value]]  # a loop, not recursion: a hostile document may nest deeper than Python's stack
    push, pop = pending.append, pending.pop
    while pending:
        item = pop()
        for member in item.values() if isinstance(item, dict) else item:
            kind = type(member)  # the exact types json.loads makes first, without a call
            if kind is str:
                add(member)
                if len(member) >= _RRN_LENGTH:
                    add_long(member)
            elif kind is int:
                continue
            elif kind is dict or kind is list:
                push(member)
            elif kind is float:
                has_float = True
            elif kind is not bool and member is not None:  # a subclass: judged by what it is an instance of
                if isinstance(member, str):
                    push([str(member)])
                elif isinstance(member, dict | list):
                    push(member)
                elif isinstance(member, float):
                    has_float = True
    return Scan("\n".join(texts), "\n".join(long_texts), has_float)


def scan(doc: Any) -> Scan:
    """``doc``'s :class:`Scan`, computed once per :class:`scanning` block (else each time)."""
    held = _SCANNED.get()
    if held is None or held[0] is not doc:
        return _scan(doc)
    if held[1] is None:
        held = (doc, _scan(doc))
        _SCANNED.set(held)
    return held[1]


class scanning:  # a context manager, named like contextlib's
    """Share one :func:`scan` of ``doc`` among the rules run inside the ``with`` block."""

    __slots__ = ("_doc", "_token")

    def __init__(self, doc: Any) -> None:
        self._doc = doc

    def __enter__(self) -> None:
        self._token = _SCANNED.set((self._doc, None))

    def __exit__(self, *_: object) -> None:
        _SCANNED.reset(self._token)


@rule("S24-DOC-030", "한글 등 모든 문자열은 UTF-8 NFC 정규화", "All text is NFC-normalised",
      applies_to=ALL, needs_valid_shape=False)
def nfc_text(doc: Document) -> Iterator[Violation]:
    if unicodedata.is_normalized("NFC", scan(doc).text):
        return
    for pointer, _, value in walk(doc):
        if isinstance(value, str) and not unicodedata.is_normalized("NFC", value):
            yield Violation(pointer, f"문자열 '{unicodedata.normalize('NFC', value)}'이(가) "
                                     "NFC로 정규화되어 있지 않습니다 "
                                     "(자모 분리형 NFD 등)",
                            f"text {value!r} is not NFC-normalised (e.g. decomposed NFD Hangul)")


@rule("S24-DOC-031", "주민등록번호는 마스킹(YYMMDD-G******)", "Resident numbers are masked (YYMMDD-G******)",
      applies_to=ALL, needs_valid_shape=False)
def masked_identity(doc: Document) -> Iterator[Violation]:
    if not FULL_RRN_SCAN.search(scan(doc).long_text):
        return
    for pointer, _, value in walk(doc):
        if isinstance(value, str) and FULL_RRN.search(value):
            yield Violation(pointer, "마스킹되지 않은 주민등록번호가 있습니다: "
                                     "뒷자리는 성별 숫자만 남기고 ******로 가리십시오",
                            "an unmasked resident registration number: keep only the gender digit and mask the rest "
                            "with ******")


@rule("S24-DOC-032", "금액·횟수는 정수 (원 단위)", "Money and counts are whole numbers (integer won)",
      applies_to=ALL, needs_valid_shape=False)
def whole_won(doc: Document) -> Iterator[Violation]:
    if not scan(doc).has_float:  # the common case, without building a pointer for every scalar
        return
    for pointer, key, value in walk(doc):
        if isinstance(value, float) and key not in FRACTIONAL_FIELDS:
            yield Violation(pointer, f"{value}: 금액과 횟수는 소수점 없는 정수로 보내야 합니다",
                            f"{value}: money and counts must be JSON integers (whole won), not decimals")


def _providers(doc: Document) -> Iterator[tuple[str, dict]]:
    yield "/provider", doc["provider"]
    if doc["document_type"] == "pharmacy_receipt":
        yield "/prescriber", doc["prescriber"]


@rule("S24-DOC-040", "사업자등록번호 검증번호", "Business registration number check digit", applies_to=ALL)
def business_number(doc: Document) -> Iterator[Violation]:
    number = doc["provider"].get("business_number")  # the prescription form does not print it
    if number is not None and not is_valid_business_number(number):
        yield Violation("/provider/business_number", f"사업자등록번호 {number}의 검증번호(마지막 자리)가 틀립니다",
                        f"business registration number {number} has a wrong check digit")


def _unknown(list_name: str, code: str, pointer: str, what_ko: str, what_en: str) -> Iterator[Violation]:
    if code not in code_list(list_name):
        yield Violation(pointer, f"{what_ko} '{code}'는 코드 목록(fixtures/codes/{list_name}.json)에 없습니다",
                        f"{what_en} {code!r} is not in the code list fixtures/codes/{list_name}.json")


schema_rule("S24-DOC-041", "요양기관기호는 숫자 8자리", "A provider code is 8 digits", applies_to=(*ALL, "bundle"))
schema_rule("S24-DOC-042", "상병코드는 KCD 형식(영문자 + 숫자 2자리, 선택적으로 . + 숫자 1~2자리)",
            "A diagnosis code has the KCD shape (letter, two digits, optional dot and one or two digits)",
            applies_to=("medical_receipt", "prescription"))
schema_rule("S24-DOC-043", "약품코드는 숫자 9자리", "A drug code is 9 digits",
            applies_to=("prescription", "pharmacy_receipt"))
schema_rule("S24-DOC-061", "일반명 처방의 약품코드는 HIRA 주성분코드 형식(숫자 6자리 + 투여경로 A~D + 제형 2자리)",
            "A generic-name prescription's drug code has the HIRA ingredient-code shape (6 digits, route A-D, "
            "2-character form)", applies_to=("prescription",))


@rule("S24-DOC-050", "요양기관 종별코드는 코드 목록에 있어야 함", "Facility type is a known code", applies_to=ALL)
def known_facility_type(doc: Document) -> Iterator[Violation]:
    for pointer, provider in _providers(doc):
        yield from _unknown("facility-types", provider["facility_type"], f"{pointer}/facility_type",
                            "요양기관 종별코드", "facility type")


@rule("S24-DOC-051", "진료과목 코드는 코드 목록에 있어야 함", "Department is a known code",
      applies_to=("medical_receipt",))
def known_department(doc: Document) -> Iterator[Violation]:
    yield from _unknown("departments", doc["department"], "/department", "진료과목 코드", "department")


@rule("S24-DOC-052", "환자구분(보험 구분)은 코드 목록에 있어야 함", "Patient category is a known code",
      applies_to=ALL)
def known_patient_category(doc: Document) -> Iterator[Violation]:
    key = "insurance_type" if doc["document_type"] == "prescription" else "patient_category"
    yield from _unknown("patient-categories", doc[key], f"/{key}", "환자구분", "patient category")


@rule("S24-DOC-053", "영수증 항목·세부내역 항목 코드는 코드 목록에 있어야 함",
      "Receipt row and itemised category codes are known", applies_to=("medical_receipt", "itemised_statement"))
def known_rows(doc: Document) -> Iterator[Violation]:
    if doc["document_type"] == "medical_receipt":
        for i, row in enumerate(doc["rows"]):
            yield from _unknown("receipt-rows", row["code"], f"/rows/{i}/code", "영수증 항목 코드", "receipt row")
    else:
        for i, line in enumerate(doc["lines"]):
            yield from _unknown("receipt-rows", line["category"], f"/lines/{i}/category", "항목 코드", "category")


@rule("S24-DOC-054", "약국 조제료 코드는 코드 목록에 있어야 함", "Pharmacy fee codes are known",
      applies_to=("pharmacy_receipt",))
def known_fees(doc: Document) -> Iterator[Violation]:
    for i, item in enumerate(doc["fee_items"]):
        yield from _unknown("pharmacy-fees", item["code"], f"/fee_items/{i}/code", "조제료 코드", "pharmacy fee")


@rule("S24-DOC-055", "상병코드는 키트 KCD 목록에 있어야 함(권고)", "Diagnosis codes are in the kit's KCD list",
      applies_to=("medical_receipt", "prescription"), severity="warning")
def known_diagnoses(doc: Document) -> Iterator[Violation]:
    for i, code in enumerate(doc.get("diagnosis_codes", ())):
        yield from _unknown("kcd", code, f"/diagnosis_codes/{i}", "상병코드", "KCD code")


@rule("S24-DOC-056", "약품코드는 키트 약품 목록에 있어야 함(권고)", "Drug codes are in the kit's drug list",
      applies_to=("prescription", "pharmacy_receipt", "itemised_statement"), severity="warning")
def known_drugs(doc: Document) -> Iterator[Violation]:
    if doc["document_type"] == "itemised_statement":
        items = ((f"/lines/{i}/code", line["code"]) for i, line in enumerate(doc["lines"])
                 if line["code_kind"] == "drug")
    else:
        key = "medications" if doc["document_type"] == "prescription" else "drugs"
        items = ((f"/{key}/{i}/drug_code", item["drug_code"]) for i, item in enumerate(doc[key]))
    for pointer, code in items:
        if is_generic_code(code):  # a generic-name prescription: the kit's list knows its products' 주성분코드
            if code not in products_by_generic_code():
                yield Violation(pointer, f"일반명코드 {code}이(가) 키트 약품 목록에 없습니다",
                                f"generic drug code {code} is not in the kit's drug list")
            continue
        yield from _unknown("drugs", code, pointer, "약품코드", "drug code")


def _domestic(provider: dict) -> bool:
    """Only Korean providers hold a 요양기관기호; treatment abroad carries another country."""
    return provider.get("country", "KR") == "KR"


@rule("S24-DOC-057", "요양기관 종별코드가 요양기관기호의 종별 자리(셋째 자리)와 맞음",
      "The facility type agrees with the type digit (third digit) of the provider code", applies_to=ALL)
def facility_type_matches_code(doc: Document) -> Iterator[Violation]:
    types = code_list("facility-types")
    for pointer, provider in _providers(doc):
        kind, code = provider.get("facility_type"), provider["provider_code"]
        if kind not in types or not _domestic(provider):
            continue  # an unknown type is S24-DOC-050's finding
        expected = types[kind]["code_digit"]
        if code[2] != expected:
            fits = sorted(c for c, entry in types.items() if entry["code_digit"] == code[2])
            yield Violation(f"{pointer}/facility_type",
                            f"종별코드 {kind}({types[kind]['ko']})의 요양기관기호는 셋째 자리가 {expected}인데 "
                            f"{code}는 {code[2]}입니다 "
                            f"(셋째 자리 {code[2]}에 맞는 종별: {', '.join(fits) or '없음'}): "
                            "종별코드가 본인부담·공제 구분을 정하므로 요양기관 정보를 확인하십시오",
                            f"facility type {kind} ({types[kind]['en']}) has provider codes with third digit "
                            f"{expected}, but {code} has {code[2]} "
                            f"(types with {code[2]}: {', '.join(fits) or 'none'}); "
                            "the facility type sets the copay and deductible tier, so check the provider record")


def _is_pharmacy(provider: dict) -> bool:
    entry = code_list("facility-types").get(provider.get("facility_type", ""))
    return entry is not None and entry["tier"] == "pharmacy"


@rule("S24-DOC-058", "약제비 영수증은 약국만 발행하고 약국은 다른 서류를 발행하지 않음",
      "Pharmacy receipts come only from pharmacies, and pharmacies issue no other document", applies_to=ALL)
def pharmacy_documents_from_pharmacies(doc: Document) -> Iterator[Violation]:
    provider = doc["provider"]
    if doc["document_type"] == "pharmacy_receipt":
        if not _is_pharmacy(provider):
            yield Violation("/provider/facility_type",
                            f"약제비 영수증의 발행기관 종별코드가 약국(81)이 아닌 {provider['facility_type']}입니다",
                            f"a pharmacy receipt is issued by a pharmacy (81), not facility type "
                            f"{provider['facility_type']}")
        if _is_pharmacy(doc["prescriber"]):
            yield Violation("/prescriber/facility_type",
                            "처방기관이 약국일 수 없습니다: 처방전을 발행한 의료기관을 적으십시오",
                            "the prescriber cannot be a pharmacy: name the care provider that issued the prescription")
    elif _is_pharmacy(provider):
        yield Violation("/provider/facility_type",
                        f"약국(81)은 {doc['document_type']} 서류를 발행하지 않습니다: 발행 요양기관을 확인하십시오",
                        f"a pharmacy (81) does not issue a {doc['document_type']}: check the issuing provider")

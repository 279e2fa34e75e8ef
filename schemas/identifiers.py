"""Korean identifiers used by kit-v1 documents: formats and check digits (docs/domain.md §3)."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

PROVIDER_CODE = re.compile(r"^[0-9]{8}$")
BUSINESS_NUMBER = re.compile(r"^[0-9]{3}-[0-9]{2}-[0-9]{5}$")
MASKED_RRN = re.compile(r"^[0-9]{6}-[1-8]\*{6}$")
#: A resident number with its last six digits present, with or without the hyphen.
FULL_RRN = re.compile(r"(?<![0-9])[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])-?[1-8][0-9]{6}(?![0-9])")
#: The same numbers as FULL_RRN, found from their month on (a 0 or 1, which a scan skips to quickly; the year
#: is looked back for): 2-3x faster over digit-dense JSON, for "is there any?" scans of whole texts.
FULL_RRN_SCAN = re.compile(r"(?:0[1-9]|1[0-2])(?<=(?<![0-9])[0-9]{2}(?:0[1-9]|1[0-2]))(?:0[1-9]|[12][0-9]|3[01])-?"
                           r"[1-8][0-9]{6}(?![0-9])")
KCD_CODE = re.compile(r"^[A-Z][0-9]{2}(?:\.[0-9]{1,2})?$")
DRUG_CODE = re.compile(r"^[0-9]{9}$")
ISSUE_NUMBER = re.compile(r"^[0-9]{8}-[0-9]{5}$")

#: Synthetic 요양기관기호 start with this prefix; no real region code uses it, so they cannot collide.
SYNTHETIC_PROVIDER_PREFIX = "99"

_BRN_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)


def business_number_check_digit(first_nine: str) -> int:
    """Check digit of a 사업자등록번호 from its first nine digits."""
    digits = [int(c) for c in first_nine]
    total = sum(d * w for d, w in zip(digits, _BRN_WEIGHTS, strict=True))
    total += digits[8] * 5 // 10
    return (10 - total % 10) % 10


@lru_cache(maxsize=4096)  # one provider's number on every document it issues
def is_valid_business_number(value: str) -> bool:
    """True when ``value`` (with or without hyphens) has a correct 사업자등록번호 check digit."""
    digits = value.replace("-", "")
    if len(digits) != 10 or not digits.isdigit():
        return False
    return business_number_check_digit(digits[:9]) == int(digits[9])


def format_business_number(digits: str) -> str:
    """``1348672683`` → ``134-86-72683``."""
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


def mask_resident_number(birth_yymmdd: str, gender_digit: int) -> str:
    """The only resident-number form the kit ever emits: ``YYMMDD-G******``."""
    return f"{birth_yymmdd}-{gender_digit}******"


def century_of(gender_digit: str) -> int:
    """The century a resident number's 7th digit stands for: 1, 2, 5, 6 → 1900s; 3, 4, 7, 8 → 2000s; 9, 0 → 1800s."""
    return {"1": 1900, "2": 1900, "5": 1900, "6": 1900, "3": 2000, "4": 2000, "7": 2000, "8": 2000}.get(
        gender_digit, 1800)


@lru_cache(maxsize=4096)  # the same patient's number on every document of a visit
def birth_date_of(resident_number: str) -> date | None:
    """The birth date a (masked) resident number states: YYMMDD with the century of its 7th digit.

    ``None`` when the six digits and the century do not make a calendar date (``990230-1``, ``000229-1``).
    """
    if len(resident_number) < 8 or not resident_number[:6].isdigit() or resident_number[6] != "-":
        return None
    year = century_of(resident_number[7]) + int(resident_number[:2])
    try:
        return date(year, int(resident_number[2:4]), int(resident_number[4:6]))
    except ValueError:
        return None

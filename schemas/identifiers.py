"""Korean identifiers used by kit-v1 documents: formats and check digits (DOMAIN.md §3)."""

from __future__ import annotations

import re

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

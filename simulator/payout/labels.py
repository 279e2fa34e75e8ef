"""Words for the explanation lines: amounts, rates and tiers in Korean and English."""

from __future__ import annotations

from .tables import BP

TIER_KO = {"clinic": "의원", "hospital": "병원", "public_health": "보건기관", "general": "종합병원",
           "tertiary": "상급종합병원", "pharmacy": "약국"}
TIER_EN = {"clinic": "clinic", "hospital": "hospital", "public_health": "public health centre",
           "general": "general hospital", "tertiary": "tertiary hospital", "pharmacy": "pharmacy"}
KIND_KO = {"manual_therapy": "도수치료", "eswt": "체외충격파치료", "prolotherapy": "증식치료",
           "injection": "비급여 주사", "mri": "비급여 MRI"}
KIND_EN = {"manual_therapy": "Manual therapy", "eswt": "Shock-wave therapy (ESWT)", "prolotherapy": "Prolotherapy",
           "injection": "Non-covered injection", "mri": "Non-covered MRI"}


def wk(amount: int) -> str:
    """12,340원"""
    return f"{amount:,}원"


def we(amount: int) -> str:
    """12,340 won"""
    return f"{amount:,} won"


def pct(bp: int) -> str:
    """Basis points as a percentage without float noise: 2000 → '20%', 1250 → '12.5%'."""
    whole, rest = divmod(bp * 10_000 // BP, 100)  # bp * 10_000 // BP = hundredths of a percent
    return f"{whole}%" if not rest else f"{whole}.{rest:02d}".rstrip("0") + "%"


def ratio_pct(numerator: int, denominator: int) -> str:
    """A measured ratio (the NHI copay rate) to one decimal, truncated."""
    tenths = numerator * 1000 // denominator if denominator else 0
    return f"{tenths // 10}.{tenths % 10}%"

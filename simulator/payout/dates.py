"""Calendar arithmetic of the policy: contract anniversaries and the claim limitation period.

Day-count convention (민법 제157조 초일불산입, 제160조): a period in years starting from an event runs from
the next day and ends at the end of the day before the corresponding date, i.e. at the end of the same
calendar date N years later. A date that does not exist in the target year (29 February) moves to the
last day of February (제160조 ③).
"""

from __future__ import annotations

from datetime import date


def add_years(day: date, years: int) -> date:
    """The same calendar date ``years`` later; 29 February becomes 28 February in common years."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def policy_year_start(contract: date, day: date) -> date:
    """The contract anniversary (계약해당일) on or before ``day``: policy years do NOT start on 1 January."""
    years = day.year - contract.year
    start = add_years(contract, years)
    if start > day:
        start = add_years(contract, years - 1)
    return start


def last_claim_day(event: date, years: int) -> date:
    """Last day a claim for ``event`` can be made: the right lapses at the end of this day.

    The right arises on the treatment (or discharge, or dispensing) day; 초일불산입 starts the period the next
    day, so it ends with the same calendar date ``years`` later.
    """
    return add_years(event, years)

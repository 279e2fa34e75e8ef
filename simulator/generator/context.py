"""The read-only context every patient is drawn in (options, provider network, care kinds, generation mix).

The options themselves live in :mod:`.options` (re-exported here, where callers have always found them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .catalog import Kind
from .options import (
    DEFAULT_HARD_CASE_RATE,
    EARLIEST_DAY,
    MAX_PATIENTS,
    MAX_WINDOW_DAYS,
    SUPPORTED_PROVIDER_TYPES,
    OptionError,
    Options,
    check_code_fits_type,
    check_count,
    check_provider_type,
    type_of_code,
)
from .policies import GenerationMix
from .population import Network

__all__ = [
    "DEFAULT_HARD_CASE_RATE", "EARLIEST_DAY", "MAX_PATIENTS", "MAX_WINDOW_DAYS", "SUPPORTED_PROVIDER_TYPES",
    "Context", "OptionError", "Options", "check_code_fits_type", "check_count", "check_provider_type",
    "type_of_code",
]


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a patient is drawn from; the same in every worker for the same options."""

    options: Options
    network: Network
    kinds: tuple[Kind, ...]
    mix: GenerationMix

    @property
    def as_of(self) -> date:
        return self.options.as_of

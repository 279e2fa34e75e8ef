"""The one error type of the payout engine: bad input, named by field, with the fix, in Korean and English."""

from __future__ import annotations


class PayoutInputError(ValueError):
    """A policy, history, claim or rule table the engine cannot use.

    ``field`` names where the problem is (a JSON path or file), ``fix_ko``/``fix_en`` say what to do.
    """

    def __init__(self, field: str, message_ko: str, message_en: str, fix_ko: str = "", fix_en: str = "") -> None:
        self.field, self.message_ko, self.message_en = field, message_ko, message_en
        self.fix_ko, self.fix_en = fix_ko, fix_en
        super().__init__(self.message("en"))

    def message(self, lang: str = "ko") -> str:
        """One line: field, problem, fix."""
        if lang == "ko":
            return f"{self.field}: {self.message_ko}" + (f" — {self.fix_ko}" if self.fix_ko else "")
        return f"{self.field}: {self.message_en}" + (f" — {self.fix_en}" if self.fix_en else "")

    def bilingual(self) -> str:
        """The Korean line, then the English one, joined by ' / '."""
        return f"{self.message('ko')} / {self.message('en')}"


class TableError(PayoutInputError):
    """A rule table in fixtures/rules that does not follow the table format (fixtures/rules/README.md)."""

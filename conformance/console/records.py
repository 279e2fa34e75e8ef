"""What the record routes share with the pages and the API: the import, export, decision and evidence
actions over one connection, with their inputs checked (pages and API call the same functions)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from . import decisions, exporting, register
from .audit import Actor
from .csvformat import REGISTER_COLUMNS, RESULT_COLUMNS
from .validation import FieldError, check

EXPORT_FORMATS = ("csv", "xlsx")


@dataclass(frozen=True)
class Export:
    filename: str
    media_type: str
    body: bytes


def export_register(connection: Connection, values: dict[str, Any]) -> Export:
    """The register (as filtered by ``values``, a checked ``ExportQuery``) in ``values["format"]``."""
    fmt = values.get("format", "csv")
    rows = exporting.register_rows(connection, register.SiteFilter.of(values))
    if fmt == "xlsx":
        return Export("sites.xlsx", exporting.XLSX_TYPE, exporting.to_xlsx(rows, REGISTER_COLUMNS, "sites"))
    return Export("sites.csv", exporting.CSV_TYPE, exporting.to_csv(rows, REGISTER_COLUMNS))


def export_results(connection: Connection, values: dict[str, Any]) -> Export:
    """Every finished run (site checks and certifications) in ``values["format"]``."""
    rows = exporting.result_rows(connection)
    if values.get("format") == "xlsx":
        return Export("results.xlsx", exporting.XLSX_TYPE, exporting.to_xlsx(rows, RESULT_COLUMNS, "results"))
    return Export("results.csv", exporting.CSV_TYPE, exporting.to_csv(rows, RESULT_COLUMNS))


def decide(connection: Connection, actor: Actor, role: str, state_dir: Path, data: Any) -> dict[str, Any]:
    """A decision from a checked ``DecisionNew`` body (pages and API)."""
    values = check("DecisionNew", data)
    run = None
    if values.get("run_id") is not None:
        run = decisions.run_facts(connection, values["run_id"])
        if run is None:
            raise FieldError("run_id", f"run_id: 실행 {values['run_id']}가 없습니다",
                             f"run_id: no run {values['run_id']}")
    return decisions.decide(connection, actor, role, state_dir, subject_kind=values["subject_kind"],
                            subject_id=values["subject_id"], decision=values["decision"], reason=values["reason"],
                            run=run)

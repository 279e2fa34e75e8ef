"""Export the register and the results as CSV and XLSX, with the columns of :mod:`.csvformat`.

CSV is UTF-8 with a byte-order mark: Korean Excel opens a CSV without one as CP949 and shows mojibake. A cell
that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` …) is written with a leading apostrophe
in CSV (the importer takes it off again) and as plain text in XLSX, never as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy import Connection, select

from .csvformat import REGISTER_COLUMNS
from .db import as_utc
from .register import SiteFilter, list_sites
from .sitecsv import FORMULA_STARTS, REGION_NAMES
from .tables import product_versions, products, runs, sites, vendors

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE = 500  # sites read per query while exporting


def register_rows(connection: Connection, selection: SiteFilter) -> Iterator[dict[str, Any]]:
    """The sites ``selection`` picks, by provider code, as :data:`REGISTER_COLUMNS` values."""
    page = 1
    while True:
        found = list_sites(connection, selection, page=page, per_page=PAGE)
        for site in found.items:
            version = site.get("product_version") or {}
            yield {**{name: site.get(name) for name in REGISTER_COLUMNS},
                   "region": REGION_NAMES.get(site["region"], site["region"]),
                   "vendor": version.get("vendor"), "product": version.get("product"),
                   "product_version": version.get("version"), "version_state": version.get("state")}
        if page >= found.pages:
            return
        page += 1


def result_rows(connection: Connection, limit: int = 100_000) -> Iterator[dict[str, Any]]:
    """Every finished run, newest first, as :data:`RESULT_COLUMNS` values (the failed requirements listed)."""
    site_version = product_versions.alias("site_version")
    version_id = runs.c.product_version_id
    query = (select(runs, sites.c.provider_code, sites.c.name, vendors.c.name.label("vendor"),
                    products.c.name.label("product"), product_versions.c.version.label("product_version"))
             .outerjoin(sites, sites.c.id == runs.c.site_id)
             .outerjoin(site_version, site_version.c.id == sites.c.product_version_id)
             .outerjoin(product_versions, product_versions.c.id == _coalesce(version_id, site_version.c.id))
             .outerjoin(products, products.c.id == product_versions.c.product_id)
             .outerjoin(vendors, vendors.c.id == products.c.vendor_id)
             .where(runs.c.state.in_(("done", "failed"))).order_by(runs.c.id.desc()).limit(limit))
    for row in connection.execute(query):
        verdicts = (row.summary or {}).get("verdicts") or {}
        yield {"run_id": row.id, "kind": row.kind, "provider_code": row.provider_code, "name": row.name,
               "vendor": row.vendor, "product": row.product, "product_version": row.product_version,
               "state": row.state, "verdict": row.verdict,
               "started_at": _time(row.started_at), "finished_at": _time(row.finished_at),
               "failed_requirements": " ".join(sorted(r for r, v in verdicts.items() if v == "fail")),
               "evidence_sha256": row.evidence_sha256}


def _coalesce(*columns: Any) -> Any:
    from sqlalchemy import func

    return func.coalesce(*columns)


def _time(value: Any) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        cells = [_text(row.get(name)) for name in columns]
        writer.writerow(["'" + cell if cell.startswith(FORMULA_STARTS) else cell for cell in cells])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def to_xlsx(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], title: str) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.freeze_panes = "A2"
    header = []
    for name in columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append([_cell(sheet, row.get(name)) for name in columns])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _cell(sheet: Any, value: Any) -> Any:
    if value is None:
        return None
    cell = WriteOnlyCell(sheet, value=str(value))  # text only (docs/console.md §13): a run id too
    cell.data_type = "s"  # openpyxl would store "=…" as a formula; the register holds text only
    return cell

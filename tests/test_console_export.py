"""Exports: CSV (UTF-8 with BOM, formula cells escaped) and XLSX (text cells, never formulas), re-importable."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from s24kit.conformance.console.csvformat import FLEET_COLUMNS, REGISTER_COLUMNS, RESULT_COLUMNS
from s24kit.conformance.console.exporting import to_csv, to_xlsx
from s24kit.conformance.console.sitecsv import parse_sites

ROW = {"provider_code": "11390001", "name": "서울 하늘 의원", "facility_type": "31", "region": "서울특별시",
       "vendor": "가상의료정보", "product": "온누리EMR", "product_version": "3.2.1", "mode": "pull",
       "pull_url": "https://127.0.0.1:18443", "server_cert_sha256": "ab" * 32, "contact_name": "김담당",
       "contact_phone": "+82 2 1234 5678", "state": "accepted", "version_state": "certified"}


def test_csv_export_opens_in_korean_excel_and_imports_again():
    data = to_csv([ROW], REGISTER_COLUMNS)
    assert data.startswith(b"\xef\xbb\xbf")  # without a BOM Korean Excel reads CP949
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0] == ",".join(REGISTER_COLUMNS)
    assert "'+82 2 1234 5678" in text  # a spreadsheet would run +… as a formula
    only_import_columns = to_csv([ROW], FLEET_COLUMNS)
    (row,) = parse_sites(only_import_columns).rows
    assert row.values["contact_phone"] == "+82 2 1234 5678" and row.values["region"] == "11"


def test_a_formula_in_the_register_stays_text_in_both_formats():
    hostile = {**ROW, "name": '=HYPERLINK("http://evil.invalid","click")'}
    assert "'=HYPERLINK" in to_csv([hostile], REGISTER_COLUMNS).decode("utf-8-sig")
    sheet = load_workbook(io.BytesIO(to_xlsx([hostile], REGISTER_COLUMNS, "sites"))).active
    cell = sheet.cell(row=2, column=REGISTER_COLUMNS.index("name") + 1)
    assert cell.value == hostile["name"] and cell.data_type == "s"


def test_xlsx_export_has_the_header_and_every_row():
    rows = [{**ROW, "provider_code": f"1139{i:04d}"} for i in range(1, 251)]
    sheet = load_workbook(io.BytesIO(to_xlsx(rows, REGISTER_COLUMNS, "sites"))).active
    values = list(sheet.values)
    assert values[0] == REGISTER_COLUMNS and len(values) == 251
    assert values[-1][0] == "11390250" and values[1][1] == "서울 하늘 의원"


def test_xlsx_cells_are_text_only_numbers_too():
    row = {"run_id": 62, "kind": "site_check", "provider_code": "11390001", "verdict": "pass",
           "failed_requirements": ""}
    sheet = load_workbook(io.BytesIO(to_xlsx([row], RESULT_COLUMNS, "results"))).active
    cell = sheet.cell(row=2, column=RESULT_COLUMNS.index("run_id") + 1)
    assert cell.value == "62" and cell.data_type == "s"
    assert sheet.cell(row=2, column=RESULT_COLUMNS.index("provider_code") + 1).value == "11390001"
    assert sheet.cell(row=2, column=RESULT_COLUMNS.index("state") + 1).value is None  # an empty cell stays empty

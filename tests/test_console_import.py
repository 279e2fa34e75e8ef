"""Importing a sites CSV into the register (SQLite and PostgreSQL): every line or none, every bad line named."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from s24kit.conformance.console.audit import Actor
from s24kit.conformance.console.db import prepare
from s24kit.conformance.console.importing import import_sites
from s24kit.conformance.console.register import SiteFilter, list_sites
from s24kit.conformance.console.sitecsv import SitesRefused
from s24kit.conformance.console.tables import audit_log, product_versions, sites, vendors

from .test_console_sitecsv import csv_text, site

IMPORTER = Actor(None, "importer")


@pytest.fixture
def database(console_database, tmp_path):
    return prepare(console_database, state_dir=tmp_path)


def _import(database, data: bytes):
    with database.engine.begin() as connection:
        return import_sites(connection, IMPORTER, data)


def _count(database, table) -> int:
    with database.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_good_file_registers_every_site_with_its_product_version(database):
    data = csv_text(site("11390001"), site("11390002", vendor="SimHealth", product="SimChart",
                                          product_version="5.0.4", region="경기도")).encode("cp949")
    result = _import(database, data)
    assert (result.sites, result.encoding) == (2, "cp949")
    assert sorted(result.created_versions) == ["SimHealth/SimChart/5.0.4", "가상의료정보/온누리EMR/3.2.1"]
    with database.engine.connect() as connection:
        page = list_sites(connection, SiteFilter())
        assert [(s["provider_code"], s["region"], s["state"]) for s in page.items] == [
            ("11390001", "11", "applied"), ("11390002", "41", "applied")]
        assert page.items[1]["product_version"]["version"] == "5.0.4"
        actions = list(connection.execute(select(audit_log.c.action, audit_log.c.summary)))
    assert [a for a, _ in actions].count("site.import") == 2 and ("sites.import" in [a for a, _ in actions])
    for _, summary in actions:  # the contact is a person: masked in the audit log
        assert "EMR 담당" not in str(summary) and "02-1234-5678" not in str(summary)
    # a second file naming the same product version reuses it
    _import(database, csv_text(site("11390003")).encode())
    assert _count(database, product_versions) == 2 and _count(database, vendors) == 2


def test_one_bad_line_imports_nothing_and_every_bad_line_is_named(database):
    _import(database, csv_text(site("11390001")).encode())
    before = (_count(database, sites), _count(database, audit_log), _count(database, vendors))
    data = csv_text(site("11390002", vendor="NewVendor"), site("11390001"), site("11390003", mode="x"),
                    site("11390004")).encode()
    with pytest.raises(SitesRefused) as caught:
        _import(database, data)
    assert [(e.line, e.column) for e in caught.value.errors] == [(3, "provider_code"), (4, "mode")]
    assert "already registered" in caught.value.errors[0].message_en
    assert "이미 등록" in caught.value.errors[0].message_ko
    # nothing half-imported: no site of the good lines, no vendor named only by the refused file
    assert (_count(database, sites), _count(database, audit_log), _count(database, vendors)) == before


def test_a_large_file_is_imported_in_chunks(database):
    rows = [site(f"2{i:07d}") for i in range(2_500)]
    assert _import(database, csv_text(*rows).encode()).sites == 2_500
    assert _count(database, sites) == 2_500


def test_a_failure_while_writing_leaves_nothing_behind(database, monkeypatch):
    from s24kit.conformance.console import importing

    _import(database, csv_text(site("11390001")).encode())
    before = (_count(database, sites), _count(database, audit_log), _count(database, vendors))
    # as if another writer registered 11390001 between the check and the insert
    monkeypatch.setattr(importing, "_registered_codes", lambda connection, codes: set())
    monkeypatch.setattr(importing, "CHUNK", 1)  # the duplicate comes in a later statement than the first site
    data = csv_text(site("11390009", vendor="NewVendor"), site("11390001")).encode()
    with pytest.raises(SitesRefused) as caught:
        _import(database, data)
    assert "import again" in caught.value.errors[0].message_en
    assert (_count(database, sites), _count(database, audit_log), _count(database, vendors)) == before

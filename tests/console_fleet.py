"""Helpers for the console's run tests: a simulated fleet registered in a console database."""

from __future__ import annotations

from sqlalchemy import update

from s24kit.conformance.console import register
from s24kit.conformance.console.audit import SYSTEM
from s24kit.conformance.console.db import Database
from s24kit.conformance.console.executor import RunSettings
from s24kit.conformance.console.tables import product_versions
from s24kit.simulator.fleet import Fleet


def register_fleet(database: Database, fleet: Fleet, *, state: str = "applied") -> dict[str, int]:
    """Vendors, products, versions (the fleet's certified ones certified) and every site; provider code → site id."""
    ids: dict[str, int] = {}
    with database.engine.begin() as connection:
        vendors, products, versions = {}, {}, {}
        for site in fleet.sites:
            if site.vendor not in vendors:
                vendors[site.vendor] = register.create_vendor(connection, SYSTEM, {"name": site.vendor})["id"]
            key = (site.vendor, site.product)
            if key not in products:
                products[key] = register.create_product(connection, SYSTEM, {
                    "vendor_id": vendors[site.vendor], "name": site.product})["id"]
            if site.product_triple not in versions:
                versions[site.product_triple] = register.create_version(connection, SYSTEM, {
                    "product_id": products[key], "version": site.product_version})["id"]
            created = register.create_site(connection, SYSTEM, {
                "provider_code": site.provider_code, "name": site.name, "facility_type": site.facility_type,
                "region": site.region, "product_version_id": versions[site.product_triple], "mode": "pull",
                "pull_url": site.url, "server_cert_sha256": site.server_cert_sha256})
            ids[site.provider_code] = created["id"]
        for triple in fleet.certified & set(versions):
            connection.execute(update(product_versions).where(product_versions.c.id == versions[triple])
                               .values(state="certified"))
        if state != "applied":
            from s24kit.conformance.console.tables import sites

            connection.execute(update(sites).values(state=state))
    return ids


def run_settings(fleet: Fleet, tmp_path) -> RunSettings:
    return RunSettings(fleet.options.state_dir, fleet.scenario, tmp_path / "runs")

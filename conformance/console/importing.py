"""Import a sites CSV into the register: every line or none.

Everything is checked before anything is written — each line by :mod:`.sitecsv`, then against the register
(a provider code already registered) and the console's own request schema for a new site — and every
problem is reported with its line and column. Then, in the caller's transaction, the vendors, products and
versions the file names are found or created, and the sites are inserted in bulk with one audit entry each
(persons masked) and one for the import. A failure anywhere rolls the whole import back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from . import audit
from .audit import Actor
from .db import now
from .sitecsv import LineError, ParsedSites, SiteRow, SitesRefused, read_sites
from .tables import audit_log, product_versions, products, sites, vendors
from .validation import FieldError, check

CHUNK = 1_000  # rows per statement: large enough to be fast, small enough for every driver's parameter limit
SITE_FIELDS = ("provider_code", "name", "facility_type", "region", "mode", "pull_url", "server_cert_sha256",
               "agent_source_ip", "agent_cert_sha256", "contact_name", "contact_phone")


@dataclass
class ImportResult:
    sites: int
    encoding: str
    sha256: str
    created_versions: list[str] = field(default_factory=list)  # "vendor/product/version" made by this import
    ignored_columns: list[str] = field(default_factory=list)  # an export's read-only columns, not imported

    @property
    def notes(self) -> list[dict[str, str]]:
        """What the import did not take from the file, in Korean and English."""
        if not self.ignored_columns:
            return []
        names = ", ".join(self.ignored_columns)
        return [{"message_ko": f"읽기 전용 열 {names}은(는) 무시했습니다. 사이트는 신청(applied) 상태로, "
                               f"새 제품 버전은 미인증으로 등록됩니다",
                 "message_en": f"the read-only columns {names} were ignored: sites are registered as applied, "
                               f"new product versions as uncertified"}]

    def as_json(self) -> dict[str, Any]:
        return {"imported": self.sites, "encoding": self.encoding, "sha256": self.sha256,
                "created_product_versions": self.created_versions, "ignored_columns": self.ignored_columns,
                "notes": self.notes}


def import_sites(connection: Connection, actor: Actor, data: bytes) -> ImportResult:
    """Import ``data`` (the file's bytes) inside the caller's transaction; :class:`SitesRefused` lists every
    reason when any line is bad, and nothing has been written then."""
    parsed, errors = read_sites(data)
    registered = _registered_codes(connection, [row.values["provider_code"] or "" for row in parsed.rows])
    new_sites: list[tuple[SiteRow, dict[str, Any]]] = []
    for row in parsed.rows:
        code = row.values["provider_code"] or ""
        if code in registered:
            errors.add(row.line, "provider_code", f"요양기관기호 {code}는 이미 등록되어 있습니다",
                       f"provider code {code} is already registered")
            continue
        values = {name: row.values[name] for name in SITE_FIELDS if row.values[name] is not None}
        try:
            check("SiteNew", {**values, "product_version_id": 1})  # the id is resolved below, after all checks
        except FieldError as problem:
            errors.add(row.line, problem.field, problem.message_ko, problem.message_en)
            continue
        new_sites.append((row, values))
    if errors:
        raise errors.refuse()

    try:
        return _write(connection, actor, data, parsed, new_sites)
    except IntegrityError:  # a writer registered one of these codes between our check and our insert
        raise SitesRefused([LineError(
            1, "file", "가져오는 동안 다른 사용자가 같은 요양기관기호를 등록했습니다. 다시 가져오십시오",
            "someone registered one of these provider codes meanwhile; import again")]) from None


def _write(connection: Connection, actor: Actor, data: bytes, parsed: ParsedSites,
           new_sites: list[tuple[SiteRow, dict[str, Any]]]) -> ImportResult:
    with connection.begin_nested():
        created: list[str] = []
        version_ids = {triple: _version_id(connection, actor, triple, created)
                       for triple in dict.fromkeys(row.product_triple for row in parsed.rows)}
        when = now()
        # every row names every column (None for the other mode's): one statement inserts pull and agent sites
        rows = [{**dict.fromkeys(SITE_FIELDS), **values, "product_version_id": version_ids[row.product_triple],
                 "state": "applied", "state_changed_at": when, "created_at": when, "updated_at": when}
                for row, values in new_sites]
        digest = hashlib.sha256(data).hexdigest()
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            ids = connection.execute(insert(sites).returning(sites.c.id, sites.c.provider_code), chunk).all()
            by_code = {code: site_id for site_id, code in ids}
            connection.execute(insert(audit_log), [
                {"at": when, "account_id": actor.account_id, "actor": actor.username, "action": "site.import",
                 "object_kind": "site", "object_id": str(by_code[values["provider_code"]]),
                 "summary": {"before": None, "after": audit.masked({"id": by_code[values["provider_code"]],
                                                                    **values, "import_sha256": digest})}}
                for values in chunk])
        audit.record(connection, actor, "sites.import", "import", digest[:16], after={
            "sites": len(rows), "encoding": parsed.encoding, "sha256": digest, "created_product_versions": created})
    return ImportResult(len(rows), parsed.encoding, digest, created, parsed.ignored_columns)


def _registered_codes(connection: Connection, codes: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(codes), CHUNK):
        found.update(connection.execute(select(sites.c.provider_code)
                                        .where(sites.c.provider_code.in_(codes[start:start + CHUNK]))).scalars())
    return found


def _version_id(connection: Connection, actor: Actor, triple: tuple[str, str, str], created: list[str]) -> int:
    """The id of vendor/product/version, creating what is missing (each creation audited)."""
    vendor, product, version = triple
    when = now()
    vendor_id = connection.execute(select(vendors.c.id).where(vendors.c.name == vendor)).scalar()
    if vendor_id is None:
        vendor_id = connection.execute(insert(vendors).values(name=vendor, created_at=when)).inserted_primary_key[0]
        audit.record(connection, actor, "vendor.create", "vendor", vendor_id, after={"name": vendor, "by": "import"})
    product_id = connection.execute(select(products.c.id).where(products.c.vendor_id == vendor_id,
                                                                products.c.name == product)).scalar()
    if product_id is None:
        product_id = connection.execute(insert(products).values(vendor_id=vendor_id, name=product, created_at=when)
                                        ).inserted_primary_key[0]
        audit.record(connection, actor, "product.create", "product", product_id,
                     after={"vendor_id": vendor_id, "name": product, "by": "import"})
    version_id = connection.execute(select(product_versions.c.id).where(product_versions.c.product_id == product_id,
                                                                        product_versions.c.version == version)
                                    ).scalar()
    if version_id is None:
        version_id = connection.execute(insert(product_versions).values(
            product_id=product_id, version=version, state="uncertified", created_at=when)).inserted_primary_key[0]
        audit.record(connection, actor, "product_version.create", "product_version", version_id,
                     after={"product_id": product_id, "version": version, "by": "import"})
        created.append("/".join(triple))
    return version_id

"""The register: vendors, their products and product versions, and sites with their states.

Every change goes through here, checks its input against the console's request schemas
(:mod:`.validation`), writes its audit entry in the same transaction, and refuses what the register does
not allow with a :class:`~.validation.FieldError` naming the field. Site states move only along
:data:`SITE_TRANSITIONS` (accepting, rejecting and suspending need an approver), product versions only along
:data:`VERSION_TRANSITIONS` (every move a decision).
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from . import audit
from .audit import Actor
from .db import as_utc, now
from .sitecsv import formula_refusal
from .tables import product_versions, products, sites, vendors
from .validation import FieldError, NotFound, check

SITE_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "applied": ("testing", "rejected"),
    "testing": ("passed", "applied", "rejected"),
    "passed": ("accepted", "rejected", "testing"),
    "accepted": ("suspended",),
    "suspended": ("testing",),
    "rejected": ("applied",),
}
#: States that are decisions on the record: only an approver (or admin) may move a site into them.
DECISION_STATES = frozenset({"accepted", "rejected", "suspended"})
DEFAULT_PER_PAGE, MAX_PER_PAGE = 50, 500
_SHA256_SEPARATORS = re.compile(r"[:\s]")


def _nfc(values: dict[str, Any]) -> dict[str, Any]:
    return {key: unicodedata.normalize("NFC", value) if isinstance(value, str) else value
            for key, value in values.items()}


def _json(row: Any) -> dict[str, Any]:
    """A row as JSON-ready values: times in UTC ISO 8601."""
    return {key: as_utc(value).isoformat() if hasattr(value, "isoformat") else value
            for key, value in dict(row._mapping).items()}


def _conflict(field_name: str, message_ko: str, message_en: str) -> FieldError:
    return FieldError(field_name, message_ko, message_en, status=409)


# -- vendors, products, versions --------------------------------------------------------------------------------


def _vendor_query() -> Select:
    count = (select(func.count()).select_from(products).where(products.c.vendor_id == vendors.c.id)
             .scalar_subquery())
    return select(vendors, count.label("products"))


def list_vendors(connection: Connection) -> list[dict[str, Any]]:
    return [_json(row) for row in connection.execute(_vendor_query().order_by(vendors.c.name))]


def get_vendor(connection: Connection, vendor_id: int) -> dict[str, Any]:
    row = connection.execute(_vendor_query().where(vendors.c.id == vendor_id)).first()
    if row is None:
        raise NotFound("vendor", vendor_id)
    return _json(row)


def create_vendor(connection: Connection, actor: Actor, data: Any) -> dict[str, Any]:
    values = _nfc(check("VendorNew", data))
    _refuse_formulas(values, "name")
    if connection.execute(select(vendors.c.id).where(vendors.c.name == values["name"])).first():
        raise _conflict("name", f"name: 업체 {values['name']} 가 이미 있습니다",
                        f"name: vendor {values['name']} exists")
    values["created_at"] = now()
    new_id = _insert(connection, vendors, values, "name")
    audit.record(connection, actor, "vendor.create", "vendor", new_id, after={"id": new_id, **values})
    return get_vendor(connection, new_id)


def _product_query() -> Select:
    return (select(products, vendors.c.name.label("vendor"))
            .join(vendors, vendors.c.id == products.c.vendor_id))


def list_products(connection: Connection, vendor_id: int | None = None) -> list[dict[str, Any]]:
    query = _product_query().order_by(vendors.c.name, products.c.name)
    if vendor_id is not None:
        query = query.where(products.c.vendor_id == vendor_id)
    return [_json(row) for row in connection.execute(query)]


def get_product(connection: Connection, product_id: int) -> dict[str, Any]:
    row = connection.execute(_product_query().where(products.c.id == product_id)).first()
    if row is None:
        raise NotFound("product", product_id)
    return _json(row)


def create_product(connection: Connection, actor: Actor, data: Any) -> dict[str, Any]:
    values = _nfc(check("ProductNew", data))
    _refuse_formulas(values, "name")
    if connection.execute(select(vendors.c.id).where(vendors.c.id == values["vendor_id"])).first() is None:
        raise FieldError("vendor_id", f"vendor_id: 업체 {values['vendor_id']} 가 없습니다",
                         f"vendor_id: no vendor {values['vendor_id']}")
    if connection.execute(select(products.c.id).where(products.c.vendor_id == values["vendor_id"],
                                                      products.c.name == values["name"])).first():
        raise _conflict("name", f"name: 이 업체에 제품 {values['name']} 가 이미 있습니다",
                        f"name: this vendor already has a product {values['name']}")
    values["created_at"] = now()
    new_id = _insert(connection, products, values, "name")
    audit.record(connection, actor, "product.create", "product", new_id, after={"id": new_id, **values})
    return get_product(connection, new_id)


def _version_query() -> Select:
    return (select(product_versions, products.c.name.label("product"), products.c.vendor_id,
                   vendors.c.name.label("vendor"))
            .join(products, products.c.id == product_versions.c.product_id)
            .join(vendors, vendors.c.id == products.c.vendor_id))


def list_versions(connection: Connection, product_id: int | None = None,
                  vendor_id: int | None = None) -> list[dict[str, Any]]:
    query = _version_query().order_by(vendors.c.name, products.c.name, product_versions.c.version)
    if product_id is not None:
        query = query.where(product_versions.c.product_id == product_id)
    if vendor_id is not None:
        query = query.where(products.c.vendor_id == vendor_id)
    return [_json(row) for row in connection.execute(query)]


def get_version(connection: Connection, version_id: int) -> dict[str, Any]:
    row = connection.execute(_version_query().where(product_versions.c.id == version_id)).first()
    if row is None:
        raise NotFound("product_version", version_id)
    return _json(row)


def create_version(connection: Connection, actor: Actor, data: Any) -> dict[str, Any]:
    values = _nfc(check("ProductVersionNew", data))
    _refuse_formulas(values, "version")
    if connection.execute(select(products.c.id).where(products.c.id == values["product_id"])).first() is None:
        raise FieldError("product_id", f"product_id: 제품 {values['product_id']} 가 없습니다",
                         f"product_id: no product {values['product_id']}")
    if connection.execute(select(product_versions.c.id).where(
            product_versions.c.product_id == values["product_id"],
            product_versions.c.version == values["version"])).first():
        raise _conflict("version", f"version: 이 제품에 버전 {values['version']} 가 이미 있습니다",
                        f"version: this product already has version {values['version']}")
    values.update(state="uncertified", created_at=now())
    new_id = _insert(connection, product_versions, values, "version")
    audit.record(connection, actor, "product_version.create", "product_version", new_id,
                 after={"id": new_id, **values})
    return get_version(connection, new_id)


#: Certification states of a product version; every move is a decision (approver or admin).
VERSION_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "uncertified": ("certified", "rejected"),
    "rejected": ("certified",),
    "certified": ("suspended",),
    "suspended": ("certified", "rejected"),
}


def change_version_state(connection: Connection, actor: Actor, role: str | None, version_id: int, state: str,
                         run_id: int | None = None, *, reason: str = "") -> dict[str, Any]:
    """Certify, reject or suspend a product version along :data:`VERSION_TRANSITIONS` (any other move: 409).
    ``role`` is the caller's (``None``: the console itself).

    ``certified_run_id`` and ``certified_at`` name the certification in force: certifying sets them (``run_id``,
    the run that certified it, is required), and leaving ``certified`` (suspended, rejected) clears them — they
    are set exactly while the version is certified. Every earlier certification stays in ``decisions``."""
    if role is not None and role not in ("approver", "admin"):
        raise FieldError("state", f"state: 제품 버전의 {state} 는 결정이라 approver 이상만 할 수 있습니다",
                         f"state: making a product version {state} is a decision: approver or admin only", status=403)
    row = connection.execute(select(product_versions).where(product_versions.c.id == version_id)).first()
    if row is None:
        raise NotFound("product_version", version_id)
    allowed = VERSION_TRANSITIONS.get(row.state, ())
    if state not in allowed:
        raise _conflict("state", f"state: 제품 버전을 {row.state} 에서 {state} 로 바꿀 수 없습니다 "
                                 f"(가능: {', '.join(allowed) or '없음'})",
                        f"state: a product version cannot go from {row.state} to {state} "
                        f"(allowed: {', '.join(allowed) or 'none'})")
    if state == "certified" and run_id is None:
        raise FieldError("run_id", "run_id: 인증에는 인증한 실행이 있어야 합니다",
                         "run_id: certifying needs the run that certified it")
    values: dict[str, Any] = {"state": state}
    if state == "certified":
        values.update(certified_run_id=run_id, certified_at=now())
    else:
        values.update(certified_run_id=None, certified_at=None)
    moved = connection.execute(update(product_versions).where(product_versions.c.id == version_id,
                                                              product_versions.c.state == row.state)
                               .values(**values)).rowcount
    if moved != 1:
        raise _conflict("state", "state: 다른 사용자가 방금 상태를 바꿨습니다 — 다시 보십시오",
                        "state: someone else changed the state just now — look again")
    before = {"state": row.state, "certified_run_id": row.certified_run_id, "certified_at": row.certified_at}
    audit.record(connection, actor, "product_version.state", "product_version", version_id,
                 before, {**values, "reason": reason} if reason else values)
    return get_version(connection, version_id)


def _insert(connection: Connection, table: Any, values: dict[str, Any], unique_field: str) -> int:
    try:
        with connection.begin_nested():
            return connection.execute(insert(table).values(**values)).inserted_primary_key[0]
    except IntegrityError:  # another writer got there between our check and this insert
        raise _conflict(unique_field, f"{unique_field}: 같은 값이 이미 등록되어 있습니다",
                        f"{unique_field}: the same value is already registered") from None


# -- sites ---------------------------------------------------------------------------------------------------


def _site_query() -> Select:
    return (select(sites, vendors.c.name.label("pv_vendor"), products.c.name.label("pv_product"),
                   product_versions.c.version.label("pv_version"), product_versions.c.state.label("pv_state"))
            .outerjoin(product_versions, product_versions.c.id == sites.c.product_version_id)
            .outerjoin(products, products.c.id == product_versions.c.product_id)
            .outerjoin(vendors, vendors.c.id == products.c.vendor_id))


def _site(row: Any) -> dict[str, Any]:
    values = _json(row)
    label = {key: values.pop(f"pv_{key}") for key in ("vendor", "product", "version", "state")}
    values["product_version"] = label if values["product_version_id"] is not None else None
    return values


def get_site(connection: Connection, site_id: int) -> dict[str, Any]:
    row = connection.execute(_site_query().where(sites.c.id == site_id)).first()
    if row is None:
        raise NotFound("site", site_id)
    return _site(row)


def site_by_code(connection: Connection, provider_code: str) -> dict[str, Any] | None:
    row = connection.execute(_site_query().where(sites.c.provider_code == provider_code)).first()
    return _site(row) if row else None


def _refuse_formulas(values: dict[str, Any], *names: str) -> None:
    """The sites CSV's formula rule (:func:`.sitecsv.formula_refusal`) for the free-text fields ``names``: what
    the register holds must import again from its export."""
    for name in names:
        if isinstance(values.get(name), str) and (refusal := formula_refusal(name, values[name])):
            raise FieldError(name, *refusal)


def _normalised_site(data: Any) -> Any:
    """Fingerprints are accepted with colons, spaces and capitals (as tools print them), stored bare."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for key in ("server_cert_sha256", "agent_cert_sha256"):
        if isinstance(data.get(key), str):
            data[key] = _SHA256_SEPARATORS.sub("", data[key]).lower() or None
    return data


def _check_site(connection: Connection, values: dict[str, Any], merged: dict[str, Any]) -> None:
    """What the schema cannot say: no formula in free text, the version exists, the mode has its address, the
    address is an IP."""
    _refuse_formulas(values, "name", "contact_name")
    version_id = values.get("product_version_id")
    if version_id is not None and connection.execute(
            select(product_versions.c.id).where(product_versions.c.id == version_id)).first() is None:
        raise FieldError("product_version_id", f"product_version_id: 제품 버전 {version_id} 가 없습니다",
                         f"product_version_id: no product version {version_id}")
    if values.get("agent_source_ip"):
        try:
            values["agent_source_ip"] = str(ipaddress.ip_address(values["agent_source_ip"]))
        except ValueError:
            raise FieldError("agent_source_ip", "agent_source_ip: IPv4 또는 IPv6 주소가 아닙니다",
                             "agent_source_ip: not an IPv4 or IPv6 address") from None
    merged = {**merged, **values}
    if merged["mode"] == "pull" and not merged.get("pull_url"):
        raise FieldError("pull_url", "pull_url: pull 방식 사이트는 https:// 주소가 필요합니다",
                         "pull_url: a pull-mode site needs its https:// address")
    if merged["mode"] == "agent" and not merged.get("agent_source_ip"):
        raise FieldError("agent_source_ip", "agent_source_ip: agent 방식 사이트는 에이전트의 출발 주소가 필요합니다",
                         "agent_source_ip: an agent-mode site needs the address its agent calls from")


def create_site(connection: Connection, actor: Actor, data: Any) -> dict[str, Any]:
    values = _nfc(check("SiteNew", _normalised_site(data)))
    _check_site(connection, values, {})
    if connection.execute(select(sites.c.id).where(sites.c.provider_code == values["provider_code"])).first():
        raise _conflict("provider_code",
                        f"provider_code: 요양기관기호 {values['provider_code']} 는 이미 등록되어 있습니다",
                        f"provider_code: provider {values['provider_code']} is already registered")
    when = now()
    values.update(state="applied", state_changed_at=when, created_at=when, updated_at=when)
    new_id = _insert(connection, sites, values, "provider_code")
    audit.record(connection, actor, "site.create", "site", new_id, after={"id": new_id, **values})
    return get_site(connection, new_id)


def _site_row(connection: Connection, site_id: int) -> dict[str, Any]:
    row = connection.execute(select(sites).where(sites.c.id == site_id)).first()
    if row is None:
        raise NotFound("site", site_id)
    return dict(row._mapping)


def update_site(connection: Connection, actor: Actor, site_id: int, data: Any) -> dict[str, Any]:
    """Edit a site. What a check judged and a decision rests on (:data:`CHECKED_FIELDS`) cannot change on a
    site in :data:`CHECKED_STATES`: that is 409, saying to move it back to testing first (docs/console.md §9)."""
    values = _nfc(check("SitePatch", _normalised_site(data)))
    before = _site_row(connection, site_id)
    _check_site(connection, values, before)
    changed = [key for key in CHECKED_FIELDS if key in values and values[key] != before[key]]
    if changed and before["state"] in CHECKED_STATES:
        raise _checked_conflict(before["state"], changed)
    if all(before[key] == value for key, value in values.items()):
        return get_site(connection, site_id)  # nothing changes: no write, no audit entry, updated_at kept
    values["updated_at"] = now()
    # guarded by the state read: a site accepted meanwhile is not changed under its decision
    moved = connection.execute(update(sites).where(sites.c.id == site_id, sites.c.state == before["state"])
                               .values(**values)).rowcount
    if moved != 1:
        raise _conflict("state", "state: 다른 사용자가 방금 상태를 바꿨습니다 — 다시 보십시오",
                        "state: someone else changed the state just now — look again")
    audit.record(connection, actor, "site.update", "site", site_id, before, {**before, **values})
    return get_site(connection, site_id)


#: What a site check judges and an acceptance rests on: the site's identity, endpoint, pins and product version.
CHECKED_FIELDS = ("provider_code", "mode", "pull_url", "server_cert_sha256", "agent_source_ip", "agent_cert_sha256",
                  "product_version_id")
#: States that stand on a passing check of those fields: changing one needs a new check (back to testing).
CHECKED_STATES = ("passed", "accepted")


def _checked_conflict(state: str, changed: list[str]) -> FieldError:
    fields = ", ".join(changed)
    if state == "accepted":
        how_ko = "승인된 사이트는 먼저 중지(결정)하고 시험 중으로 되돌린 뒤 바꾸십시오"
        how_en = "suspend the accepted site (a decision) and move it back to testing first, then change it"
    else:
        how_ko = "먼저 시험 중(testing)으로 되돌린 뒤 바꾸십시오"
        how_en = "move it back to testing first, then change it"
    return _conflict(changed[0],
                     f"{changed[0]}: {state} 사이트의 {fields} 를 바꾸려면 점검을 다시 받아야 합니다 — {how_ko}",
                     f"{changed[0]}: a site in state {state} needs a new check to change {fields} — {how_en}")


def change_site_state(connection: Connection, actor: Actor, role: str | None, site_id: int,
                      data: Any, *, decided: bool = False) -> dict[str, Any]:
    """Move a site to ``data["state"]`` when :data:`SITE_TRANSITIONS` allows it from where it is.
    ``role`` is the caller's (``None``: the console itself, e.g. a run's result); a person moves a site into a
    decision state only through :mod:`.decisions` (``decided``), which records who, why, on which run, signed."""
    values = check("StateChange", data)
    target, reason = values["state"], unicodedata.normalize("NFC", values.get("reason", ""))
    if role is not None and target in DECISION_STATES and role not in ("approver", "admin"):
        raise FieldError("state", f"state: {target} 로 바꾸는 것은 결정이라 approver 이상만 할 수 있습니다",
                         f"state: moving to {target} is a decision: approver or admin only", status=403)
    # Read and write in one statement guarded by the old state, so two callers cannot both move it.
    before = _site_row(connection, site_id)
    source = before["state"]
    allowed = SITE_TRANSITIONS.get(source, ())
    if target not in allowed:
        raise _conflict("state",
                        f"state: {source} 에서 {target} 로 바꿀 수 없습니다 (가능: {', '.join(allowed) or '없음'})",
                        f"state: a site cannot go from {source} to {target} (allowed: {', '.join(allowed) or 'none'})")
    if role is not None and target in DECISION_STATES and not decided:
        raise _conflict("state", f"state: {target} 는 결정입니다 — 결정 기록(POST /api/v1/decisions, 사이트 화면의 "
                                 "결정 양식)으로 사유와 근거 실행을 남기십시오",
                        f"state: {target} is a decision — record it (POST /api/v1/decisions, or the decision form "
                        "of the site page) with the reason and the run it rests on")
    when = now()
    moved = connection.execute(update(sites).where(sites.c.id == site_id, sites.c.state == source)
                               .values(state=target, state_changed_at=when, updated_at=when)).rowcount
    if moved != 1:
        raise _conflict("state", "state: 다른 사용자가 방금 상태를 바꿨습니다 — 다시 보십시오",
                        "state: someone else changed the state just now — look again")
    audit.record(connection, actor, "site.state", "site", site_id, {"state": source},
                 {"state": target, "reason": reason} if reason else {"state": target})
    return get_site(connection, site_id)


# -- the site list ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteFilter:
    vendor_id: int | None = None
    product_version_id: int | None = None
    region: str | None = None
    state: str | None = None
    q: str | None = None

    @classmethod
    def of(cls, values: dict[str, Any]) -> SiteFilter:
        return cls(**{key: values.get(key) for key in ("vendor_id", "product_version_id", "region", "state", "q")})

    def query_args(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value not in (None, "")}


@dataclass
class Page:
    items: list[dict[str, Any]]
    total: int
    page: int
    per_page: int
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        self.pages = math.ceil(self.total / self.per_page)

    def as_json(self) -> dict[str, Any]:
        return {"items": self.items, "total": self.total, "page": self.page, "per_page": self.per_page,
                "pages": self.pages}


def _where(query: Select, selection: SiteFilter) -> Select:
    if selection.state:
        query = query.where(sites.c.state == selection.state)
    if selection.region:
        query = query.where(sites.c.region == selection.region)
    if selection.product_version_id:
        query = query.where(sites.c.product_version_id == selection.product_version_id)
    if selection.vendor_id:
        of_vendor = (select(product_versions.c.id).join(products, products.c.id == product_versions.c.product_id)
                     .where(products.c.vendor_id == selection.vendor_id))
        query = query.where(sites.c.product_version_id.in_(of_vendor))
    if selection.q:
        text = selection.q.strip()
        if text.isascii() and text.isdigit():
            # A provider code or its beginning, as a range of the unique index ('3009' ≤ code < '300:'):
            # LIKE 'x%' cannot use an index where LIKE ignores case (SQLite).
            after = text[:-1] + chr(ord(text[-1]) + 1)
            query = query.where(sites.c.provider_code >= text, sites.c.provider_code < after)
        else:
            query = query.where(sites.c.name.contains(text, autoescape=True))
    return query


def list_sites(connection: Connection, selection: SiteFilter, page: int = 1,
               per_page: int = DEFAULT_PER_PAGE) -> Page:
    """One page of the sites ``selection`` picks, by provider code, with the count of all of them.
    The filters each have an index that also orders by provider code, so a page costs a range scan."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    total = connection.execute(_where(select(func.count()).select_from(sites), selection)).scalar_one()
    # A page past the last is empty and keeps its number: a client paging until a page is empty stops there.
    page = max(1, page)
    # The page's ids first, from the index alone; only those rows are joined to their product version.
    chosen = (_where(select(sites.c.id), selection).order_by(sites.c.provider_code)
              .limit(per_page).offset((page - 1) * per_page).subquery())
    query = _site_query().join(chosen, chosen.c.id == sites.c.id).order_by(sites.c.provider_code)
    return Page([_site(row) for row in connection.execute(query)], total, page, per_page)


def site_ids(connection: Connection, selection: SiteFilter) -> list[int]:
    """Every site ``selection`` picks (for batches), by provider code."""
    query = _where(select(sites.c.id), selection).order_by(sites.c.provider_code)
    return list(connection.execute(query).scalars())


def counts_by_state(connection: Connection) -> dict[str, int]:
    rows = connection.execute(select(sites.c.state, func.count()).group_by(sites.c.state))
    found = dict(rows.all())
    return {state: found.get(state, 0) for state in SITE_TRANSITIONS}



"""Vendors, their products and product versions, as pages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import register
from ..auth import current_account
from ..labels import STATE_LABELS
from ..validation import FieldError, NotFound, form_values
from .common import flash, form, in_transaction, page_error, render


def _overview(connection: Connection) -> dict[str, Any]:
    return {"vendors": register.list_vendors(connection), "versions": register.list_versions(connection),
            "state_labels": STATE_LABELS}


async def vendor_list(request: Request) -> Response:
    return render(request, "vendors.html", await in_transaction(request, _overview))


def _vendor(connection: Connection, vendor_id: int) -> dict[str, Any]:
    return {"vendor": register.get_vendor(connection, vendor_id),
            "products": register.list_products(connection, vendor_id),
            "versions": register.list_versions(connection, vendor_id=vendor_id), "state_labels": STATE_LABELS}


async def vendor_detail(request: Request) -> Response:
    try:
        return render(request, "vendor.html", await in_transaction(request, _vendor, request.path_params["vendor_id"]))
    except NotFound as error:
        return page_error(request, error)


async def _create(request: Request, work: Any, component: str, fields: dict[str, Any], done: Any) -> Response:
    data = await form(request)
    # The form gives the fields whose value is None here; the path gives the others (the vendor, the product).
    values = form_values(component, {key: data.get(key, "") for key, fixed in fields.items() if fixed is None})
    values.update({key: fixed for key, fixed in fields.items() if fixed is not None})
    try:
        created = await in_transaction(request, work, current_account(request).actor, values)
    except (FieldError, NotFound) as error:
        return page_error(request, error)
    return done(created)


async def create_vendor(request: Request) -> Response:
    def done(vendor: dict[str, Any]) -> Response:
        flash(request, f"업체 {vendor['name']}을(를) 등록했습니다", f"vendor {vendor['name']} registered")
        return RedirectResponse(f"/vendors/{vendor['id']}", status_code=303)
    return await _create(request, register.create_vendor, "VendorNew", {"name": None, "business_number": None}, done)


async def create_product(request: Request) -> Response:
    vendor_id = request.path_params["vendor_id"]

    def done(product: dict[str, Any]) -> Response:
        flash(request, f"제품 {product['name']}을(를) 등록했습니다", f"product {product['name']} registered")
        return RedirectResponse(f"/vendors/{vendor_id}", status_code=303)
    return await _create(request, register.create_product, "ProductNew", {"name": None, "vendor_id": vendor_id}, done)


async def create_version(request: Request) -> Response:
    product_id = request.path_params["product_id"]

    def done(version: dict[str, Any]) -> Response:
        flash(request, f"버전 {version['version']}을(를) 등록했습니다", f"version {version['version']} registered")
        return RedirectResponse(f"/vendors/{version['vendor_id']}", status_code=303)
    return await _create(request, register.create_version, "ProductVersionNew",
                         {"version": None, "product_id": product_id}, done)


routes = [
    Route("/vendors", vendor_list, methods=["GET"]),
    Route("/vendors", create_vendor, methods=["POST"]),
    Route("/vendors/{vendor_id:id}", vendor_detail, methods=["GET"]),
    Route("/vendors/{vendor_id:id}/products", create_product, methods=["POST"]),
    Route("/products/{product_id:id}/versions", create_version, methods=["POST"]),
]

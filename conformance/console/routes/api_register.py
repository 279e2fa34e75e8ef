"""The register's JSON API (``/api/v1/…``, bearer tokens): vendors, products, versions and sites, as
described in ``openapi.yaml``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import register
from ..auth import current_account
from ..validation import OPENAPI
from .common import actor_role, api, in_transaction, json, json_body, query


@api
async def openapi(request: Request) -> Response:
    return Response(OPENAPI.read_bytes(), media_type="application/yaml")


@api
async def whoami(request: Request) -> Response:
    account = current_account(request)
    return json({"id": account.id, "username": account.username, "role": account.role})


@api
async def list_vendors(request: Request) -> Response:
    return json({"items": await in_transaction(request, register.list_vendors)})


@api
async def create_vendor(request: Request) -> Response:
    body = await json_body(request)
    return json(await in_transaction(request, register.create_vendor, actor_role(request)[0], body), 201)


@api
async def get_vendor(request: Request) -> Response:
    return json(await in_transaction(request, register.get_vendor, request.path_params["vendor_id"]))


@api
async def list_products(request: Request) -> Response:
    values = query(request, "ProductQuery")
    return json({"items": await in_transaction(request, register.list_products, values.get("vendor_id"))})


@api
async def create_product(request: Request) -> Response:
    body = await json_body(request)
    return json(await in_transaction(request, register.create_product, actor_role(request)[0], body), 201)


@api
async def list_versions(request: Request) -> Response:
    values = query(request, "VersionQuery")
    return json({"items": await in_transaction(request, register.list_versions, values.get("product_id"),
                                               values.get("vendor_id"))})


@api
async def create_version(request: Request) -> Response:
    body = await json_body(request)
    return json(await in_transaction(request, register.create_version, actor_role(request)[0], body), 201)


@api
async def get_version(request: Request) -> Response:
    return json(await in_transaction(request, register.get_version, request.path_params["version_id"]))


@api
async def list_sites(request: Request) -> Response:
    values = query(request, "SiteQuery")
    page = await in_transaction(request, register.list_sites, register.SiteFilter.of(values),
                                values.get("page", 1), values.get("per_page", register.DEFAULT_PER_PAGE))
    return json(page.as_json())


@api
async def create_site(request: Request) -> Response:
    body = await json_body(request)
    return json(await in_transaction(request, register.create_site, actor_role(request)[0], body), 201)


@api
async def get_site(request: Request) -> Response:
    return json(await in_transaction(request, register.get_site, request.path_params["site_id"]))


@api
async def update_site(request: Request) -> Response:
    body = await json_body(request)
    return json(await in_transaction(request, register.update_site, actor_role(request)[0],
                                     request.path_params["site_id"], body))


@api
async def change_state(request: Request) -> Response:
    body = await json_body(request)
    actor, role = actor_role(request)
    return json(await in_transaction(request, register.change_site_state, actor, role,
                                     request.path_params["site_id"], body))


routes = [
    Route("/api/v1/openapi.yaml", openapi, methods=["GET"]),
    Route("/api/v1/whoami", whoami, methods=["GET"]),
    Route("/api/v1/vendors", list_vendors, methods=["GET"]),
    Route("/api/v1/vendors", create_vendor, methods=["POST"]),
    Route("/api/v1/vendors/{vendor_id:id}", get_vendor, methods=["GET"]),
    Route("/api/v1/products", list_products, methods=["GET"]),
    Route("/api/v1/products", create_product, methods=["POST"]),
    Route("/api/v1/product-versions", list_versions, methods=["GET"]),
    Route("/api/v1/product-versions", create_version, methods=["POST"]),
    Route("/api/v1/product-versions/{version_id:id}", get_version, methods=["GET"]),
    Route("/api/v1/sites", list_sites, methods=["GET"]),
    Route("/api/v1/sites", create_site, methods=["POST"]),
    Route("/api/v1/sites/{site_id:id}", get_site, methods=["GET"]),
    Route("/api/v1/sites/{site_id:id}", update_site, methods=["PATCH"]),
    Route("/api/v1/sites/{site_id:id}/state", change_state, methods=["POST"]),
]

"""The site pages: the register list (filters, pages), a site's detail, registering and editing a site, and
moving it between states."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import register
from ..auth import current_account
from ..labels import STATE_LABELS, facility_types, regions
from ..tables import SITE_STATES
from ..validation import FieldError, NotFound, form_values
from .common import flash, form, in_transaction, page_error, query, render

SITE_FIELDS = ("provider_code", "name", "facility_type", "region", "product_version_id", "mode", "pull_url",
               "server_cert_sha256", "agent_source_ip", "agent_cert_sha256", "contact_name", "contact_phone")


def _choices(connection: Connection) -> dict[str, Any]:
    return {"vendors": register.list_vendors(connection), "versions": register.list_versions(connection),
            "regions": regions(), "facility_types": facility_types(), "states": SITE_STATES,
            "state_labels": STATE_LABELS}


def _site_list(connection: Connection, selection: register.SiteFilter, page: int, per_page: int) -> dict[str, Any]:
    return {"page": register.list_sites(connection, selection, page, per_page), **_choices(connection)}


async def site_list(request: Request) -> Response:
    try:
        values = query(request, "SiteQuery")
    except FieldError as error:
        return page_error(request, error)
    selection = register.SiteFilter.of(values)
    context = await in_transaction(request, _site_list, selection, values.get("page", 1),
                                   values.get("per_page", register.DEFAULT_PER_PAGE))
    args = selection.query_args()
    context.update(selection=selection, filter_query=urlencode(args), page_url=lambda n: "/sites?" + urlencode(
        {**args, "page": n, "per_page": context["page"].per_page}))
    return render(request, "sites.html", context)


def _detail(connection: Connection, site_id: int) -> dict[str, Any]:
    site = register.get_site(connection, site_id)
    return {"site": site, "transitions": register.SITE_TRANSITIONS.get(site["state"], ()),
            "decision_states": register.DECISION_STATES, **_choices(connection)}


async def site_detail(request: Request) -> Response:
    try:
        context = await in_transaction(request, _detail, request.path_params["site_id"])
    except NotFound as error:
        return page_error(request, error)
    return render(request, "site.html", context)


async def new_site_page(request: Request) -> Response:
    context = await in_transaction(request, _choices)
    return render(request, "site_form.html", {"site": {"mode": "pull"}, "error": None, "new": True, **context})


async def create_site(request: Request) -> Response:
    data = await form(request)
    try:
        site = await in_transaction(request, register.create_site, current_account(request).actor,
                                    form_values("SiteNew", {k: data.get(k, "") for k in SITE_FIELDS}))
    except FieldError as error:
        context = await in_transaction(request, _choices)
        return render(request, "site_form.html", {"site": data, "error": error, "new": True, **context},
                      status=error.status)
    flash(request, f"사이트 {site['provider_code']}을(를) 등록했습니다", f"site {site['provider_code']} registered")
    return RedirectResponse(f"/sites/{site['id']}", status_code=303)


async def edit_site_page(request: Request) -> Response:
    try:
        context = await in_transaction(request, _detail, request.path_params["site_id"])
    except NotFound as error:
        return page_error(request, error)
    return render(request, "site_form.html", {"error": None, "new": False, **context})


async def update_site(request: Request) -> Response:
    site_id = request.path_params["site_id"]
    data = await form(request)
    changes = form_values("SitePatch", {k: data.get(k, "") for k in SITE_FIELDS if k != "provider_code"})
    try:
        await in_transaction(request, register.update_site, current_account(request).actor, site_id, changes)
    except NotFound as error:
        return page_error(request, error)
    except FieldError as error:
        context = await in_transaction(request, _detail, site_id)
        context["site"] = {**context["site"], **data}
        return render(request, "site_form.html", {"error": error, "new": False, **context}, status=error.status)
    flash(request, "사이트를 고쳤습니다", "site updated")
    return RedirectResponse(f"/sites/{site_id}", status_code=303)


async def change_state(request: Request) -> Response:
    site_id = request.path_params["site_id"]
    data = await form(request)
    account = current_account(request)
    try:
        site = await in_transaction(request, register.change_site_state, account.actor, account.role, site_id,
                                    form_values("StateChange", {k: data.get(k, "") for k in ("state", "reason")}))
    except (FieldError, NotFound) as error:
        return page_error(request, error)
    label = STATE_LABELS[site["state"]]
    flash(request, f"상태를 {label[0]}(으)로 바꿨습니다", f"state changed to {label[1]}")
    return RedirectResponse(f"/sites/{site_id}", status_code=303)


routes = [
    Route("/sites", site_list, methods=["GET"]),
    Route("/sites/new", new_site_page, methods=["GET"]),
    Route("/sites", create_site, methods=["POST"]),
    Route("/sites/{site_id:id}", site_detail, methods=["GET"]),
    Route("/sites/{site_id:id}/edit", edit_site_page, methods=["GET"]),
    Route("/sites/{site_id:id}", update_site, methods=["POST"]),
    Route("/sites/{site_id:id}/state", change_state, methods=["POST"]),
]


"""Account management for admins: accounts, roles, one-time passwords, API tokens, and the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import accounts, audit
from ..auth import current_account
from ..tables import ROLES
from ..validation import FieldError, NotFound, check, form_values
from .common import flash, form, in_transaction, page_error, query, render


def _overview(connection: Connection) -> dict[str, Any]:
    return {"accounts": accounts.list_accounts(connection), "tokens": accounts.list_tokens(connection),
            "roles": ROLES}


async def account_list(request: Request) -> Response:
    return render(request, "accounts.html", {**await in_transaction(request, _overview), "issued": None})


def create_with_password(connection: Connection, actor: Any, data: Any) -> tuple[dict[str, Any], str]:
    values = check("AccountNew", data)
    password = accounts.one_time_password()
    account = accounts.create_account(connection, actor, values["username"], values["role"], password)
    listed = next(a for a in accounts.list_accounts(connection) if a["id"] == account.id)
    return listed, password


async def create_account(request: Request) -> Response:
    data = await form(request)
    try:
        account, password = await in_transaction(
            request, create_with_password, current_account(request).actor,
            form_values("AccountNew", {k: data.get(k, "") for k in ("username", "role")}))
    except FieldError as error:
        return page_error(request, error)
    issued = {"kind": "password", "username": account["username"], "secret": password}
    return render(request, "accounts.html", {**await in_transaction(request, _overview), "issued": issued})


async def update_account(request: Request) -> Response:
    account_id = request.path_params["account_id"]
    data = await form(request)
    try:
        given = {key: data[key] for key in ("role", "disabled", "reset_password") if key in data}
        values = check("AccountPatch", form_values("AccountPatch", given))
        password = await in_transaction(request, accounts.update_account, current_account(request).actor, account_id,
                                        **values)
    except (FieldError, NotFound) as error:
        return page_error(request, error)
    if password is None:
        flash(request, "계정을 바꿨습니다", "account changed")
        return RedirectResponse("/accounts", status_code=303)
    context = await in_transaction(request, _overview)
    username = next(a["username"] for a in context["accounts"] if a["id"] == account_id)
    return render(request, "accounts.html", {**context, "issued": {"kind": "password", "username": username,
                                                                   "secret": password}})


async def issue_token(request: Request) -> Response:
    account_id = request.path_params["account_id"]
    data = await form(request)
    try:
        values = check("TokenNew", form_values("TokenNew", {"name": data.get("name", "")}))
        _, token = await in_transaction(request, accounts.issue_token, current_account(request).actor, account_id,
                                        values["name"])
    except (FieldError, NotFound) as error:
        return page_error(request, error)
    context = await in_transaction(request, _overview)
    username = next(a["username"] for a in context["accounts"] if a["id"] == account_id)
    return render(request, "accounts.html", {**context, "issued": {"kind": "token", "username": username,
                                                                   "secret": token}})


async def revoke_token(request: Request) -> Response:
    try:
        await in_transaction(request, accounts.revoke_token, current_account(request).actor,
                             request.path_params["token_id"])
    except NotFound as error:
        return page_error(request, error)
    flash(request, "토큰을 폐기했습니다", "token revoked")
    return RedirectResponse("/accounts", status_code=303)


async def audit_page(request: Request) -> Response:
    try:
        values = query(request, "AuditQuery")
    except FieldError as error:
        return page_error(request, error)
    values.pop("lang", None)
    entries = await in_transaction(request, audit.list_entries, **values)
    return render(request, "audit.html", {"entries": entries, "selection": values})


routes = [
    Route("/accounts", account_list, methods=["GET"]),
    Route("/accounts", create_account, methods=["POST"]),
    Route("/accounts/{account_id:id}", update_account, methods=["POST"]),
    Route("/accounts/{account_id:id}/tokens", issue_token, methods=["POST"]),
    Route("/tokens/{token_id:id}/revoke", revoke_token, methods=["POST"]),
    Route("/audit", audit_page, methods=["GET"]),
]

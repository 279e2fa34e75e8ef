"""Accounts, API tokens and the audit log as JSON (admin only, see ``access.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import accounts, audit
from ..db import as_utc
from ..validation import check
from .account_pages import create_with_password
from .common import actor_role, api, in_transaction, json, json_body, query


def _times(row: dict[str, Any]) -> dict[str, Any]:
    return {key: as_utc(value).isoformat() if hasattr(value, "isoformat") else value for key, value in row.items()}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """The fields of an account an answer may carry, and nothing else (never its password hash)."""
    return _times({key: row[key] for key in accounts.PUBLIC_FIELDS})


@api
async def list_accounts(request: Request) -> Response:
    rows = await in_transaction(request, accounts.list_accounts)
    return json({"items": [_public(row) for row in rows]})


@api
async def create_account(request: Request) -> Response:
    body = await json_body(request)
    account, password = await in_transaction(request, create_with_password, actor_role(request)[0], body)
    return json({**_public(account), "one_time_password": password}, 201)


def _update(connection: Connection, actor: Any, account_id: int, data: Any) -> dict[str, Any]:
    values = check("AccountPatch", data)
    password = accounts.update_account(connection, actor, account_id, **values)
    row = next(a for a in accounts.list_accounts(connection) if a["id"] == account_id)
    answer = _public(row)
    if password is not None:
        answer["one_time_password"] = password
    return answer


@api
async def update_account(request: Request) -> Response:
    body = await json_body(request)
    return json(await in_transaction(request, _update, actor_role(request)[0], request.path_params["account_id"],
                                     body))


@api
async def list_tokens(request: Request) -> Response:
    return json({"items": [_times(row) for row in await in_transaction(request, accounts.list_tokens)]})


def _issue(connection: Connection, actor: Any, account_id: int, data: Any) -> dict[str, Any]:
    values = check("TokenNew", data)
    token_id, token = accounts.issue_token(connection, actor, account_id, values["name"])
    row = next(t for t in accounts.list_tokens(connection, account_id) if t["id"] == token_id)
    return {**_times(row), "token": token}


@api
async def issue_token(request: Request) -> Response:
    body = await json_body(request)
    return json(await in_transaction(request, _issue, actor_role(request)[0], request.path_params["account_id"],
                                     body), 201)


@api
async def revoke_token(request: Request) -> Response:
    await in_transaction(request, accounts.revoke_token, actor_role(request)[0], request.path_params["token_id"])
    return Response(status_code=204)


@api
async def list_audit(request: Request) -> Response:
    values = query(request, "AuditQuery")
    values.pop("lang", None)
    return json(await in_transaction(request, audit.list_entries, **values))


routes = [
    Route("/api/v1/accounts", list_accounts, methods=["GET"]),
    Route("/api/v1/accounts", create_account, methods=["POST"]),
    Route("/api/v1/accounts/{account_id:id}", update_account, methods=["PATCH"]),
    Route("/api/v1/tokens", list_tokens, methods=["GET"]),
    Route("/api/v1/accounts/{account_id:id}/tokens", issue_token, methods=["POST"]),
    Route("/api/v1/tokens/{token_id:id}", revoke_token, methods=["DELETE"]),
    Route("/api/v1/audit", list_audit, methods=["GET"]),
]

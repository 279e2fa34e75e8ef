"""Who is calling, and the gate in front of every route: sessions for pages (signed cookie, CSRF token on
every form), bearer tokens for the JSON API, and the role each route needs from :mod:`.access`.

:func:`current_account` gives a route the caller the gate admitted. The gate refuses, before any route runs:
an anonymous caller (pages: to the login page; API: 401), a role below the row's minimum (403), a page
form without the session's CSRF token (403), an account that must first change its one-time password, and
a request no row of the table speaks for (404/405).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...simulator.problems import problem
from . import accounts
from .access import RULES, WHILE_PASSWORD_CHANGE, Rule, path_known, rule_for
from .accounts import Account
from .db import Database

SESSION_ACCOUNT, SESSION_STAMP, SESSION_CSRF = "account", "stamp", "csrf"
CSRF_FIELD, CSRF_HEADER = "csrf_token", "x-csrf-token"
MAX_FORM_BYTES = 32 * 1024 * 1024  # a CSV of 100,000 sites fits
MAX_FORM_FIELDS = 1000


def current_account(request: Request) -> Account:
    """The account the gate admitted for this request (routes with an open row must not call it)."""
    return request.scope["state"]["account"]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use; every page form carries it in ``csrf_token``."""
    session = request.session
    if SESSION_CSRF not in session:
        session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return session[SESSION_CSRF]


def log_in(request: Request, account: Account) -> None:
    """Start a fresh session for ``account`` (a new CSRF token too: nothing of the anonymous session stays)."""
    request.session.clear()
    request.session.update({SESSION_ACCOUNT: account.id, SESSION_STAMP: _stamp(account),
                            SESSION_CSRF: secrets.token_urlsafe(32)})


def log_out(request: Request) -> None:
    request.session.clear()


def _stamp(account: Account) -> str:
    # A session is valid while the password it was opened with stands: a change or reset ends every other one.
    return account.password_stamp


def wants_html(scope: Scope) -> bool:
    return not scope["path"].startswith("/api/")


class AccessGate:
    """ASGI middleware between the session middleware and the routes (see the module docstring)."""

    def __init__(self, app: ASGIApp, database: Database, refuse_page: Any, rules: tuple[Rule, ...] = RULES) -> None:
        self.app, self.database, self.rules = app, database, rules
        self.refuse_page = refuse_page  # (request, status, message_ko, message_en) -> Response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        answer, receive = await self._decide(request, receive)
        if answer is not None:
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _decide(self, request: Request, receive: Receive) -> tuple[Response | None, Receive]:
        path, method = request.url.path, request.method
        rule = rule_for(path, method, self.rules)
        if rule is None:
            if path_known(path, self.rules):
                return self._refuse(request, 405, "이 경로는 이 메서드를 받지 않습니다",
                                    f"{method} is not allowed here", "method_not_allowed"), receive
            return self._refuse(request, 404, "그런 화면이나 경로가 없습니다", "no such page or path",
                                "not_found"), receive
        if rule.minimum is None:
            if rule.changes:
                return await self._check_csrf(request, receive)
            return None, receive
        account = await run_in_threadpool(self._account, request, rule)
        if account is None:
            if rule.api:
                if _bearer(request):  # a token was sent: say it is the token, not its absence (RFC 6750)
                    answer = problem(401, "unauthenticated", "Unauthenticated",
                                     "토큰이 유효하지 않습니다 (폐기되었거나 만료되었거나 알 수 없는 토큰, "
                                     "또는 사용 중지된 계정의 토큰) / the token is not valid (revoked, expired or "
                                     "unknown, or its account is disabled)")
                    answer.headers["www-authenticate"] = 'Bearer realm="s24kit-console", error="invalid_token"'
                    return answer, receive
                answer = problem(401, "unauthenticated", "Unauthenticated",
                                 "Authorization: Bearer <토큰> 이 필요합니다 / needs Authorization: Bearer <token>")
                answer.headers["www-authenticate"] = 'Bearer realm="s24kit-console"'
                return answer, receive
            if rule.changes:
                return self._refuse(request, 401, "로그인이 필요합니다", "you need to log in",
                                    "unauthenticated"), receive
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303), receive
        request.scope.setdefault("state", {})["account"] = account
        if account.must_change_password and (method, rule.path) not in WHILE_PASSWORD_CHANGE:
            if rule.api:
                return problem(403, "password_change_required", "Password change required",
                               "먼저 일회용 비밀번호를 바꾸십시오 / change the one-time password first"), receive
            return RedirectResponse("/account/password", status_code=303), receive
        if not account.may(rule.minimum):
            return self._refuse(request, 403,
                                f"역할 {account.role} 은(는) 이 일을 할 수 없습니다 (필요: {rule.minimum} 이상)",
                                f"role {account.role} may not do this (needs {rule.minimum} or above)",
                                "forbidden"), receive
        if rule.changes and not rule.api:
            return await self._check_csrf(request, receive)
        return None, receive

    def _account(self, request: Request, rule: Rule) -> Account | None:
        with self.database.engine.begin() as connection:
            if rule.api:  # the API answers bearer tokens only: a browser's cookie never works there
                token = _bearer(request)
                return accounts.account_by_token(connection, token) if token else None
            account_id = request.session.get(SESSION_ACCOUNT)
            if not isinstance(account_id, int):
                return None
            account = accounts.account_by_id(connection, account_id)
        if account is None or account.disabled or request.session.get(SESSION_STAMP) != _stamp(account):
            request.session.clear()
            return None
        return account

    async def _check_csrf(self, request: Request, receive: Receive) -> tuple[Response | None, Receive]:
        """Read the form (bounded), compare its ``csrf_token`` (or the X-CSRF-Token header) with the
        session's, and hand the route a replay of the same body."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
            return self._too_large(request), receive
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return Response(status_code=400), receive
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                return self._too_large(request), receive
            if not message.get("more_body"):
                break
        replay = _replay(bytes(body), receive)
        expected = request.session.get(SESSION_CSRF)
        given = request.headers.get(CSRF_HEADER)
        if given is None:
            try:
                form = await _form(Request(request.scope, replay()))
            except HTTPException as exc:
                return self._refuse(request, 400, f"양식을 읽을 수 없습니다: {exc.detail}",
                                    f"the form cannot be read: {exc.detail}", "invalid_form"), receive
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
            await form.close()
        if not expected or not given or not hmac.compare_digest(str(expected).encode(), given.encode()):
            return self._refuse(request, 403,
                                "양식의 CSRF 토큰이 없거나 맞지 않습니다 — 화면을 새로 고쳐 다시 보내십시오",
                                "the form's CSRF token is missing or wrong — reload the page and send it again",
                                "csrf"), receive
        return None, replay()

    def _too_large(self, request: Request) -> Response:
        return self._refuse(request, 413, f"양식이 {MAX_FORM_BYTES:,} 바이트를 넘습니다",
                            f"the form exceeds {MAX_FORM_BYTES:,} bytes", "payload_too_large")

    def _refuse(self, request: Request, status: int, message_ko: str, message_en: str, code: str) -> Response:
        if wants_html(request.scope):
            return self.refuse_page(request, status, message_ko, message_en)
        titles = {400: "Bad request", 401: "Unauthenticated", 403: "Forbidden", 404: "Not found",
                  405: "Method not allowed", 413: "Payload too large"}
        return problem(status, code, titles.get(status, "Refused"), f"{message_ko} / {message_en}")


def _bearer(request: Request) -> str:
    """The bearer token the request sends ("" without one)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def _form(request: Request) -> FormData:
    return await request.form(max_files=10, max_fields=MAX_FORM_FIELDS)


def _replay(body: bytes, original: Receive) -> Any:
    """A factory of ``receive`` callables that each give ``body`` once, then listen to the client again."""
    def make() -> Receive:
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await original()
        return receive
    return make

"""Logging in and out, and changing one's own password (the one-time password first of all)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import accounts
from ..auth import current_account, log_in, log_out
from ..validation import FieldError
from .common import flash, form, in_transaction, language, render


def _safe_next(target: str | None) -> str:
    # Only a path of this console: never another site (an open redirect), never a protocol-relative URL.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/sites"


async def home(request: Request) -> Response:
    return RedirectResponse("/sites", status_code=303)


async def login_page(request: Request) -> Response:
    return render(request, "login.html", {"next": _safe_next(request.query_params.get("next")), "username": "",
                                          "error": False})


async def login(request: Request) -> Response:
    data = await form(request)
    username, password = data.get("username", "")[:64], data.get("password", "")[:1024]
    account = await in_transaction(request, accounts.authenticate, username, password) if username and password \
        else None
    if account is None:
        return render(request, "login.html", {"next": _safe_next(data.get("next")), "username": username,
                                              "error": True}, status=400)
    log_in(request, account)
    if account.must_change_password:
        return RedirectResponse("/account/password", status_code=303)
    return RedirectResponse(_safe_next(data.get("next")), status_code=303)


async def logout(request: Request) -> Response:
    # Clearing the cookie is not enough: a copy of it would still work. The account's session epoch moves on,
    # so every session opened before (this one and any copy of it) is refused from now on.
    await in_transaction(request, accounts.end_sessions, current_account(request).id)
    log_out(request)
    return RedirectResponse("/login", status_code=303)


async def password_page(request: Request) -> Response:
    return render(request, "password.html", {"error": None})


async def change_password(request: Request) -> Response:
    data = await form(request)
    try:
        account = await in_transaction(request, accounts.change_password, current_account(request),
                                       data.get("current_password", ""), data.get("new_password", ""))
    except FieldError as error:
        message = error.message_en if language(request) == "en" else error.message_ko
        return render(request, "password.html", {"error": f"{error.field}: {message}"}, status=400)
    log_in(request, account)  # the old sessions end with the old password; this one goes on
    flash(request, "비밀번호를 바꿨습니다", "password changed")
    return RedirectResponse("/sites", status_code=303)


routes = [
    Route("/", home, methods=["GET"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/account/password", password_page, methods=["GET"]),
    Route("/account/password", change_password, methods=["POST"]),
]

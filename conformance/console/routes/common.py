"""What every route module shares: the database in a worker thread, templates in the caller's language,
flash messages, refusals as pages or problem+json."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates

from ....simulator.problems import BadRequest, problem, read_json
from ..auth import csrf_token, current_account
from ..validation import FieldError, NotFound, check, form_values

T = TypeVar("T")
LANGUAGES = ("ko", "en")
LANG_COOKIE = "s24kit_console_lang"
MAX_API_BODY = 1024 * 1024


def language(request: Request) -> str:
    """``?lang=en`` (remembered in a cookie), else the cookie, else Korean."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(LANG_COOKIE)
    return remembered if remembered in LANGUAGES else "ko"


async def in_transaction(request: Request, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``work(connection, *args, **kwargs)`` in one transaction, in a worker thread (the database layer
    blocks; the event loop must not)."""
    engine = request.app.state.database.engine

    def run() -> T:
        with engine.begin() as connection:
            return work(connection, *args, **kwargs)
    return await run_in_threadpool(run)


def flash(request: Request, message_ko: str, message_en: str) -> None:
    request.session.setdefault("flash", []).append([message_ko, message_en])


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    lang = language(request)
    templates: Jinja2Templates = request.app.state.templates
    account = request.scope.get("state", {}).get("account")
    flashes = request.session.pop("flash", []) if "session" in request.scope else []
    page = {"lang": lang, "t": (lambda ko, en: en if lang == "en" else ko), "account": account,
            "csrf_token": csrf_token(request) if "session" in request.scope else "", "flashes": flashes,
            **(context or {})}
    response = templates.TemplateResponse(request, template, page, status_code=status)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="strict",
                            secure=request.app.state.settings.https)
    return response


def _field_message(error: FieldError, lang: str) -> str:
    text = error.message_en if lang == "en" else error.message_ko
    return text if text.startswith(error.field) else f"{error.field}: {text}"


def refusal_page(request: Request, status: int, message_ko: str, message_en: str) -> Response:
    return render(request, "error.html", {"status": status, "message_ko": message_ko, "message_en": message_en},
                  status=status)


def page_error(request: Request, error: FieldError | NotFound) -> Response:
    if isinstance(error, NotFound):
        return refusal_page(request, 404, f"{error.kind} {error.object_id} 가 없습니다",
                            f"no {error.kind} {error.object_id}")
    return refusal_page(request, error.status, _field_message(error, "ko"), _field_message(error, "en"))


def field_problem(error: FieldError) -> Response:
    codes = {400: ("invalid_input", "Invalid input"), 403: ("forbidden", "Forbidden"), 409: ("conflict", "Conflict")}
    code, title = codes.get(error.status, ("invalid_input", "Invalid input"))
    return problem(error.status, code, title, f"{_field_message(error, 'ko')} / {_field_message(error, 'en')}",
                   errors=[{"field": error.field, "message_ko": error.message_ko, "message_en": error.message_en}])


def not_found_problem(error: NotFound) -> Response:
    return problem(404, "not_found", "Not found", f"{error.kind} {error.object_id} 가 없습니다 / no {error.kind} "
                                                  f"{error.object_id}")


def api(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """An API endpoint: refused input becomes problem+json naming the field."""
    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except FieldError as error:
            return field_problem(error)
        except NotFound as error:
            return not_found_problem(error)
        except BadRequest as error:
            return error.response
    return endpoint


async def json_body(request: Request) -> Any:
    return await read_json(request, MAX_API_BODY)


def query(request: Request, component: str) -> dict[str, Any]:
    """The query string checked against ``component`` (one value per name; a repeated name is refused)."""
    params = request.query_params
    for key in params:
        if len(params.getlist(key)) > 1:
            raise FieldError(key, f"{key}: 한 번만 줄 수 있습니다", f"{key}: may be given once only")
    return check(component, form_values(component, dict(params)))


async def form(request: Request) -> dict[str, str]:
    """The page form's text fields (files are read by the routes that take them)."""
    data = await request.form(max_files=10, max_fields=1000)
    return {key: value for key, value in data.items() if isinstance(value, str)}


def json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(value, status_code=status)


def actor_role(request: Request) -> tuple[Any, str]:
    account = current_account(request)
    return account.actor, account.role



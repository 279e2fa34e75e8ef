"""RFC 9457 problem responses with the kit's stable error codes, and safe JSON request bodies."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .safe_json import DEFAULT_LIMITS, JsonLimits, JsonRefused, parse_body

PROBLEM_TYPE = "https://s24kit.invalid/problems/"
DEFAULT_MAX_BODY = 8 * 1024 * 1024


class ProblemResponse(JSONResponse):
    media_type = "application/problem+json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# Limits of problem.schema.json: a message that echoes a caller's value is cut to fit, never longer.
MAX_TITLE, MAX_DETAIL, MAX_ERRORS, MAX_MESSAGE = 200, 2000, 200, 500


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _fitted_error(error: dict[str, str]) -> dict[str, str]:
    return {key: clip(value, MAX_MESSAGE) if key.startswith("message_") else value for key, value in error.items()}


def problem_body(status: int, code: str, title: str, detail: str | None = None, *,
                 errors: list[dict[str, str]] | None = None, request_id: str | None = None) -> dict[str, Any]:
    """A problem+json body within problem.schema.json's limits; ``detail`` is for people and never carries a
    stack trace."""
    body: dict[str, Any] = {"type": PROBLEM_TYPE + code.replace("_", "-"), "title": clip(title, MAX_TITLE),
                            "status": status, "code": code}
    if detail:
        body["detail"] = clip(detail, MAX_DETAIL)
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = [_fitted_error(e) for e in errors[:MAX_ERRORS]]
    return body


def problem(status: int, code: str, title: str, detail: str | None = None, *,
            errors: list[dict[str, str]] | None = None, request_id: str | None = None) -> ProblemResponse:
    """A problem+json response (see :func:`problem_body`)."""
    return ProblemResponse(problem_body(status, code, title, detail, errors=errors, request_id=request_id),
                           status_code=status)


class BadRequest(Exception):
    """Raised by :func:`read_json`; carries the problem response to send."""

    def __init__(self, response: ProblemResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


async def read_json(request: Request, max_bytes: int = DEFAULT_MAX_BODY, limits: JsonLimits = DEFAULT_LIMITS) -> Any:
    """The request's JSON body, or :class:`BadRequest` with the right status and problem code.

    415 ``unsupported_media_type`` unless ``application/json``; 413 ``payload_too_large`` over ``max_bytes``;
    400 ``invalid_json`` for anything :func:`~.safe_json.parse_body` refuses (syntax, UTF-8, BOM, depth, number
    length, lone surrogates, duplicate names, member counts, NaN/Infinity: docs/hostile-input.md).
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest(problem(415, "unsupported_media_type", "Unsupported media type",
                                 "본문은 application/json 이어야 합니다 / the body must be application/json"))
    body = await read_body(request, max_bytes)
    try:
        return parse_body(body, limits)
    except JsonRefused as exc:
        raise BadRequest(problem(400, "invalid_json", "Malformed JSON", f"{exc.ko} / {exc.en}")) from None


async def read_body(request: Request, max_bytes: int = DEFAULT_MAX_BODY) -> bytes:
    """The request's body, never reading more than ``max_bytes`` + one chunk (413 :class:`BadRequest` beyond).

    Use it instead of ``request.body()``, which reads a body of any size into memory. The body is kept where
    ``request.body()`` keeps it, so a later ``read_json`` or ``request.body()`` gets it again.
    """
    if hasattr(request, "_body"):  # read before, by this function or request.body()
        body: bytes = request._body
    else:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise BadRequest(_too_large(max_bytes))
        chunks = bytearray()
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > max_bytes:
                raise BadRequest(_too_large(max_bytes))
        body = request._body = bytes(chunks)  # Starlette's own cache, as request.body() fills it
    if len(body) > max_bytes:
        raise BadRequest(_too_large(max_bytes))
    return body


def _too_large(limit: int) -> ProblemResponse:
    return problem(413, "payload_too_large", "Payload too large",
                   f"본문이 {limit:,} 바이트를 넘습니다 / the body exceeds {limit:,} bytes")


def findings_as_errors(findings: list[Any]) -> list[dict[str, str]]:
    """Contract findings in the ``errors`` shape of problem.schema.json."""
    return [{"rule": f.rule, "pointer": f.pointer, "message_ko": f.message_ko, "message_en": f.message_en}
            for f in findings]


async def _routing_problem(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no such path) and 405 (no such method) as problems, like every other error."""
    status = getattr(exc, "status_code", 404)
    if status == 405:
        answer = problem(405, "method_not_allowed", "Method not allowed",
                         f"이 경로는 {request.method} 메서드를 받지 않습니다 / {request.method} is not allowed here")
    else:
        answer = problem(404, "not_found", "Not found", "그런 경로가 없습니다 / no such path")
    answer.headers.update(getattr(exc, "headers", None) or {})  # 405 keeps its Allow header
    return answer


#: ``Starlette(exception_handlers=ROUTING_PROBLEMS)``: a path or method the app does not have answers problem+json.
ROUTING_PROBLEMS = {404: _routing_problem, 405: _routing_problem}

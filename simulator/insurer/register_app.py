"""The 중복가입 register as a party of the simulator: one route to look up a person's other 실손 policies.

Only an ``insurer`` certificate may ask, and it is answered for the insurer its certificate names (the other
insurers' policies, never its own request's say); health is open. docs/security.md lists the table.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...schemas.loader import is_valid
from ...schemas.validation import schema_findings
from ..access import AccessTable, allow, caller_insurer, forbidden, protect
from ..journal import Journal, JournalMiddleware
from ..last_resort import LastResortMiddleware
from ..problems import ROUTING_PROBLEMS, BadRequest, findings_as_errors, problem, read_json
from .register import LOOKUPS, ContractRegister

REQUEST = "register-lookup#/$defs/request"
ACCESS = AccessTable("register", [
    allow("/register/v1/health"),
    allow(LOOKUPS, "insurer"),
])


def create_register_app(register: ContractRegister, *, journal: Journal | None = None) -> Starlette:
    """The register's ASGI app over ``register``."""

    async def lookup(request: Request) -> Response:
        asker = caller_insurer(request.scope)
        if asker is None:  # role insurer but no insurer code in the certificate: nobody to answer for
            return forbidden("인증서에 보험사 코드가 없습니다", "the certificate names no insurer")
        try:
            body = await read_json(request)
        except BadRequest as exc:
            return exc.response
        if not is_valid(REQUEST, body):
            return problem(400, "invalid_request", "Invalid lookup",
                           "identity_token: 중계기관이 발급한 본인확인 토큰을 보내십시오 "
                           "/ identity_token: send the relay-issued identity token",
                           errors=findings_as_errors(schema_findings(REQUEST, body)))
        return JSONResponse({"insurer_code": asker,
                             "policies": register.other_cover(body["identity_token"], asker)})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "profile": "kit-v1", "software": "s24kit 중복가입 register",
                             "policies": len(register)})

    app = Starlette(routes=[Route(LOOKUPS, lookup, methods=["POST"]),
                            Route("/register/v1/health", health, methods=["GET"])],
                    exception_handlers=ROUTING_PROBLEMS)
    protect(app, ACCESS)
    app.add_middleware(LastResortMiddleware, party="register")
    if journal is not None:
        app.add_middleware(JournalMiddleware, journal=journal, party="→register")
    return app

"""Who may call each route of a simulated party: one table per party, checked on every request.

Each party (relay, insurer, provider) lists its routes as :class:`Access` rows — the path, the certificate
roles allowed (``None``: open to any caller, for health and whoami only) — and :func:`protect` puts the
table in front of its app. The role is read from the client certificate the TLS layer verified
(``scope["extensions"]["tls"]["client_cert_chain"]``, see :mod:`.serving` over sockets and
:func:`.inprocess.as_caller` without them), never assumed from the CA: the kit's CA issues every party's
certificate, so "signed by the CA" says nothing about who is calling.

A refusal is 403 problem+json: ``client_certificate_required`` when no certificate came,
``forbidden`` when its role may not call the route. Checks that need the request body (an insurer's
pinned certificate and receipt, an agent's registration) are made by the route itself, after this gate.
docs/security.md lists every table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from starlette.routing import BaseRoute, Route, compile_path

from .pki import certificate_insurer, certificate_role
from .problems import ProblemResponse, problem_body
from .serving import client_certificate

ADMIN = "admin"


@dataclass(frozen=True)
class Access:
    """One row: a route path (Starlette template, or a prefix ending in ``/`` with ``prefix=True``) and the
    certificate roles that may call it (``None``: anyone, even without a certificate)."""

    path: str
    roles: frozenset[str] | None
    prefix: bool = False

    def matches(self, path: str) -> bool:
        if self.prefix:
            return path.startswith(self.path)
        return _pattern(self.path).fullmatch(path) is not None

    @property
    def open(self) -> bool:
        return self.roles is None


def allow(path: str, *roles: str) -> Access:
    """``allow("/relay/v1/claims", "patient-app")``; ``allow("/…/health")`` with no role is open to anyone."""
    return Access(path, frozenset(roles) if roles else None)


def admin_only(prefix: str = "/__admin/") -> Access:
    """Every path under ``prefix`` (the admin API, including paths that do not exist) for role ``admin``."""
    return Access(prefix, frozenset({ADMIN}), prefix=True)


@cache  # matched on every request: compile each template once
def _pattern(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


class AccessTable:
    """A party's rows; the first row that matches a path decides."""

    def __init__(self, party: str, rows: Iterable[Access]) -> None:
        self.party, self.rows = party, tuple(rows)

    def rule(self, path: str) -> Access | None:
        return next((row for row in self.rows if row.matches(path)), None)

    def uncovered(self, routes: Iterable[BaseRoute]) -> list[str]:
        """Paths of ``routes`` no row speaks for (a route added without deciding who may call it)."""
        return [route.path for route in routes if isinstance(route, Route) and self.rule(route.path) is None]

    def describe(self) -> list[dict[str, Any]]:
        return [{"path": row.path + ("…" if row.prefix else ""),
                 "roles": sorted(row.roles) if row.roles is not None else "open"} for row in self.rows]


def refusal(code: str, detail_ko: str, detail_en: str) -> ProblemResponse:
    """A 403 problem answer: ``client_certificate_required`` or ``forbidden``."""
    title = "Client certificate required" if code == "client_certificate_required" else "Forbidden"
    return ProblemResponse(problem_body(403, code, title, f"{detail_ko} / {detail_en}"), status_code=403)


def forbidden(detail_ko: str, detail_en: str) -> ProblemResponse:
    return refusal("forbidden", detail_ko, detail_en)


class RoleGate:
    """ASGI middleware: answer 403 before the app runs when the caller's certificate role is not allowed."""

    def __init__(self, app: Any, table: AccessTable) -> None:
        self.app, self.table = app, table

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            rule = self.table.rule(scope["path"])
            if rule is not None and not rule.open:
                refused = self._refuse(rule, client_certificate(scope))
                if refused is not None:
                    await refused(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _refuse(self, rule: Access, pem: str | None) -> ProblemResponse | None:
        allowed = ", ".join(sorted(rule.roles or ()))
        if pem is None:
            return refusal("client_certificate_required",
                           f"이 경로는 클라이언트 인증서가 필요합니다 (역할 {allowed})",
                           f"this route needs a client certificate (role {allowed})")
        role = certificate_role(pem)
        if role not in (rule.roles or ()):
            return forbidden(f"인증서 역할 {role or '(없음)'}은(는) 이 경로를 부를 수 없습니다 (허용 역할 {allowed})",
                             f"a certificate of role {role or '(none)'} may not call this route (allowed: {allowed})")
        return None


def protect(app: Any, table: AccessTable) -> None:
    """Put ``table`` in front of Starlette ``app``; every route of the app must have a row (ValueError)."""
    missing = table.uncovered(app.routes)
    if missing:
        raise ValueError(f"{table.party}: no access row for {', '.join(missing)}")
    app.add_middleware(RoleGate, table=table)
    app.state.access = table


def caller_insurer(scope: dict) -> str | None:
    """The insurer code of the caller's certificate (role ``insurer``), or None."""
    return certificate_insurer(client_certificate(scope))

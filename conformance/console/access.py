"""Who may call each route of the console: ONE table, read by the gate on every request (:mod:`.gate`).

Each row is a path (Starlette template, or a prefix ending in ``/`` with ``prefix=True``), a method, the
minimum role (``None``: open — only the login page and static files), and what the route does, in Korean
and English. Roles rank viewer < operator < approver < admin; a row for role R admits R and every role
above it. A request no row speaks for is refused (404/405) before any route runs, so a route added without
deciding who may call it cannot be reached; a test walks the app's routes against this table.

``own=True`` marks the only changes a viewer may make: to their own session and password. Pages sit under
``/``, the JSON API under ``/api/v1/`` (bearer tokens, no cookies, so no CSRF); docs/console.md prints this
table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import compile_path


class IdConvertor(Convertor[int]):
    """``{name:id}``: a row id, 1 to 999,999,999 — a longer number is no path of the console (404), never an
    integer the database cannot hold."""

    regex = "[1-9][0-9]{0,8}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())

VIEWER, OPERATOR, APPROVER, ADMIN = "viewer", "operator", "approver", "admin"
SAFE_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Rule:
    path: str
    method: str
    minimum: str | None
    what_ko: str
    what_en: str
    prefix: bool = False
    own: bool = False  # changes only the caller's own session or password

    def matches_path(self, path: str) -> bool:
        if self.prefix:
            return path.startswith(self.path)
        return _pattern(self.path).fullmatch(path) is not None

    def matches(self, path: str, method: str) -> bool:
        wanted = "GET" if method == "HEAD" else method
        return self.method == wanted and self.matches_path(path)

    @property
    def changes(self) -> bool:
        return self.method not in SAFE_METHODS

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")


@cache
def _pattern(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


def _rule(method: str, path: str, minimum: str | None, what_ko: str, what_en: str, **flags: bool) -> Rule:
    return Rule(path, method, minimum, what_ko, what_en, **flags)


RULES: tuple[Rule, ...] = (
    # -- open: the login page and static files -----------------------------------------------------------------
    _rule("GET", "/static/", None, "정적 파일 (CSS, JS)", "static files (CSS, JS)", prefix=True),
    _rule("GET", "/login", None, "로그인 화면", "login page"),
    _rule("POST", "/login", None, "로그인", "log in"),
    # -- pages --------------------------------------------------------------------------------------------------
    _rule("POST", "/logout", VIEWER, "로그아웃", "log out", own=True),
    _rule("GET", "/account/password", VIEWER, "비밀번호 변경 화면", "change password page"),
    _rule("POST", "/account/password", VIEWER, "자기 비밀번호 변경", "change one's own password", own=True),
    _rule("GET", "/", VIEWER, "첫 화면 (사이트 목록으로)", "home (goes to the site list)"),
    _rule("GET", "/sites", VIEWER, "사이트 목록 (업체·제품 버전·지역·상태로 거르기, 쪽 나눔)",
          "site list (filter by vendor, product version, region, state; paged)"),
    _rule("GET", "/sites/new", OPERATOR, "사이트 등록 화면", "new site page"),
    _rule("POST", "/sites", OPERATOR, "사이트 등록", "register a site"),
    _rule("GET", "/sites/{site_id:id}", VIEWER, "사이트 상세", "site detail"),
    _rule("GET", "/sites/{site_id:id}/edit", OPERATOR, "사이트 수정 화면", "edit site page"),
    _rule("POST", "/sites/{site_id:id}", OPERATOR, "사이트 수정", "edit a site"),
    _rule("POST", "/sites/{site_id:id}/state", OPERATOR,
          "사이트 상태 변경 (승인·반려·중지는 approver 이상)",
          "change a site's state (accept/reject/suspend: approver)"),
    _rule("GET", "/vendors", VIEWER, "업체·제품·버전 목록", "vendors, products and versions"),
    _rule("POST", "/vendors", OPERATOR, "업체 등록", "register a vendor"),
    _rule("GET", "/vendors/{vendor_id:id}", VIEWER, "업체 상세 (제품과 버전)", "vendor detail (products, versions)"),
    _rule("POST", "/vendors/{vendor_id:id}/products", OPERATOR, "제품 등록", "register a product"),
    _rule("POST", "/products/{product_id:id}/versions", OPERATOR, "제품 버전 등록", "register a product version"),
    _rule("GET", "/accounts", ADMIN, "계정 관리", "account management"),
    _rule("POST", "/accounts", ADMIN, "계정 만들기", "create an account"),
    _rule("POST", "/accounts/{account_id:id}", ADMIN, "계정 역할·사용 중지·비밀번호 재설정",
          "change an account's role, disable it, reset its password"),
    _rule("POST", "/accounts/{account_id:id}/tokens", ADMIN, "API 토큰 발급", "issue an API token"),
    _rule("POST", "/tokens/{token_id:id}/revoke", ADMIN, "API 토큰 폐기", "revoke an API token"),
    _rule("GET", "/audit", ADMIN, "감사 기록", "audit log"),
    _rule("GET", "/sites/import", OPERATOR, "사이트 CSV 가져오기 화면", "import a sites CSV (page)"),
    _rule("POST", "/sites/import", OPERATOR, "사이트 CSV 가져오기 (모두 또는 하나도 없이)",
          "import a sites CSV (every line or none)"),
    _rule("GET", "/sites/export", VIEWER, "사이트 목록 내보내기 (CSV, XLSX)", "export the register (CSV, XLSX)"),
    _rule("GET", "/results/export", VIEWER, "실행 결과 내보내기 (CSV, XLSX)", "export the results of runs (CSV, XLSX)"),
    _rule("GET", "/sites/{site_id:id}/decisions", VIEWER, "사이트의 결정과 서명된 기록",
          "a site's decisions and records"),
    _rule("POST", "/sites/{site_id:id}/decisions", APPROVER, "사이트 승인·반려·중지 (서명된 기록)",
          "accept, reject or suspend a site (signed record)"),
    _rule("GET", "/product-versions/{version_id:id}", VIEWER, "제품 버전과 그 결정",
          "a product version and its decisions"),
    _rule("POST", "/product-versions/{version_id:id}/decisions", APPROVER,
          "제품 버전 인증·반려·중지 (서명된 기록)", "certify, reject or suspend a product version (signed record)"),
    _rule("POST", "/product-versions/{version_id:id}/evidence", OPERATOR,
          "업체 증거 묶음 올리기 (검증 후 인증 실행으로)",
          "upload a vendor's evidence bundle (verified, then a certification run)"),
    _rule("GET", "/decisions/{decision_id:id}/record", VIEWER, "서명된 결정 기록 내려받기",
          "download a signed decision record"),
    _rule("GET", "/runs", VIEWER, "실행 목록 (사이트 점검·제품 인증, 쪽 나눔)",
          "runs (site checks, certifications; paged)"),
    _rule("POST", "/runs", OPERATOR, "사이트 점검·제품 인증 시작", "start a site check or a product certification"),
    _rule("GET", "/runs/{run_id:id}", VIEWER, "실행 하나 (진행, 판정, 이전 실행과 비교)",
          "one run (progress, verdict, comparison with the previous run)"),
    _rule("GET", "/runs/{run_id:id}/events", VIEWER, "실행 진행 실시간 (server-sent events)",
          "a run's live progress (server-sent events)"),
    _rule("GET", "/runs/{run_id:id}/report", VIEWER, "실행 보고서 (report.html)", "a run's report (report.html)"),
    _rule("GET", "/runs/{run_id:id}/evidence.zip", VIEWER, "실행 증거 묶음", "a run's evidence bundle"),
    _rule("GET", "/batches", VIEWER, "묶음 점검 목록과 새 묶음 화면", "batches and the new batch form"),
    _rule("POST", "/batches", OPERATOR, "묶음 점검 시작 (조건 또는 기관 목록)", "start a batch (filter or list)"),
    _rule("GET", "/batches/{batch_id:id}", VIEWER, "묶음 현황판", "a batch's board"),
    _rule("GET", "/batches/{batch_id:id}/events", VIEWER, "묶음 현황 실시간 (server-sent events)",
          "a batch's live board (server-sent events)"),
    _rule("POST", "/batches/{batch_id:id}/stop", OPERATOR, "묶음 멈추기", "stop a batch"),
    _rule("POST", "/batches/{batch_id:id}/resume", OPERATOR, "묶음 다시 시작", "resume a batch"),
    _rule("GET", "/monitoring", VIEWER, "정기 점검 일정과 사람이 볼 목록", "monitoring and the needs-a-person list"),
    _rule("POST", "/monitoring", OPERATOR, "정기 점검 일정 바꾸기", "change the monitoring schedule"),
    # -- JSON API ----------------------------------------------------------------------------------------------
    _rule("GET", "/api/v1/openapi.yaml", VIEWER, "이 API 의 OpenAPI 설명", "the OpenAPI description of this API"),
    _rule("GET", "/api/v1/whoami", VIEWER, "토큰의 계정과 역할", "the token's account and role"),
    _rule("GET", "/api/v1/vendors", VIEWER, "업체 목록", "list vendors"),
    _rule("POST", "/api/v1/vendors", OPERATOR, "업체 등록", "register a vendor"),
    _rule("GET", "/api/v1/vendors/{vendor_id:id}", VIEWER, "업체 하나", "one vendor"),
    _rule("GET", "/api/v1/products", VIEWER, "제품 목록", "list products"),
    _rule("POST", "/api/v1/products", OPERATOR, "제품 등록", "register a product"),
    _rule("GET", "/api/v1/product-versions", VIEWER, "제품 버전 목록", "list product versions"),
    _rule("POST", "/api/v1/product-versions", OPERATOR, "제품 버전 등록", "register a product version"),
    _rule("GET", "/api/v1/product-versions/{version_id:id}", VIEWER, "제품 버전 하나", "one product version"),
    _rule("GET", "/api/v1/sites", VIEWER, "사이트 목록 (거르기, 쪽 나눔)", "list sites (filters, pages)"),
    _rule("POST", "/api/v1/sites", OPERATOR, "사이트 등록", "register a site"),
    _rule("GET", "/api/v1/sites/{site_id:id}", VIEWER, "사이트 하나", "one site"),
    _rule("PATCH", "/api/v1/sites/{site_id:id}", OPERATOR, "사이트 수정", "edit a site"),
    _rule("POST", "/api/v1/sites/{site_id:id}/state", OPERATOR,
          "사이트 상태 변경 (승인·반려·중지는 approver 이상)",
          "change a site's state (accept/reject/suspend: approver)"),
    _rule("GET", "/api/v1/accounts", ADMIN, "계정 목록", "list accounts"),
    _rule("POST", "/api/v1/accounts", ADMIN, "계정 만들기 (일회용 비밀번호)", "create an account (one-time password)"),
    _rule("PATCH", "/api/v1/accounts/{account_id:id}", ADMIN, "계정 역할·사용 중지·비밀번호 재설정",
          "change an account's role, disable it, reset its password"),
    _rule("GET", "/api/v1/tokens", ADMIN, "API 토큰 목록", "list API tokens"),
    _rule("POST", "/api/v1/accounts/{account_id:id}/tokens", ADMIN, "API 토큰 발급", "issue an API token"),
    _rule("DELETE", "/api/v1/tokens/{token_id:id}", ADMIN, "API 토큰 폐기", "revoke an API token"),
    _rule("GET", "/api/v1/audit", ADMIN, "감사 기록", "audit log"),
    _rule("POST", "/api/v1/sites/import", OPERATOR, "사이트 CSV 가져오기 (본문: CSV)",
          "import a sites CSV (body: the CSV)"),
    _rule("GET", "/api/v1/sites/export", VIEWER, "사이트 목록 내보내기 (CSV, XLSX)", "export the register (CSV, XLSX)"),
    _rule("GET", "/api/v1/results/export", VIEWER, "실행 결과 내보내기 (CSV, XLSX)",
          "export the results of runs (CSV, XLSX)"),
    _rule("POST", "/api/v1/product-versions/{version_id:id}/evidence", OPERATOR,
          "업체 증거 묶음 올리기 (본문: zip)", "upload a vendor's evidence bundle (body: the zip)"),
    _rule("POST", "/api/v1/decisions", APPROVER, "결정 (서명된 기록)", "decide (signed record)"),
    _rule("GET", "/api/v1/decisions", VIEWER, "결정 목록", "list decisions"),
    _rule("GET", "/api/v1/decisions/{decision_id:id}", VIEWER, "결정 하나", "one decision"),
    _rule("GET", "/api/v1/decisions/{decision_id:id}/record", VIEWER, "서명된 결정 기록", "a signed decision record"),
    _rule("GET", "/api/v1/runs", VIEWER, "실행 목록 (쪽 나눔)", "list runs (pages)"),
    _rule("POST", "/api/v1/runs", OPERATOR, "사이트 점검·제품 인증 시작", "start a site check or a certification"),
    _rule("GET", "/api/v1/runs/{run_id:id}", VIEWER, "실행 하나", "one run"),
    _rule("GET", "/api/v1/runs/{run_id:id}/comparison", VIEWER, "이전 실행과 비교", "comparison with the previous run"),
    _rule("GET", "/api/v1/batches", VIEWER, "묶음 목록", "list batches"),
    _rule("POST", "/api/v1/batches", OPERATOR, "묶음 점검 시작", "start a batch"),
    _rule("GET", "/api/v1/batches/{batch_id:id}", VIEWER, "묶음 현황", "one batch's board"),
    _rule("POST", "/api/v1/batches/{batch_id:id}/stop", OPERATOR, "묶음 멈추기", "stop a batch"),
    _rule("POST", "/api/v1/batches/{batch_id:id}/resume", OPERATOR, "묶음 다시 시작", "resume a batch"),
    _rule("GET", "/api/v1/monitoring", VIEWER, "정기 점검 일정과 사람이 볼 목록", "monitoring and needs-a-person"),
    _rule("POST", "/api/v1/monitoring", OPERATOR, "정기 점검 일정 바꾸기", "change the monitoring schedule"),
)

#: What an account that must change its one-time password may still reach.
WHILE_PASSWORD_CHANGE = frozenset({("POST", "/logout"), ("GET", "/account/password"), ("POST", "/account/password")})


def rule_for(path: str, method: str, rules: tuple[Rule, ...] = RULES) -> Rule | None:
    """The row for this request, or None."""
    return next((rule for rule in rules if rule.matches(path, method)), None)


def path_known(path: str, rules: tuple[Rule, ...] = RULES) -> bool:
    """True when some row speaks for ``path`` with another method (the answer is then 405, not 404)."""
    return any(rule.matches_path(path) for rule in rules)

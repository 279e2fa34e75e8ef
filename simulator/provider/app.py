"""The reference provider as an ASGI app: the kit-v1 provider endpoints, every error case included."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...schemas.loader import is_valid
from ...schemas.validation import schema_findings
from ..problems import BadRequest, findings_as_errors, problem, read_json
from .scenario import Scenario

SEARCH = "visit-search#/$defs/request"
FETCH = "document-fetch#/$defs/request"
KST = dt.timezone(dt.timedelta(hours=9))
Handler = Callable[[dict[str, Any], dict[str, Any]], Response]


def _now() -> dt.datetime:
    return dt.datetime.now(KST)


def create_provider_app(scenario: Scenario, *, clock: Callable[[], dt.datetime] = _now,
                        max_body_bytes: int = 1024 * 1024) -> Starlette:
    """Serve ``scenario``'s visits and documents as the provider ``scenario.provider_code``."""
    answers: dict[str, tuple[str, int, bytes]] = {}  # request_id → (body hash, status, answer)

    def consent_problem(consent: dict[str, Any], wanted: list[str]) -> Response | None:
        now = clock()
        granted, expires = (dt.datetime.fromisoformat(consent[k]) for k in ("granted_at", "expires_at"))
        if not granted <= now < expires:
            return problem(403, "invalid_consent", "Consent not valid now",
                           f"동의 기간({consent['granted_at']} ~ {consent['expires_at']})이 아닙니다 "
                           "/ the consent is not valid at this time")
        outside = sorted(set(wanted) - set(consent["scope"]))
        if outside:
            return problem(403, "invalid_consent", "Document types outside the consent",
                           f"동의 범위 밖의 서류: {', '.join(outside)} / not consented: {', '.join(outside)}")
        return None

    def search(body: dict[str, Any], patient: dict[str, Any]) -> Response:
        period = body["period"]
        visits = [{"visit_id": v["visit_id"], "setting": v["setting"], "start_date": v["start_date"],
                   "end_date": v["end_date"], "department": _department(scenario, v["visit_id"]),
                   "available_documents": v["document_types"]}
                  for v in scenario.visits_of(patient["patient_id"], period["start"], period["end"])]
        return JSONResponse({"request_id": body["request_id"], "provider_code": scenario.provider_code,
                             "visits": visits})

    def fetch(body: dict[str, Any], patient: dict[str, Any]) -> Response:
        if (refused := consent_problem(body["consent"], body["document_types"])) is not None:
            return refused
        documents, missing = [], []
        for visit_id in body["visit_ids"]:
            visit = scenario.visits.get(visit_id)
            if visit is None or visit["patient_id"] != patient["patient_id"]:
                return problem(404, "unknown_visit", "Unknown visit",
                               f"이 환자의 내원 {visit_id}이(가) 없습니다 / no visit {visit_id} for this patient",
                               request_id=body["request_id"])
            held = {d["document_type"]: d for d in scenario.documents[visit_id]}
            for kind in body["document_types"]:
                if kind in held:
                    documents.append(held[kind])
                else:
                    missing.append({"visit_id": visit_id, "document_type": kind, "reason": "not_issued"})
        return JSONResponse({"profile": "kit-v1", "request_id": body["request_id"],
                             "provider_code": scenario.provider_code, "documents": documents, "missing": missing})

    def endpoint(schema: str, handle: Handler, consent_first: bool) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                body = await read_json(request, max_body_bytes)
            except BadRequest as exc:
                return exc.response
            if not is_valid(schema, body):
                return problem(400, "invalid_request", "Invalid request",
                               errors=findings_as_errors(schema_findings(schema, body)))
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            if (seen := answers.get(body["request_id"])) is not None:
                if seen[0] != digest:
                    return problem(409, "idempotency_conflict", "request_id reused",
                                   "같은 request_id로 다른 요청을 보냈습니다 / same request_id, different request",
                                   request_id=body["request_id"])
                return Response(seen[2], status_code=seen[1], media_type=_media(seen[1]))
            response = _answer(body, handle, consent_first)
            answers[body["request_id"]] = (digest, response.status_code, bytes(response.body))
            return response
        return run

    def _answer(body: dict[str, Any], handle: Handler, consent_first: bool) -> Response:
        patient = scenario.patient(body["patient"])
        if patient is None:
            return problem(404, "unknown_patient", "Unknown patient",
                           "이름·생년월일·본인확인 토큰이 일치하는 환자가 없습니다 "
                           "/ no patient matches the name, birth date and identity token",
                           request_id=body["request_id"])
        if consent_first and (refused := consent_problem(body["consent"], [])) is not None:
            return refused
        return handle(body, patient)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "profile": "kit-v1", "provider_code": scenario.provider_code,
                             "software": "s24kit reference provider"})

    return Starlette(routes=[
        Route("/s24/v1/health", health, methods=["GET"]),
        Route("/s24/v1/visits:search", endpoint(SEARCH, search, True), methods=["POST"]),
        Route("/s24/v1/documents:fetch", endpoint(FETCH, fetch, False), methods=["POST"]),
    ])


def _media(status: int) -> str:
    return "application/json" if status < 400 else "application/problem+json"


def _department(scenario: Scenario, visit_id: str) -> str:
    for doc in scenario.documents[visit_id]:
        if doc["document_type"] == "medical_receipt":
            return doc["department"]
    return "00"

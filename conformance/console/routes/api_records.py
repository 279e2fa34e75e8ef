"""The records' JSON API (``/api/v1/…``, bearer tokens): import a sites CSV, export the register, decisions and
their signed records, as described in ``openapi.yaml``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ....simulator.problems import problem_body
from .. import decisions, evidence, records
from ..auth import current_account
from ..importing import import_sites
from ..sitecsv import MAX_BYTES, SitesRefused
from ..validation import NotFound
from .common import actor_role, api, in_transaction, json, json_body, query

PROBLEM_TYPE = "application/problem+json"


async def _body(request: Request, limit: int) -> bytes | Response:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return JSONResponse(problem_body(413, "payload_too_large", "Payload too large",
                                             f"CSV 가 {limit:,} 바이트를 넘습니다 / the CSV exceeds {limit:,} bytes"),
                                status_code=413, media_type=PROBLEM_TYPE)
    return bytes(body)


@api
async def import_csv(request: Request) -> Response:
    data = await _body(request, MAX_BYTES)
    if isinstance(data, Response):
        return data
    try:
        result = await in_transaction(request, import_sites, actor_role(request)[0], data)
    except SitesRefused as refused:
        errors = [{"field": e.column, "line": e.line, "message_ko": e.message_ko, "message_en": e.message_en}
                  for e in refused.errors]
        body = problem_body(400, "invalid_csv", "Invalid CSV",
                            f"가져올 수 없는 줄 {len(errors) + refused.more}개 — 아무것도 가져오지 않았습니다 / "
                            f"{len(errors) + refused.more} bad line(s) — nothing was imported", errors=errors)
        body["errors"] = errors  # every one (the importer caps them at its own limit and counts the rest)
        body["more_errors"] = refused.more
        return JSONResponse(body, status_code=400, media_type=PROBLEM_TYPE)
    return json(result.as_json(), 201)


@api
async def export(request: Request) -> Response:
    made = await in_transaction(request, records.export_register, query(request, "ExportQuery"))
    return Response(made.body, media_type=made.media_type,
                    headers={"content-disposition": f'attachment; filename="{made.filename}"'})


@api
async def export_results(request: Request) -> Response:
    made = await in_transaction(request, records.export_results, query(request, "ResultExportQuery"))
    return Response(made.body, media_type=made.media_type,
                    headers={"content-disposition": f'attachment; filename="{made.filename}"'})


@api
async def create_decision(request: Request) -> Response:
    body = await json_body(request)
    account = current_account(request)
    return json(await in_transaction(request, records.decide, account.actor, account.role,
                                     request.app.state.settings.state_dir, body), 201)


@api
async def list_decisions(request: Request) -> Response:
    values = query(request, "DecisionQuery")
    return json({"items": await in_transaction(request, decisions.list_decisions, values.get("subject_kind"),
                                               values.get("subject_id"))})


@api
async def get_decision(request: Request) -> Response:
    return json(await in_transaction(request, decisions.get_decision, request.path_params["decision_id"]))


@api
async def get_record(request: Request) -> Response:
    found = await in_transaction(request, decisions.get_decision, request.path_params["decision_id"])
    if not found["record"]:
        raise NotFound("decision record", found["id"])
    return json(found["record"])


@api
async def upload_evidence(request: Request) -> Response:
    data = await _body(request, evidence.MAX_BUNDLE)
    if isinstance(data, Response):
        return data
    name = request.headers.get("x-filename", "evidence.zip")
    return json(await in_transaction(request, evidence.attach_bundle, actor_role(request)[0],
                                     request.app.state.settings.state_dir, request.path_params["version_id"], data,
                                     name), 201)


routes = [
    Route("/api/v1/sites/import", import_csv, methods=["POST"]),
    Route("/api/v1/sites/export", export, methods=["GET"]),
    Route("/api/v1/results/export", export_results, methods=["GET"]),
    Route("/api/v1/product-versions/{version_id:id}/evidence", upload_evidence, methods=["POST"]),
    Route("/api/v1/decisions", create_decision, methods=["POST"]),
    Route("/api/v1/decisions", list_decisions, methods=["GET"]),
    Route("/api/v1/decisions/{decision_id:id}", get_decision, methods=["GET"]),
    Route("/api/v1/decisions/{decision_id:id}/record", get_record, methods=["GET"]),
]

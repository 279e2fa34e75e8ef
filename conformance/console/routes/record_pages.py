"""Pages for the records: import a sites CSV, export the register, decide on a site or a product version,
download a signed decision record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import decisions, evidence, records, register
from ..auth import current_account
from ..importing import import_sites
from ..labels import STATE_LABELS
from ..runs import run_json
from ..sitecsv import SitesRefused
from ..tables import runs
from ..validation import FieldError, NotFound, form_values
from .common import flash, in_transaction, page_error, query, render


async def import_form(request: Request) -> Response:
    return render(request, "import.html", {"errors": None})


async def import_upload(request: Request) -> Response:
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return render(request, "import.html", {"errors": None, "missing": True}, status=400)
    data = await upload.read()
    await form.close()
    try:
        result = await in_transaction(request, import_sites, current_account(request).actor, data)
    except SitesRefused as refused:
        return render(request, "import.html", {"errors": refused.errors, "more": refused.more}, status=400)
    notes_ko = "".join(f" — {note['message_ko']}" for note in result.notes)
    notes_en = "".join(f" — {note['message_en']}" for note in result.notes)
    flash(request, f"사이트 {result.sites:,}곳을 가져왔습니다 ({result.encoding}){notes_ko}",
          f"imported {result.sites:,} sites ({result.encoding}){notes_en}")
    return RedirectResponse("/sites", status_code=303)


async def _download(request: Request, schema: str, make: Any) -> Response:
    """The file ``make`` writes for the query ``schema`` describes, as an attachment."""
    try:
        values = query(request, schema)
    except FieldError as error:
        return page_error(request, error)
    made = await in_transaction(request, make, values)
    return Response(made.body, media_type=made.media_type,
                    headers={"content-disposition": f'attachment; filename="{made.filename}"'})


async def export(request: Request) -> Response:
    return await _download(request, "ExportQuery", records.export_register)


async def export_results(request: Request) -> Response:
    return await _download(request, "ResultExportQuery", records.export_results)


def _site_decisions(connection: Connection, site_id: int) -> dict[str, Any]:
    site = register.get_site(connection, site_id)
    # as for versions: only the decisions docs/console.md §9 allows from the site's state (the store refuses others)
    allowed = register.SITE_TRANSITIONS.get(site["state"], ())
    return {"site": site, "state_labels": STATE_LABELS,
            "decisions": decisions.list_decisions(connection, "site", site_id),
            "choices": tuple(d for d in decisions.SITE_DECISIONS if d in allowed), "subject_kind": "site",
            "subject_id": site_id}


def _version_runs(connection: Connection, version_id: int) -> list[dict[str, Any]]:
    rows = connection.execute(select(runs).where(runs.c.product_version_id == version_id)
                              .order_by(runs.c.id.desc()).limit(50)).all()
    return [run_json(row) | {"source": (row.parameters or {}).get("source", "run")} for row in rows]


def _version_decisions(connection: Connection, version_id: int) -> dict[str, Any]:
    version = register.get_version(connection, version_id)
    # the form offers the moves docs/console.md §9 allows from where the version is (the store refuses others)
    return {"version": version, "state_labels": STATE_LABELS, "runs": _version_runs(connection, version_id),
            "decisions": decisions.list_decisions(connection, "product_version", version_id),
            "choices": register.VERSION_TRANSITIONS.get(version["state"], ()), "subject_kind": "product_version",
            "subject_id": version_id}


async def site_decisions(request: Request) -> Response:
    try:
        context = await in_transaction(request, _site_decisions, request.path_params["site_id"])
    except NotFound as error:
        return page_error(request, error)
    return render(request, "decisions.html", context)


async def version_page(request: Request) -> Response:
    try:
        context = await in_transaction(request, _version_decisions, request.path_params["version_id"])
    except NotFound as error:
        return page_error(request, error)
    return render(request, "decisions.html", context)


async def _decide(request: Request, subject_kind: str, subject_id: int, back: str) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    values = form_values("DecisionForm", {k: v for k, v in form.items() if isinstance(v, str)})
    account = current_account(request)
    try:
        await in_transaction(request, records.decide, account.actor, account.role,
                             request.app.state.settings.state_dir,
                             {**values, "subject_kind": subject_kind, "subject_id": subject_id})
    except (FieldError, NotFound) as error:
        return page_error(request, error)
    flash(request, "결정을 기록하고 서명했습니다", "the decision is recorded and signed")
    return RedirectResponse(back, status_code=303)


async def decide_site(request: Request) -> Response:
    site_id = request.path_params["site_id"]
    return await _decide(request, "site", site_id, f"/sites/{site_id}/decisions")


async def decide_version(request: Request) -> Response:
    version_id = request.path_params["version_id"]
    return await _decide(request, "product_version", version_id, f"/product-versions/{version_id}")


async def upload_evidence(request: Request) -> Response:
    version_id = request.path_params["version_id"]
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    data, name = (b"", "") if upload is None or isinstance(upload, str) else (await upload.read(), upload.filename)
    await form.close()
    try:
        run = await in_transaction(request, evidence.attach_bundle, current_account(request).actor,
                                   request.app.state.settings.state_dir, version_id, data, name or "evidence.zip")
    except (FieldError, NotFound) as error:
        return page_error(request, error)
    flash(request, f"증거 묶음을 확인하고 실행 {run['id']}로 붙였습니다 ({run['verdict']})",
          f"the evidence bundle is intact and attached as run {run['id']} ({run['verdict']})")
    return RedirectResponse(f"/product-versions/{version_id}", status_code=303)


async def decision_record(request: Request) -> Response:
    try:
        found = await in_transaction(request, decisions.get_decision, request.path_params["decision_id"])
    except NotFound as error:
        return page_error(request, error)
    if not found["record"]:
        return page_error(request, NotFound("decision record", found["id"]))
    from ...reports.record import dumps

    return Response(dumps(found["record"]), media_type="application/json", headers={
        "content-disposition": f'attachment; filename="decision-{found["id"]}.json"'})


routes = [
    Route("/sites/import", import_form, methods=["GET"]),
    Route("/sites/import", import_upload, methods=["POST"]),
    Route("/sites/export", export, methods=["GET"]),
    Route("/results/export", export_results, methods=["GET"]),
    Route("/sites/{site_id:id}/decisions", site_decisions, methods=["GET"]),
    Route("/sites/{site_id:id}/decisions", decide_site, methods=["POST"]),
    Route("/product-versions/{version_id:id}", version_page, methods=["GET"]),
    Route("/product-versions/{version_id:id}/decisions", decide_version, methods=["POST"]),
    Route("/product-versions/{version_id:id}/evidence", upload_evidence, methods=["POST"]),
    Route("/decisions/{decision_id:id}/record", decision_record, methods=["GET"]),
]

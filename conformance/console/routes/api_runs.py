"""The runs' JSON API (``/api/v1/…``, bearer tokens): runs, their comparison, batches and monitoring, as
described in ``openapi.yaml``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import batches, monitoring, register, runs
from ..compare import compare
from ..validation import NotFound
from .common import actor_role, api, in_transaction, json, json_body, query


@api
async def list_runs(request: Request) -> Response:
    values = query(request, "RunQuery")
    listed = await in_transaction(request, lambda c: runs.list_runs(
        c, site_id=values.get("site_id"), batch_id=values.get("batch_id"), page=values.get("page", 1),
        per_page=values.get("per_page", register.DEFAULT_PER_PAGE)))
    return json(listed.as_json())


@api
async def start_run(request: Request) -> Response:
    body = await json_body(request)
    return json(await in_transaction(request, runs.start_run, actor_role(request)[0], body), 201)


@api
async def get_run(request: Request) -> Response:
    return json(await in_transaction(request, runs.get_run, request.path_params["run_id"]))


@api
async def compare_run(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    found = await in_transaction(request, compare, run_id)
    if found is None:
        raise NotFound("run", run_id)
    return json(found)


@api
async def list_batches(request: Request) -> Response:
    return json({"items": await in_transaction(request, batches.list_batches)})


@api
async def create_batch(request: Request) -> Response:
    body = await json_body(request)
    return json(await in_transaction(request, batches.new_batch, actor_role(request)[0], body), 201)


@api
async def get_batch(request: Request) -> Response:
    batch_id = request.path_params["batch_id"]
    found = await in_transaction(request, batches.board, batch_id)
    if found is None:
        raise NotFound("batch", batch_id)
    return json(found)


def _change(action: str):
    @api
    async def change(request: Request) -> Response:
        return json(await in_transaction(request, batches.change_batch, actor_role(request)[0],
                                         request.path_params["batch_id"], action))
    return change


@api
async def get_monitoring(request: Request) -> Response:
    return json(await in_transaction(request, monitoring.overview))


@api
async def set_monitoring(request: Request) -> Response:
    body = await json_body(request)
    return json(await in_transaction(request, monitoring.change_schedule, actor_role(request)[0], body))


routes = [
    Route("/api/v1/runs", list_runs, methods=["GET"]),
    Route("/api/v1/runs", start_run, methods=["POST"]),
    Route("/api/v1/runs/{run_id:id}", get_run, methods=["GET"]),
    Route("/api/v1/runs/{run_id:id}/comparison", compare_run, methods=["GET"]),
    Route("/api/v1/batches", list_batches, methods=["GET"]),
    Route("/api/v1/batches", create_batch, methods=["POST"]),
    Route("/api/v1/batches/{batch_id:id}", get_batch, methods=["GET"]),
    Route("/api/v1/batches/{batch_id:id}/stop", _change("stop"), methods=["POST"]),
    Route("/api/v1/batches/{batch_id:id}/resume", _change("resume"), methods=["POST"]),
    Route("/api/v1/monitoring", get_monitoring, methods=["GET"]),
    Route("/api/v1/monitoring", set_monitoring, methods=["POST"]),
]

"""The run pages: runs (start, list, one run with its live progress, report and evidence), batches (new, list,
the live board, stop and resume) and monitoring. Live updates are server-sent events read from the database,
so a run progresses on the page whichever worker (in this console or another machine) runs it."""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import batches, monitoring, register, runs
from ..compare import compare
from ..labels import STATE_LABELS, regions
from ..monitoring import REASONS
from ..tables import SITE_STATES
from ..validation import FieldError, NotFound, form_values
from .common import actor_role, flash, form, in_transaction, page_error, query, render

#: How long one event stream stays open; the browser's EventSource reconnects (with Last-Event-ID) after it.
STREAM_SECONDS = 60.0
POLL_SECONDS = 0.5


def _read(request: Request, work: Callable[..., Any], *args: Any) -> Any:
    engine = request.app.state.database.engine

    def run() -> Any:
        with engine.connect() as connection:
            return work(connection, *args)
    return run_in_threadpool(run)


def _event(name: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {jsonlib.dumps(data, ensure_ascii=False, default=str)}\n\n"


def _stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


# -- runs ------------------------------------------------------------------------------------------------------

async def run_list(request: Request) -> Response:
    try:
        values = query(request, "RunQuery")
    except FieldError as error:
        return page_error(request, error)
    listed = await in_transaction(request, lambda c: runs.list_runs(
        c, site_id=values.get("site_id"), batch_id=values.get("batch_id"), page=values.get("page", 1),
        per_page=values.get("per_page", register.DEFAULT_PER_PAGE)))
    versions = await in_transaction(request, register.list_versions)
    args = {k: v for k, v in values.items() if k in ("site_id", "batch_id")}
    return render(request, "runs.html", {
        "runs": listed.items, "page": listed, "versions": versions, "site_id": values.get("site_id"),
        "page_url": lambda n: "/runs?" + urlencode({**args, "page": n, "per_page": listed.per_page})})


async def run_start(request: Request) -> Response:
    values = form_values("RunNew", await form(request))
    try:
        run = await in_transaction(request, runs.start_run, actor_role(request)[0], values)
    except (FieldError, NotFound) as error:
        return page_error(request, error)
    flash(request, f"실행 {run['id']} 을(를) 대기열에 넣었습니다", f"run {run['id']} queued")
    return RedirectResponse(f"/runs/{run['id']}", status_code=303)


def _run_page(connection: Any, run_id: int) -> dict[str, Any]:
    run = runs.get_run(connection, run_id)
    progress, _ = runs.progress_since(connection, run_id, 0)
    site = register.get_site(connection, run["site_id"]) if run["site_id"] else None
    return {"run": run, "progress": progress, "site": site, "job": runs.job_of(connection, run_id),
            "comparison": compare(connection, run_id) if run["state"] == "done" else None}


async def run_detail(request: Request) -> Response:
    try:
        context = await _read(request, _run_page, request.path_params["run_id"])
    except NotFound as error:
        return page_error(request, error)
    return render(request, "run.html", {**context, "finished": runs.FINISHED})


async def run_events(request: Request) -> Response:
    """Server-sent events: ``progress`` per judged requirement (id = the progress row), then ``done``."""
    run_id = request.path_params["run_id"]
    try:
        after = int(request.headers.get("last-event-id") or 0)
    except ValueError:
        after = 0
    try:
        await _read(request, runs.get_run, run_id)
    except NotFound as error:
        return page_error(request, error)

    async def events() -> AsyncIterator[str]:
        seen, loop = after, asyncio.get_running_loop()
        until = loop.time() + STREAM_SECONDS
        yield "retry: 2000\n\n"
        while True:
            rows, run = await _read(request, runs.progress_since, run_id, seen)
            for row in rows:
                if await request.is_disconnected():
                    return  # the page is gone: nothing more is written to its connection
                seen = row["id"]
                yield _event("progress", {**row, "total": run["progress_total"]}, row["id"])
            if run["state"] in runs.FINISHED:
                yield _event("done", {"state": run["state"], "verdict": run["verdict"]})
                return
            if loop.time() > until or await request.is_disconnected():
                return
            await asyncio.sleep(POLL_SECONDS)
    return _stream(events())


def _report_file(name: str, media: str) -> Callable[[Request], Any]:
    async def serve(request: Request) -> Response:
        try:
            folder = await _read(request, runs.report_dir, request.path_params["run_id"])
        except NotFound as error:
            return page_error(request, error)
        path = Path(folder) / name if folder else None
        if path is None or not path.is_file():
            return page_error(request, NotFound("report", request.path_params["run_id"]))
        return FileResponse(path, media_type=media, headers={"content-security-policy": "sandbox"}
                            if media == "text/html" else None)
    return serve


# -- batches ---------------------------------------------------------------------------------------------------

async def batch_list(request: Request) -> Response:
    listed = await in_transaction(request, batches.list_batches)
    choices = await in_transaction(request, lambda c: {"vendors": register.list_vendors(c),
                                                       "versions": register.list_versions(c)})
    return render(request, "batches.html", {"batches": listed, "regions": regions(), "states": SITE_STATES,
                                            "state_labels": STATE_LABELS, **choices})


async def batch_create(request: Request) -> Response:
    raw = await form(request)
    codes = raw.pop("provider_codes", "")
    values = form_values("BatchNew", raw)
    if codes.strip():
        values["provider_codes"] = codes.replace(",", " ").split()
    try:
        made = await in_transaction(request, batches.new_batch, actor_role(request)[0], values)
    except (FieldError, NotFound) as error:
        return page_error(request, error)
    flash(request, f"묶음 {made['id']}: 사이트 {made['total']}곳 점검을 시작합니다",
          f"batch {made['id']}: checking {made['total']} sites")
    return RedirectResponse(f"/batches/{made['id']}", status_code=303)


def _board_page(connection: Any, batch_id: int) -> dict[str, Any]:
    board = batches.board(connection, batch_id)
    if board is None:
        raise NotFound("batch", batch_id)
    return {"batch": board, "runs": batches.batch_runs(connection, batch_id)}


async def batch_detail(request: Request) -> Response:
    try:
        context = await _read(request, _board_page, request.path_params["batch_id"])
    except NotFound as error:
        return page_error(request, error)
    return render(request, "batch.html", context)


async def batch_events(request: Request) -> Response:
    """Server-sent events: ``board`` (the counts) whenever they change, until the batch is done or stopped."""
    batch_id = request.path_params["batch_id"]
    if await _read(request, batches.board, batch_id) is None:
        return page_error(request, NotFound("batch", batch_id))

    async def events() -> AsyncIterator[str]:
        last, loop = None, asyncio.get_running_loop()
        until = loop.time() + STREAM_SECONDS
        yield "retry: 2000\n\n"
        while True:
            board = await _read(request, batches.board, batch_id)
            if await request.is_disconnected():
                return  # the board is gone: nothing more is written to its connection
            if board != last:
                last = board
                yield _event("board", board)
            if board["state"] in ("done", "stopped") or loop.time() > until or await request.is_disconnected():
                return
            await asyncio.sleep(POLL_SECONDS)
    return _stream(events())


def _batch_action(action: str) -> Callable[[Request], Any]:
    async def change(request: Request) -> Response:
        batch_id = request.path_params["batch_id"]
        try:
            await in_transaction(request, batches.change_batch, actor_role(request)[0], batch_id, action)
        except (FieldError, NotFound) as error:
            return page_error(request, error)
        return RedirectResponse(f"/batches/{batch_id}", status_code=303)
    return change


# -- monitoring ------------------------------------------------------------------------------------------------

async def monitoring_page(request: Request) -> Response:
    return render(request, "monitoring.html", {**await in_transaction(request, monitoring.overview),
                                               "reasons": REASONS})


async def monitoring_change(request: Request) -> Response:
    raw = await form(request)
    if "interval_hours" in raw:  # an unticked checkbox sends nothing
        raw["enabled"] = "true" if raw.get("enabled") in ("on", "true") else "false"
    values = form_values("MonitoringSettings", raw)
    try:
        await in_transaction(request, monitoring.change_schedule, actor_role(request)[0], values)
    except FieldError as error:
        return page_error(request, error)
    flash(request, "점검 일정을 바꾸었습니다", "schedule changed")
    return RedirectResponse("/monitoring", status_code=303)


routes = [
    Route("/runs", run_list, methods=["GET"]),
    Route("/runs", run_start, methods=["POST"]),
    Route("/runs/{run_id:id}", run_detail, methods=["GET"]),
    Route("/runs/{run_id:id}/events", run_events, methods=["GET"]),
    Route("/runs/{run_id:id}/report", _report_file("report.html", "text/html"), methods=["GET"]),
    Route("/runs/{run_id:id}/evidence.zip", _report_file("evidence.zip", "application/zip"), methods=["GET"]),
    Route("/batches", batch_list, methods=["GET"]),
    Route("/batches", batch_create, methods=["POST"]),
    Route("/batches/{batch_id:id}", batch_detail, methods=["GET"]),
    Route("/batches/{batch_id:id}/events", batch_events, methods=["GET"]),
    Route("/batches/{batch_id:id}/stop", _batch_action("stop"), methods=["POST"]),
    Route("/batches/{batch_id:id}/resume", _batch_action("resume"), methods=["POST"]),
    Route("/monitoring", monitoring_page, methods=["GET"]),
    Route("/monitoring", monitoring_change, methods=["POST"]),
]

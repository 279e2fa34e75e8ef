"""Admin routes of fault plans: read, replace and switch off the plan of a :class:`FaultSwitch`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..admin import AdminRoute
from ..problems import BadRequest, problem, read_json
from .plan import FaultPlan, FaultPlanError, FaultSwitch


def _state(switch: FaultSwitch) -> dict:
    plan = switch.plan
    return {"active": plan.active, "plan": plan.as_dict(), "applied": plan.applied()}


def fault_routes(holder: FaultSwitch) -> list[AdminRoute]:
    """``GET``/``PUT``/``DELETE /__admin/faults`` over ``holder.plan``."""

    async def show(request: Request) -> Response:
        return JSONResponse(_state(holder))

    async def replace(request: Request) -> Response:
        try:
            data = await read_json(request, max_bytes=1024 * 1024)
        except BadRequest as exc:
            return exc.response
        try:
            plan = FaultPlan.from_dict(data)
        except FaultPlanError as exc:
            return problem(400, "invalid_request", "Invalid fault plan", str(exc),
                           errors=[{"rule": "schema", "pointer": _pointer(exc.where),
                                    "message_ko": exc.message_ko, "message_en": exc.message_en}])
        holder.plan = plan
        return JSONResponse(_state(holder))

    async def switch_off(request: Request) -> Response:
        holder.plan = FaultPlan.empty()
        return JSONResponse(_state(holder))

    return [
        AdminRoute("GET", "/__admin/faults", show, "결함 계획과 적용 기록", "the fault plan and the faults applied"),
        AdminRoute("PUT", "/__admin/faults", replace, "결함 계획 교체 ({seed, fault: […]}, TOML과 같은 모양)",
                   "replace the fault plan ({seed, fault: […]}, the TOML shape)"),
        AdminRoute("DELETE", "/__admin/faults", switch_off, "결함 끄기", "switch faults off"),
    ]


def _pointer(where: str) -> str:
    """``fault[2].status`` → ``/fault/2/status`` (JSON Pointer of the offending field)."""
    return "/" + where.replace("[", "/").replace("]", "").replace(".", "/") if where not in ("plan", "toml") else ""


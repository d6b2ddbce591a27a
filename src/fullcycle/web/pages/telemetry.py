"""/telemetry: what the telemetry store holds, its retention, and where to send data."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from fullcycle.auth.dependencies import current_principal
from fullcycle.auth.principal import Principal
from fullcycle.telemetry.routes import telemetry_status
from fullcycle.web.rendering import render

router = APIRouter()


@router.get("/telemetry")
async def telemetry_page(
    request: Request, principal: Principal = Depends(current_principal)
) -> Response:
    status = await run_in_threadpool(telemetry_status, request.app.state.telemetry)
    base_url = str(request.base_url).rstrip("/")
    return render(
        request,
        "telemetry/status.html",
        {"nav": "telemetry", "status": status, "base_url": base_url},
    )

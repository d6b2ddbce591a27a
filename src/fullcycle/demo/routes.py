"""The demo's page (`/demo`: the scenario's progress, its button, the notifications the owner
received) and API (`/api/v1/demo`). Only `fullcycle demo` adds these routes to its app."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from fullcycle.auth.dependencies import RequireDeploy, RequireRead, current_principal
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.demo.orchestrator import Demo
from fullcycle.demo.scenario import ScenarioBusy
from fullcycle.demo.sink import received
from fullcycle.web.pages.access import require_deploy
from fullcycle.web.pages.flash import page, redirect

api_router = APIRouter(prefix="/api/v1/demo", tags=["demo"])
page_router = APIRouter(include_in_schema=False)
STEP_PILL = {"done": "pill-good", "failed": "pill-bad", "waiting": "pill-warn", "skipped": ""}


def demo_of(request: Request) -> Demo:
    demo: Demo = request.app.state.demo
    return demo


@api_router.get("", dependencies=[RequireRead])
def demo_status(request: Request) -> dict[str, Any]:
    """Where the demo is (starting, ready), how long its start took, the latest scenario run."""
    return demo_of(request).status()


@api_router.post("/scenario", status_code=202, dependencies=[RequireDeploy])
def start_scenario(request: Request) -> dict[str, Any]:
    """Start the bad-release scenario; 409 while one runs or before the demo is ready."""
    try:
        return demo_of(request).run_scenario("api")
    except (ScenarioBusy, RuntimeError) as error:
        raise HTTPException(409, str(error)) from None


@api_router.get("/notifications", dependencies=[RequireRead])
def notifications(request: Request) -> list[dict[str, Any]]:
    """What the owner's channel (the demo's sink) received, newest first."""
    return received(demo_of(request).sink.path)


@page_router.get("/demo")
def demo_page(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    demo = demo_of(request)
    status = demo.status()
    context = {
        "nav": "demo",
        "status": status,
        "run": status["scenario"],
        "links": links(status["scenario"]),
        "notifications": received(demo.sink.path)[:20],
        "step_pill": STEP_PILL,
        "may_run": principal.has(Scope.DEPLOY),
        "clock": clock,
    }
    return page(request, "demo/index.html", context)


@page_router.post("/demo/scenario")
def start_scenario_from_page(
    request: Request, principal: Principal = Depends(current_principal)
) -> Response:
    require_deploy(principal, "Running the bad-release scenario")
    try:
        demo_of(request).run_scenario(f"button ({principal.user.name})")
    except (ScenarioBusy, RuntimeError) as error:
        return redirect("/demo", str(error), "error")
    return redirect("/demo", "the bad-release scenario started: watch it below")


def links(run: dict[str, Any] | None) -> dict[str, str]:
    """Where to look during a run: the alert, the chart, the failing checkouts' logs."""
    if run is None:
        return {}
    start = datetime.fromtimestamp(run["started_at"] - 600, UTC)
    end = datetime.fromtimestamp(
        min((run["finished_at"] or run["started_at"]) + 300, time.time()), UTC
    )
    window = {"from": _iso(start), "to": _iso(end)}
    chart = {"start": _iso(start), "end": _iso(end)} if run["finished_at"] else {"range": "15m"}
    found = {
        "dashboard": f"/dashboards/shop?{urlencode(chart)}",
        "logs": f"/logs?{urlencode({'q': 'service:shop level:error', **window})}",
        "deploys": "/services/shop/deploys",
    }
    if run["deploy_id"]:
        found["deploy"] = f"/deploys/{run['deploy_id']}"
    if run["alert_id"]:
        found["alert"] = f"/alerts/{run['alert_id']}"
    return found


def clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")

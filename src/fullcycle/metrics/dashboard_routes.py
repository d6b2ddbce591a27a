"""Dashboard API: the automatic dashboard of a service (`/api/v1/services/{name}/dashboard`)
and dashboards as code (`/api/v1/dashboards`: list, get, PUT its YAML, delete, its data, and a
preview of unsaved YAML)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import promql_parser
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fullcycle.anomaly.band import BandRequestError
from fullcycle.audit.log import record
from fullcycle.auth.dependencies import RequireDeploy, RequireRead, get_db
from fullcycle.auth.principal import Principal
from fullcycle.catalog.service import get_service
from fullcycle.metrics.dashboard_spec import DashboardError, parse_dashboard
from fullcycle.metrics.dashboards import (
    apply_dashboard,
    dashboard_json,
    evaluate_dashboard,
    get_dashboard,
    list_dashboards,
)
from fullcycle.metrics.engine import PromQLError
from fullcycle.metrics.panel_data import TimeRange
from fullcycle.metrics.routes import parse_time
from fullcycle.metrics.service_dashboard import service_dashboard

router = APIRouter(tags=["metrics"])
VARIABLE_PREFIX = "var-"
MAX_SOURCE_BYTES = 256 * 1024

LONGEST_RANGE = timedelta(days=31)


def parse_range(text: str) -> timedelta:
    """A Prometheus duration such as 15m, 6h or 7d, up to 31 days."""
    try:
        duration = promql_parser.parse_duration(text)
    except ValueError:
        raise HTTPException(422, f"range {text!r}: expected a duration such as 1h or 7d") from None
    if duration <= timedelta(0) or duration > LONGEST_RANGE:
        raise HTTPException(422, f"range {text!r}: must be more than 0 and at most 31d")
    return duration


def time_range(range_text: str, start: str | None, end: str | None) -> TimeRange:
    """The dashboard's window: `start`..`end` when both are given (a zoom), else `range` up to
    `end` (default now)."""
    try:
        end_at = parse_time(end, "end") if end else datetime.now(UTC)
        if start:
            start_at = parse_time(start, "start")
            duration = end_at - start_at
            if duration <= timedelta(0) or duration > LONGEST_RANGE:
                raise HTTPException(422, "start must be before end, at most 31 days apart")
            return TimeRange.ending(end_at, duration)
    except PromQLError as error:
        raise HTTPException(422, str(error)) from None
    return TimeRange.ending(end_at, parse_range(range_text))


@router.get("/api/v1/services/{name}/dashboard", dependencies=[RequireRead])
async def dashboard(
    name: str,
    request: Request,
    range_text: str = Query("1h", alias="range"),
    start: str | None = None,
    end: str | None = None,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    """Panels with data for the service over the window, aligned to common timestamps, and
    the deploy and incident markers in it."""
    if get_service(db, name) is None:
        raise HTTPException(404, f"there is no service named {name!r} in the catalog")
    window = time_range(range_text, start, end)
    try:
        return await run_in_threadpool(service_dashboard, request.app.state.telemetry, name, window)
    except PromQLError as error:
        raise HTTPException(422, str(error)) from None


class DashboardSource(BaseModel):
    yaml: str = Field(max_length=MAX_SOURCE_BYTES)


class PreviewRequest(DashboardSource):
    range: str = "1h"
    variables: dict[str, str] = Field(default_factory=dict)


def _dashboard_or_404(db: Session, name: str) -> Any:
    dashboard = get_dashboard(db, name)
    if dashboard is None:
        raise HTTPException(404, f"there is no dashboard named {name!r}")
    return dashboard


@router.get("/api/v1/dashboards", dependencies=[RequireRead])
def dashboards(db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    """Every dashboard with its YAML source."""
    return [dashboard_json(dashboard) for dashboard in list_dashboards(db)]


@router.get("/api/v1/dashboards/{name}", dependencies=[RequireRead])
def dashboard_source(name: str, db: Session = Depends(get_db)) -> dict[str, Any]:
    """One dashboard: name, title, who saved it last and when, and its YAML as written."""
    return dashboard_json(_dashboard_or_404(db, name))


@router.put("/api/v1/dashboards/{name}")
def put_dashboard(
    name: str,
    body: DashboardSource,
    request: Request,
    response: Response,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    """Create or replace a dashboard from its YAML (201 when new); 422 naming the problem."""
    try:
        dashboard, created = apply_dashboard(db, name, body.yaml, principal.user.name)
    except DashboardError as error:
        raise HTTPException(422, str(error)) from None
    record(db, request, principal, "dashboard.create" if created else "dashboard.update", name)
    db.commit()
    response.status_code = 201 if created else 200
    return dashboard_json(dashboard)


@router.delete("/api/v1/dashboards/{name}", status_code=204)
def delete_dashboard(
    name: str,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> Response:
    db.delete(_dashboard_or_404(db, name))
    record(db, request, principal, "dashboard.delete", name)
    db.commit()
    return Response(status_code=204)


def _variables(request: Request) -> dict[str, str]:
    return {
        key.removeprefix(VARIABLE_PREFIX): value
        for key, value in request.query_params.items()
        if key.startswith(VARIABLE_PREFIX)
    }


async def _evaluated(
    request: Request, source: str, variables: dict[str, str], window: TimeRange
) -> dict[str, Any]:
    try:
        spec = parse_dashboard(source)
    except DashboardError as error:
        raise HTTPException(422, str(error)) from None
    try:
        return await run_in_threadpool(
            evaluate_dashboard, request.app.state.telemetry, spec, variables, window
        )
    except (PromQLError, BandRequestError) as error:
        raise HTTPException(422, str(error)) from None


@router.get("/api/v1/dashboards/{name}/data", dependencies=[RequireRead])
async def dashboard_data(
    name: str,
    request: Request,
    range_text: str = Query("1h", alias="range"),
    start: str | None = None,
    end: str | None = None,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    """Every panel's data over the window; `var-service=...` sets a template variable."""
    source = _dashboard_or_404(db, name).source
    window = time_range(range_text, start, end)
    return await _evaluated(request, source, _variables(request), window)


@router.post("/api/v1/dashboards/preview", dependencies=[RequireRead])
async def preview_dashboard(body: PreviewRequest, request: Request) -> dict[str, Any]:
    """The data of unsaved YAML (the editor's live preview); nothing is stored."""
    return await _evaluated(request, body.yaml, body.variables, time_range(body.range, None, None))

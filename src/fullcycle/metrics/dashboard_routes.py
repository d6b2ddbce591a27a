"""GET /api/v1/services/{name}/dashboard: the automatic dashboard's panels with their data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import promql_parser
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fullcycle.auth.dependencies import RequireRead, get_db
from fullcycle.catalog.service import get_service
from fullcycle.metrics.engine import PromQLError
from fullcycle.metrics.routes import parse_time
from fullcycle.metrics.service_dashboard import TimeRange, service_dashboard

router = APIRouter(prefix="/api/v1/services", tags=["metrics"], dependencies=[RequireRead])

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


@router.get("/{name}/dashboard")
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

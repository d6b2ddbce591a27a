"""`GET /api/v1/anomaly/band` (the expected band of a metric query, for every chart) and
`GET /api/v1/anomaly/impact` (how far below or above expected it was, in its unit); docs/anomaly.md.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from fullcycle.anomaly.band import (
    DEFAULT_HISTORY,
    BandRequest,
    BandRequestError,
    SeriesBand,
    band,
    impact,
)
from fullcycle.anomaly.detector import MetricKind, Point, Sensitivity
from fullcycle.auth.dependencies import RequireRead
from fullcycle.logs.time_range import NS_PER_SECOND, TimeRangeError, parse_duration, parse_window
from fullcycle.metrics.engine import PromQLError

router = APIRouter(prefix="/api/v1/anomaly", tags=["anomaly"], dependencies=[RequireRead])

TARGET_STEPS = 300
ROUND_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def band_request(
    query: str,
    start: str | None,
    end: str | None,
    step: str | None,
    kind: str,
    sensitivity: str,
    history: str | None,
) -> BandRequest:
    """The request from query parameters; raises HTTPException 400 naming the parameter."""
    try:
        window = parse_window(start, end, time.time_ns())
        step_seconds = (
            parse_duration(step, "step") // NS_PER_SECOND
            if step
            else _round_step((window.end_ns - window.start_ns) / NS_PER_SECOND / TARGET_STEPS)
        )
        history_span = (
            timedelta(seconds=parse_duration(history, "history") / NS_PER_SECOND)
            if history
            else DEFAULT_HISTORY
        )
        return BandRequest(
            expr=query,
            start=_aligned(window.start_ns, step_seconds),
            end=datetime.fromtimestamp(window.end_ns / NS_PER_SECOND, UTC),
            step=timedelta(seconds=step_seconds),
            kind=_choice(MetricKind, kind, "kind"),
            sensitivity=_choice(Sensitivity, sensitivity, "sensitivity"),
            history=history_span,
        )
    except (TimeRangeError, ValueError) as error:
        raise HTTPException(400, str(error)) from error


def _round_step(seconds: float) -> int:
    return next((step for step in ROUND_STEPS if step >= seconds), ROUND_STEPS[-1])


def _aligned(start_ns: int, step_seconds: int) -> datetime:
    """The window's start on a multiple of the step, so that bands of a chart line up."""
    seconds = start_ns // NS_PER_SECOND
    return datetime.fromtimestamp(seconds - seconds % step_seconds, UTC)


def _choice(kind: Any, text: str, name: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ValueError(f"{name}: {text!r} is not one of {choices}") from None


async def _bands(request: Request, parameters: BandRequest) -> list[SeriesBand]:
    try:
        return await run_in_threadpool(band, request.app.state.telemetry, parameters)
    except (PromQLError, BandRequestError) as error:
        raise HTTPException(400, f"query: {error}") from error


def _point_json(point: Point) -> dict[str, Any]:
    return {
        "timestamp": point.timestamp,
        "value": point.value,
        "expected": point.expected,
        "lower": point.lower,
        "upper": point.upper,
        "anomaly_score": point.anomaly_score,
        "alert": point.alert,
        "direction": point.direction,
    }


def _request_json(parameters: BandRequest) -> dict[str, Any]:
    return {
        "query": parameters.expr,
        "from": parameters.start.isoformat(),
        "to": parameters.end.isoformat(),
        "step_seconds": parameters.step.total_seconds(),
        "kind": parameters.kind.value,
        "sensitivity": parameters.sensitivity.value,
        "history_seconds": parameters.history.total_seconds(),
    }


QueryParameter = Query(..., description="PromQL; every series it returns gets its own band")
FromParameter = Query(None, alias="from", description="RFC 3339 or now-6h (default now-1h)")
ToParameter = Query(None, alias="to", description="RFC 3339 or now (default now)")
StepParameter = Query(None, description="e.g. 5m (default: about 300 steps over the window)")
KindParameter = Query("ops", description="money | count | ratio | ops: what an absent step means")
SensitivityParameter = Query("medium", description="low | medium | high: the band's width")
HistoryParameter = Query(None, description="how much before the window to learn from (14d)")


@router.get("/band")
async def anomaly_band(
    request: Request,
    query: str = QueryParameter,
    start: str | None = FromParameter,
    end: str | None = ToParameter,
    step: str | None = StepParameter,
    kind: str = KindParameter,
    sensitivity: str = SensitivityParameter,
    history: str | None = HistoryParameter,
) -> dict[str, Any]:
    """Per series of the query and per step of the window: the value, the expected value and
    its band, the anomaly score, whether an alert would fire and in which direction."""
    parameters = band_request(query, start, end, step, kind, sensitivity, history)
    bands = await _bands(request, parameters)
    return {
        **_request_json(parameters),
        "series": [
            {"labels": series.labels, "points": [_point_json(p) for p in series.points]}
            for series in bands
        ],
    }


@router.get("/impact")
async def anomaly_impact(
    request: Request,
    query: str = QueryParameter,
    start: str | None = FromParameter,
    end: str | None = ToParameter,
    step: str | None = StepParameter,
    kind: str = KindParameter,
    sensitivity: str = SensitivityParameter,
    history: str | None = HistoryParameter,
    unit: str = Query("", description="the unit to name in the summary, e.g. EUR"),
) -> dict[str, Any]:
    """Per series: the sums of the expected and actual values over the window, the shortfall
    (expected - actual), when the series was outside its band, and a sentence saying so."""
    parameters = band_request(query, start, end, step, kind, sensitivity, history)
    bands = await _bands(request, parameters)
    results = []
    for series in bands:
        found = impact(series)
        results.append(
            {
                "labels": found.labels,
                "expected": found.expected,
                "actual": found.actual,
                "shortfall": found.shortfall,
                "unit": unit,
                "alerting_from": _iso(found.alerting_from),
                "alerting_to": _iso(found.alerting_to),
                "summary": impact_summary(
                    found.shortfall, unit, found.alerting_from, found.alerting_to
                ),
            }
        )
    return {**_request_json(parameters), "series": results}


def impact_summary(
    shortfall: float, unit: str, alerting_from: float | None, alerting_to: float | None
) -> str:
    """'≈ EUR 3,870 below expected between 08:00 and 09:05' (times in UTC)."""
    amount = f"{unit} {abs(shortfall):,.0f}" if unit else f"{abs(shortfall):,.0f}"
    direction = "below" if shortfall >= 0 else "above"
    sentence = f"≈ {amount} {direction} expected"
    if alerting_from is not None and alerting_to is not None:
        sentence += f" between {_clock(alerting_from)} and {_clock(alerting_to)} UTC"
    return sentence


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M")


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()

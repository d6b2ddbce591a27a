"""The Prometheus HTTP query API, so that Grafana and other tools can use fullcycle as a
Prometheus data source: `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`,
`/api/v1/labels` and `/api/v1/label/{name}/values`, by GET or by POST form, with Prometheus'
JSON shapes (`{"status": "success", "data": ...}`) and error shapes (`{"status": "error",
"errorType": "bad_data" | "execution", "error": ...}`, 400 and 422).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import promql_parser
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams

from fullcycle.auth.dependencies import RequireRead
from fullcycle.ingest.otlp_metrics import prometheus_float
from fullcycle.metrics.engine import (
    PromQLBadData,
    PromQLError,
    QueryResult,
    instant_query,
    range_query,
    selector_matchers,
)
from fullcycle.telemetry import sample_queries
from fullcycle.telemetry.sample_queries import LabelMatcher
from fullcycle.telemetry.store import TelemetryStore

router = APIRouter(prefix="/api/v1", tags=["metrics"], dependencies=[RequireRead])

Parameters = QueryParams | FormData


async def _parameters(request: Request) -> Parameters:
    """GET query parameters, or the form of a POST (Prometheus accepts both)."""
    if request.method == "POST":
        return await request.form()
    return request.query_params


def _success(data: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


def _error(kind: str, message: str, status_code: int) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "errorType": kind, "error": message}, status_code=status_code
    )


def parse_time(text: str, name: str) -> datetime:
    """Unix seconds (with a fraction) or RFC 3339, as Prometheus accepts."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise PromQLBadData(
                f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp'
            ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if not math.isfinite(seconds):
        raise PromQLBadData(f'invalid parameter "{name}": cannot parse "{text}" to a timestamp')
    return datetime.fromtimestamp(seconds, UTC)


def parse_step(text: str) -> timedelta:
    """Seconds (with a fraction) or a Prometheus duration such as 30s or 1m."""
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        pass
    try:
        return promql_parser.parse_duration(text)
    except ValueError:
        raise PromQLBadData(
            f'invalid parameter "step": cannot parse "{text}" to a valid duration'
        ) from None


def _required(parameters: Parameters, name: str) -> str:
    value = parameters.get(name)
    if not isinstance(value, str) or not value:
        raise PromQLBadData(f'invalid parameter "{name}": the parameter is required')
    return value


def _optional_time(parameters: Parameters, name: str) -> datetime | None:
    value = parameters.get(name)
    return parse_time(value, name) if isinstance(value, str) and value else None


def _value(timestamp: float, value: float) -> list[Any]:
    return [timestamp, prometheus_float(value)]


def result_json(result: QueryResult) -> dict[str, Any]:
    """`data` of a query answer in Prometheus' shape."""
    if result.result_type == "scalar":
        timestamp, value = result.series[0].points[0]
        return {"resultType": "scalar", "result": _value(timestamp, value)}
    if result.result_type == "string":
        return {"resultType": "string", "result": [time.time(), result.string]}
    if result.result_type == "vector":
        return {
            "resultType": "vector",
            "result": [
                {"metric": series.labels, "value": _value(*series.points[0])}
                for series in result.series
            ],
        }
    return {
        "resultType": "matrix",
        "result": [
            {"metric": series.labels, "values": [_value(t, v) for t, v in series.points]}
            for series in result.series
        ],
    }


async def _answer(call: Callable[[], Any]) -> JSONResponse:
    """Run `call` in a worker thread; PromQL errors become Prometheus error answers."""
    try:
        return _success(await run_in_threadpool(call))
    except PromQLBadData as error:
        return _error("bad_data", str(error), 400)
    except PromQLError as error:
        return _error("execution", str(error), 422)


def _store(request: Request) -> TelemetryStore:
    store: TelemetryStore = request.app.state.telemetry
    return store


@router.api_route("/query", methods=["GET", "POST"])
async def query(request: Request) -> JSONResponse:
    """An instant query: `query`, and `time` (default now)."""
    parameters = await _parameters(request)
    store = _store(request)

    def run() -> dict[str, Any]:
        expr = _required(parameters, "query")
        at = _optional_time(parameters, "time") or datetime.now(UTC)
        return result_json(instant_query(store, expr, at))

    return await _answer(run)


@router.api_route("/query_range", methods=["GET", "POST"])
async def query_range(request: Request) -> JSONResponse:
    """A range query: `query`, `start`, `end`, `step`."""
    parameters = await _parameters(request)
    store = _store(request)

    def run() -> dict[str, Any]:
        expr = _required(parameters, "query")
        start = parse_time(_required(parameters, "start"), "start")
        end = parse_time(_required(parameters, "end"), "end")
        step = parse_step(_required(parameters, "step"))
        return result_json(range_query(store, expr, start, end, step))

    return await _answer(run)


def _selectors(parameters: Parameters, required: bool) -> list[list[LabelMatcher]]:
    texts = [value for value in parameters.getlist("match[]") if isinstance(value, str)]
    if required and not texts:
        raise PromQLBadData("no match[] parameter provided")
    return [selector_matchers(text) for text in texts]


def _after_ms(parameters: Parameters) -> int | None:
    """Series seen since `start`: the series table keeps when each was last seen."""
    start = _optional_time(parameters, "start")
    return round(start.timestamp() * 1000) if start else None


@router.api_route("/series", methods=["GET", "POST"])
async def series(request: Request) -> JSONResponse:
    """The label sets of the series matching `match[]` (one or more), seen since `start`."""
    parameters = await _parameters(request)
    store = _store(request)

    def run() -> list[dict[str, str]]:
        selectors = _selectors(parameters, required=True)
        return sample_queries.series_labels(store, selectors, _after_ms(parameters))

    return await _answer(run)


@router.api_route("/labels", methods=["GET", "POST"])
async def labels(request: Request) -> JSONResponse:
    """Label names, of all series or of those matching `match[]`."""
    parameters = await _parameters(request)
    store = _store(request)

    def run() -> list[str]:
        selectors = _selectors(parameters, required=False)
        return sample_queries.label_names(store, selectors, _after_ms(parameters))

    return await _answer(run)


@router.get("/label/{name}/values")
async def label_values(name: str, request: Request) -> JSONResponse:
    """The values of label `name` (`__name__` for metric names)."""
    parameters = request.query_params
    store = _store(request)

    def run() -> list[str]:
        selectors = _selectors(parameters, required=False)
        return sample_queries.label_values(store, name, selectors, _after_ms(parameters))

    return await _answer(run)

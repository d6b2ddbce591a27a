"""The metric queries verification needs, behind a small adapter over the PromQL engine of
`fullcycle.metrics.engine` (`instant_query`, `range_query`) in the server, or over a server's
query API in a worker (`api_queries.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from fullcycle.metrics.engine import QueryResult, instant_query, range_query
from fullcycle.telemetry.store import TelemetryStore


@dataclass(frozen=True)
class SeriesPoints:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix seconds, value)


class MetricQueries(Protocol):
    """Evaluate PromQL; errors raise ValueError with a message for the user."""

    def instant(self, expr: str, at: datetime) -> list[SeriesPoints]: ...

    def range(
        self, expr: str, start: datetime, end: datetime, step: timedelta
    ) -> list[SeriesPoints]: ...


class EngineQueries:
    """MetricQueries over the metrics engine's `instant_query` and `range_query`."""

    def __init__(self, store: TelemetryStore) -> None:
        self.store = store

    def instant(self, expr: str, at: datetime) -> list[SeriesPoints]:
        return _series(instant_query(self.store, expr, at))

    def range(
        self, expr: str, start: datetime, end: datetime, step: timedelta
    ) -> list[SeriesPoints]:
        return _series(range_query(self.store, expr, start, end, step))


def _series(result: QueryResult) -> list[SeriesPoints]:
    return [
        SeriesPoints(dict(series.labels), [(float(t), float(v)) for t, v in series.points])
        for series in result.series
    ]

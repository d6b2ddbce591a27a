"""The metric queries verification needs, behind a small adapter over the PromQL engine of
`fullcycle.metrics.engine` (`instant_query`, `range_query`). When this build has no engine,
`engine_queries` answers None and metric checks are reported inconclusive."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

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

    def __init__(self, store: TelemetryStore, engine: Any) -> None:
        self.store = store
        self.engine = engine

    def instant(self, expr: str, at: datetime) -> list[SeriesPoints]:
        return _series(self.engine.instant_query(self.store, expr, at))

    def range(
        self, expr: str, start: datetime, end: datetime, step: timedelta
    ) -> list[SeriesPoints]:
        return _series(self.engine.range_query(self.store, expr, start, end, step))


def _series(result: Any) -> list[SeriesPoints]:
    return [
        SeriesPoints(dict(series.labels), [(float(t), float(v)) for t, v in series.points])
        for series in result.series
    ]


def engine_queries(store: TelemetryStore) -> MetricQueries | None:
    try:
        engine = importlib.import_module("fullcycle.metrics.engine")
    except ImportError:
        return None
    return EngineQueries(store, engine)

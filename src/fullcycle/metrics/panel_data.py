"""Panel data: what a chart, a stat, a table or a KPI shows, from PromQL over a time window.
Shared by the automatic service dashboard and dashboards as code."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fullcycle.metrics.engine import QueryResult, instant_query, range_queries
from fullcycle.telemetry.store import TelemetryStore

LEGEND_LABEL = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
MAX_POINTS = 360
# Steps a chart uses: each divides or is a multiple of the usual 5-minute rate window, so that
# windows start on step boundaries (which lets the store aggregate per step).
STEPS_SECONDS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    step: timedelta

    @classmethod
    def ending(cls, end: datetime, duration: timedelta) -> TimeRange:
        """A range of `duration` up to `end`, with a step giving at most MAX_POINTS points."""
        wanted = duration.total_seconds() / MAX_POINTS
        seconds = next((s for s in STEPS_SECONDS if s >= wanted), STEPS_SECONDS[-1])
        step = timedelta(seconds=seconds)
        aligned_end = datetime.fromtimestamp(end.timestamp() // seconds * seconds, UTC)
        return cls(aligned_end - duration, aligned_end, step)

    @property
    def timestamps(self) -> list[float]:
        first, last = self.start.timestamp(), self.end.timestamp()
        step = self.step.total_seconds()
        return [first + index * step for index in range(int((last - first) // step) + 1)]


@dataclass
class ChartSeries:
    name: str
    query: str
    labels: dict[str, str]
    values: list[float | None]


@dataclass
class ChartPanel:
    """One panel's answer: `series` for a time series, `values` for stat, table and kpi."""

    title: str
    unit: str
    queries: list[str]
    series: list[ChartSeries] = field(default_factory=list)
    type: str = "timeseries"
    row: str = ""
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    values: list[dict[str, Any]] = field(default_factory=list)
    band: dict[str, list[float | None]] | None = None


def legend(template: str, labels: dict[str, str]) -> str:
    if not template and not labels:
        return "value"
    if not template:
        return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    return LEGEND_LABEL.sub(lambda match: labels.get(match.group(1), ""), template)


def _aligned(result: QueryResult, timestamps: list[float]) -> list[tuple[dict, list]]:
    """Each series' values at the chart's timestamps (None where it has none)."""
    index = {round(t * 1000): position for position, t in enumerate(timestamps)}
    aligned = []
    for series in result.series:
        values: list[float | None] = [None] * len(timestamps)
        for t, v in series.points:
            position = index.get(round(t * 1000))
            if position is not None:
                values[position] = None if math.isnan(v) or math.isinf(v) else v
        aligned.append((series.labels, values))
    return aligned


def timeseries(
    store: TelemetryStore, queries: list[tuple[str, str]], window: TimeRange
) -> list[ChartSeries]:
    """The series of a panel's range queries, (expression, legend template) pairs, over the
    window that have at least one value. The queries are evaluated together, so a part they
    share (a latency panel's bucket rates) is read once."""
    timestamps = window.timestamps
    exprs = [expr for expr, _ in queries]
    results = range_queries(store, exprs, window.start, window.end, window.step)
    return [
        ChartSeries(legend(legend_template, labels), expr, labels, values)
        for (expr, legend_template), result in zip(queries, results, strict=True)
        for labels, values in _aligned(result, timestamps)
        if any(value is not None for value in values)
    ]


def _number(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else value


def latest_values(
    store: TelemetryStore, expr: str, legend_template: str, at: datetime
) -> list[dict[str, Any]]:
    """The value of each series of `expr` at `at` (stat and table panels)."""
    result = instant_query(store, expr, at)
    return [
        {
            "name": legend(legend_template, series.labels),
            "labels": series.labels,
            "value": _number(series.points[0][1]),
        }
        for series in result.series
        if series.points
    ]


def week_over_week(
    store: TelemetryStore, expr: str, legend_template: str, at: datetime
) -> list[dict[str, Any]]:
    """KPI: each series' value at `at` and at the same time a week before."""
    now = {str(sorted(s["labels"].items())): s for s in latest_values(store, expr, "", at)}
    before = {
        str(sorted(s["labels"].items())): s for s in latest_values(store, expr, "", at - WEEK)
    }
    kpis = []
    for key, current in now.items():
        previous = before.get(key, {}).get("value")
        value = current["value"]
        change = None
        if value is not None and previous not in (None, 0):
            change = (value - previous) / abs(previous)
        kpis.append(
            {
                "name": legend(legend_template, current["labels"]),
                "labels": current["labels"],
                "value": value,
                "last_week": previous,
                "change": change,
            }
        )
    return kpis

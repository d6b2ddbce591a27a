"""Evaluating one rule at one moment: which label sets are active and with what value.

Metric rules are Prometheus alerting rules: every series the expression returns is active.
Anomaly rules feed each series of their expression to its own detector (`anomaly/watch.py`)
and are active where the detector alerts in the rule's direction. Log rules count the service's
lines matching a query over the window and compare the count with the threshold. Absence rules
are active when a metric expression returns nothing, or when no line of the service matched the
query in the window."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fullcycle.alerting.templating import BAND_NAMES
from fullcycle.anomaly.watch import Watch
from fullcycle.deploy.metric_queries import MetricQueries
from fullcycle.logs.explorer import count_matches
from fullcycle.logs.query import parse
from fullcycle.telemetry.log_queries import Window
from fullcycle.telemetry.store import TelemetryStore

NS_PER_SECOND = 1_000_000_000
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Active:
    """One active label set of a rule (the labels the expression gave, before the rule's)."""

    labels: dict[str, str]
    value: float
    band: dict[str, float] = field(default_factory=dict)  # anomaly rules: expected, lower, upper


LogCounter = Callable[[str, int, int], int]
"""(query text, window start ns, window end ns) -> how many lines match."""


@dataclass(frozen=True)
class RuleQuery:
    kind: str
    service: str
    definition: dict[str, Any]


def evaluate(
    rule: RuleQuery, at: datetime, metrics: MetricQueries | None, count_logs: LogCounter | None
) -> list[Active]:
    """The active label sets of the rule at `at`; raises ValueError when it cannot be
    evaluated (bad query, no telemetry store in this process)."""
    definition = rule.definition
    if rule.kind == "anomaly":
        raise ValueError("anomaly rules are evaluated with their detectors (evaluate_anomaly)")
    if rule.kind == "metric":
        return [
            Active(_without_name(series.labels), series.points[-1][1])
            for series in _metrics(metrics).instant(definition["expr"], at)
            if series.points
        ]
    if rule.kind == "log":
        count = _count(rule, at, count_logs)
        compare = COMPARISONS[definition["op"]]
        return [Active({}, float(count))] if compare(count, definition["threshold"]) else []
    if definition["expr"]:
        found = _metrics(metrics).instant(definition["expr"], at)
        return [] if any(series.points for series in found) else [Active({}, 0.0)]
    return [Active({}, 0.0)] if _count(rule, at, count_logs) == 0 else []


def evaluate_anomaly(watch: Watch, at: datetime, metrics: MetricQueries | None) -> list[Active]:
    """Advance the rule's detectors to `at`; the series they alert on are active, with the
    band of their last point."""
    watch.advance(at, _metrics(metrics))
    actives = []
    for series in watch.alerting():
        point = series.last_point
        assert point is not None  # alerting() only returns series with a verdict
        band = {name: getattr(point, name) for name in BAND_NAMES}
        actives.append(Active(series.labels, point.value or 0.0, band))
    return actives


def service_query(service: str, query: str) -> str:
    """The rule's log query restricted to its service's lines."""
    return f'service:"{service}" ({query})'


def _count(rule: RuleQuery, at: datetime, count_logs: LogCounter | None) -> int:
    if count_logs is None:
        raise ValueError("log rules are evaluated only where the telemetry store is open")
    end_ns = int(at.timestamp() * NS_PER_SECOND)
    start_ns = end_ns - rule.definition["window"] * NS_PER_SECOND
    return count_logs(service_query(rule.service, rule.definition["query"]), start_ns, end_ns)


def _metrics(metrics: MetricQueries | None) -> MetricQueries:
    if metrics is None:
        raise ValueError("metric rules need the metrics engine, which this build does not have")
    return metrics


def _without_name(labels: dict[str, str]) -> dict[str, str]:
    """Prometheus drops the metric name from the labels of an alert."""
    return {name: value for name, value in labels.items() if name != "__name__"}


def store_log_counter(store: TelemetryStore) -> LogCounter:
    """Counts matching lines in the telemetry store (`logs.explorer.count_matches`)."""

    def count(query: str, start_ns: int, end_ns: int) -> int:
        return count_matches(store, parse(query), Window(start_ns, end_ns))

    return count

"""The expected band of a metric query, and what a deviation from it cost.

The query is evaluated with the PromQL engine on a grid of `step` from `history` before the
window up to its end; a detector per resulting series learns from the history and scores every
point of the window, exactly as it would have done live (each point depends only on the ones
before it). A series' detector starts at its first step with a value: the steps before it are
before the series existed, not sales of zero. After that, steps where a series has no value are
absent points: zero for money and counts, unknown for ratios and ops metrics (MetricKind).

For the impact to be a sum that means something, the query should give an amount per step, e.g.
`sum(increase(shop_revenue_eur_total[5m]))` with a 5-minute step.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fullcycle.anomaly.detector import Detector, MetricKind, Point, Sensitivity
from fullcycle.metrics.engine import MAX_POINTS_PER_SERIES, range_query
from fullcycle.telemetry.store import TelemetryStore

DEFAULT_HISTORY = timedelta(days=14)
MAX_HISTORY_STEPS = 100_000
"""At most this many steps of history per series (14 days at 15 s); more is refused."""


class BandRequestError(ValueError):
    """A band request that cannot be answered as asked; the message says why."""


@dataclass(frozen=True)
class BandRequest:
    expr: str
    start: datetime
    end: datetime
    step: timedelta
    kind: MetricKind = MetricKind.OPS
    sensitivity: Sensitivity = Sensitivity.MEDIUM
    history: timedelta = DEFAULT_HISTORY

    def grid_ms(self) -> list[int]:
        """Unix milliseconds of every step, history included, aligned so that `start` is on it."""
        step_ms = _milliseconds(self.step.total_seconds())
        if step_ms <= 0:
            raise BandRequestError("step: must be positive")
        history_steps = _milliseconds(self.history.total_seconds()) // step_ms
        window_steps = _milliseconds((self.end - self.start).total_seconds()) // step_ms
        if history_steps + window_steps > MAX_HISTORY_STEPS:
            raise BandRequestError(
                f"history and window make {history_steps + window_steps:,} steps; at most "
                f"{MAX_HISTORY_STEPS:,}: use a larger step or a shorter history"
            )
        first = _milliseconds(self.start.timestamp()) - history_steps * step_ms
        return [first + index * step_ms for index in range(history_steps + window_steps + 1)]


@dataclass(frozen=True)
class SeriesBand:
    labels: dict[str, str]
    points: list[Point]


@dataclass(frozen=True)
class Impact:
    """Sums over the window: `shortfall` is expected - actual (positive: below expected)."""

    labels: dict[str, str]
    expected: float
    actual: float
    shortfall: float
    alerting_from: float | None
    alerting_to: float | None


def band(store: TelemetryStore, request: BandRequest) -> list[SeriesBand]:
    grid = request.grid_ms()
    values = _values_by_series(store, request, grid)
    window_start = _milliseconds(request.start.timestamp()) / 1000
    bands = []
    for key, by_time in sorted(values.items()):
        detector = Detector(request.kind, request.sensitivity)
        existing = grid[bisect_left(grid, min(by_time, default=grid[-1])) :]
        points = [detector.update(moment / 1000, by_time.get(moment)) for moment in existing]
        bands.append(SeriesBand(dict(key), [p for p in points if p.timestamp >= window_start]))
    return bands


def impact(series: SeriesBand) -> Impact:
    known = [point for point in series.points if point.value is not None]
    alerting = [point.timestamp for point in series.points if point.alert]
    expected = sum(point.expected for point in known)
    actual = sum(point.value or 0.0 for point in known)
    return Impact(
        labels=series.labels,
        expected=expected,
        actual=actual,
        shortfall=expected - actual,
        alerting_from=min(alerting) if alerting else None,
        alerting_to=max(alerting) if alerting else None,
    )


LabelKey = tuple[tuple[str, str], ...]


def _values_by_series(
    store: TelemetryStore, request: BandRequest, grid: list[int]
) -> dict[LabelKey, dict[int, float]]:
    """The query's values on the grid (by millisecond), per series, read in chunks the
    engine accepts."""
    values: dict[LabelKey, dict[int, float]] = {}
    chunk = MAX_POINTS_PER_SERIES - 1
    for offset in range(0, len(grid), chunk):
        part = grid[offset : offset + chunk]
        result = range_query(store, request.expr, _moment(part[0]), _moment(part[-1]), request.step)
        for series in result.series:
            by_time = values.setdefault(tuple(sorted(series.labels.items())), {})
            by_time.update((_milliseconds(t), value) for t, value in series.points)
    return values


def _milliseconds(seconds: float) -> int:
    return round(seconds * 1000)


def _moment(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)

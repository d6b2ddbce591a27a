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

import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fullcycle.anomaly.band_memory import BandKey, LabelKey, Learnt, memory_of, settled_until_ms
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
    """Per series of the query, the detector's points over the window. The detectors continue
    from the last request of the same band where they can (band_memory), so a refreshed chart
    feeds only the steps since then; otherwise they learn from the whole history."""
    grid = request.grid_ms()
    window_start_ms = _milliseconds(request.start.timestamp())
    settled_ms = settled_until_ms(time.time(), _milliseconds(request.step.total_seconds()))
    memory = memory_of(store)
    key = _memory_key(request, grid)
    learnt = memory.take(key)
    if learnt is None or not learnt.serves(window_start_ms):
        learnt = Learnt(points_from_ms=window_start_ms)
    values = _values_by_series(store, request, _unfed(grid, learnt))
    if learnt.fed_ms is not None and not values.keys() <= learnt.detectors.keys():
        learnt = Learnt(points_from_ms=window_start_ms)  # a new series: it needs the history
        values = _values_by_series(store, request, grid)
    bands = [
        _series_band(request, learnt, series, values.get(series, {}), grid, settled_ms)
        for series in sorted(values.keys() | learnt.detectors.keys())
    ]
    _settle(learnt, grid, settled_ms, window_start_ms)
    memory.put(key, learnt)
    return bands


def _memory_key(request: BandRequest, grid: list[int]) -> BandKey:
    step_ms = _milliseconds(request.step.total_seconds())
    return (
        request.expr,
        request.kind.value,
        request.sensitivity.value,
        step_ms,
        _milliseconds(request.history.total_seconds()),
        grid[0] % step_ms,
    )


def _unfed(grid: list[int], learnt: Learnt) -> list[int]:
    """The steps of the grid the learnt detectors have not been fed."""
    if learnt.fed_ms is None:
        return grid
    return grid[bisect_right(grid, learnt.fed_ms) :]


def _series_band(
    request: BandRequest,
    learnt: Learnt,
    series: LabelKey,
    by_time: dict[int, float],
    grid: list[int],
    settled_ms: int,
) -> SeriesBand:
    """Feed the series' detector its settled steps (kept in `learnt`) and score the newer ones
    with a copy of it. A new detector starts at the series' first step with a value."""
    detector = learnt.detectors.get(series)
    if detector is None:
        detector = Detector(request.kind, request.sensitivity)
        steps = grid[bisect_left(grid, min(by_time, default=grid[-1] + 1)) :]
    else:
        steps = _unfed(grid, learnt)
    settled = steps[: bisect_right(steps, settled_ms)]
    kept = learnt.points.setdefault(series, [])
    kept += [detector.update(moment / 1000, by_time.get(moment)) for moment in settled]
    if settled:
        learnt.detectors[series] = detector
    newer = steps[len(settled) :]
    if newer:
        copy = Detector.from_state(detector.state())
        fresh = [copy.update(moment / 1000, by_time.get(moment)) for moment in newer]
    else:
        fresh = []
    window = (request.start.timestamp(), grid[-1] / 1000)
    return SeriesBand(
        dict(series), [p for p in [*kept, *fresh] if window[0] <= p.timestamp <= window[1]]
    )


def _settle(learnt: Learnt, grid: list[int], settled_ms: int, window_start_ms: int) -> None:
    """Mark the grid's settled steps as fed and keep only the points a later window needs."""
    fed = grid[: bisect_right(grid, settled_ms)]
    if fed:
        learnt.fed_ms = max(fed[-1], learnt.fed_ms or fed[-1])
    learnt.points = {series: learnt.points[series] for series in learnt.detectors}
    learnt.keep_from(window_start_ms)


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

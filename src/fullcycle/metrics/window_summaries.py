"""Range functions computed from per-bucket summaries that the store aggregates
(`telemetry.sample_queries.window_buckets`): `rate`, `increase`, `delta` and the
`sum/count/avg/min/max/last/present_over_time` functions, without loading every sample.

A window `[end - range, end]` is a run of whole buckets `(b - size, b]` plus, when a sample lies
exactly on `end - range`, that sample (the last one of the bucket before). From the buckets' first
and last samples, counts, sums and counter corrections (inside a bucket, and between one bucket's
last sample and the next one's first) the window's figures follow exactly, so `rate` extrapolates
as Prometheus does (`extrapolatedRate` in promql/functions.go).

Every series' windows are computed at once, as one array of windows (series by series, each
series' steps in order). When a window is a single bucket (the range is the bucket, as in a
dashboard's `rate(x[5m])` with a step of 5 minutes or a multiple of it), the rows' columns are
laid out as grids of series by steps, a row in the cell of the window it ends and of the one
whose left edge it ends at; otherwise the series' buckets are laid end to end and each window's
run of buckets is found by a binary search.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fullcycle.telemetry.sample_queries import SeriesBuckets

DELTA_TYPES = ("counter_delta", "histogram_delta")

Result = tuple[np.ndarray, np.ndarray]


def _cumulative(values: np.ndarray) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(values)))


@dataclass(frozen=True)
class WindowSummary(ABC):
    """Per window: what the window's samples add up to (the counter corrections, sums and
    extremes only when a function asks for them)."""

    start_ms: np.ndarray
    end_ms: np.ndarray
    range_seconds: float
    delta: np.ndarray  # the window's series holds increments (an OTLP delta counter)
    count: np.ndarray
    first_ms: np.ndarray
    first_values: np.ndarray
    last_ms: np.ndarray
    last_values: np.ndarray

    @property
    @abstractmethod
    def corrections(self) -> np.ndarray:
        """What counter resets took away in each window."""

    @property
    @abstractmethod
    def sums(self) -> np.ndarray:
        """The sum of each window's samples."""

    @abstractmethod
    def extremes(self, column: str) -> np.ndarray:
        """min_over_time (`minima`) or max_over_time (`maxima`): over the buckets' minima
        (maxima) and the edge sample; NaN only when every value is NaN, as in Prometheus."""


# What a grid cell holds where no bucket ends: no samples, no sum or corrections, NaN values
# (so comparisons with them are false) and a last sample at no time a window starts at.
_EMPTY_CELL: dict[str, float | int] = {
    "counts": 0,
    "first_ms": 0,
    "first_values": np.nan,
    "last_ms": np.iinfo(np.int64).min,
    "last_values": np.nan,
    "corrections": 0.0,
    "sums": 0.0,
    "minima": np.nan,
    "maxima": np.nan,
}


def _columns_of(
    moments: np.ndarray, first_ms: int, step_ms: int, columns: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each moment's column in a grid of `columns` evaluation times `first_ms + k * step_ms`,
    and whether it falls on one. Evaluation times are evenly spaced, so a moment's column is
    arithmetic (a binary search per row took twice as long)."""
    offset = moments - first_ms
    column = offset // step_ms
    return column, (offset == column * step_ms) & (column >= 0) & (column < columns)


class _Grid:
    """Where bucket rows go in a grid of series by `cells_per_series` cells: row `i` in cell
    `cells[i]` of its series, rows that fall in no cell (`hit` false) nowhere."""

    def __init__(
        self, series: np.ndarray, cells: np.ndarray, hit: np.ndarray, shape: tuple[int, ...]
    ) -> None:
        self.shape = shape
        cells_per_series = int(np.prod(shape[1:]))
        self.rows: np.ndarray | slice = slice(None) if hit.all() else np.flatnonzero(hit)
        self.cells = (series * cells_per_series + cells)[self.rows]

    def scatter(self, name: str, values: np.ndarray) -> np.ndarray:
        """The column `name` of the rows as the grid (empty cells as `_EMPTY_CELL` says)."""
        grid = np.full(self.shape, _EMPTY_CELL[name], dtype=values.dtype)
        grid.reshape(-1)[self.cells] = values[self.rows]
        return grid


class _BucketGrids:
    """The bucket rows' columns as grids of series by steps: `main` the bucket ending at each
    window's end, `edge` the one ending at its start. Each column is laid out once, when first
    asked for, in one grid that holds both, each a view of it. When the range is the step (a
    dashboard's `rate(x[5m])` at 5-minute steps), a bucket ends one window and starts the
    next: the grid is of the steps and the one before. Otherwise (the step is a multiple of
    the range, a 7-day dashboard's 30 minutes) a bucket ends a window or starts one, never
    both: each step has two cells, its window's bucket and its edge's, so that every row is
    laid out in one pass (two grids took each column's rows apart twice)."""

    def __init__(self, buckets: SeriesBuckets, ends_ms: np.ndarray, range_ms: int) -> None:
        self.buckets = buckets
        steps, series = len(ends_ms), len(buckets.labels)
        self.shared = steps > 1 and range_ms == ends_ms[1] - ends_ms[0]
        step_ms = int(ends_ms[1] - ends_ms[0]) if steps > 1 else 1
        first = int(ends_ms[0])
        if self.shared:
            columns, hit = _columns_of(buckets.ends_ms, first - range_ms, step_ms, steps + 1)
            self._grid = _Grid(buckets.series, columns, hit, (series, steps + 1))
        else:
            main, main_hit = _columns_of(buckets.ends_ms, first, step_ms, steps)
            edge, edge_hit = _columns_of(buckets.ends_ms + range_ms, first, step_ms, steps)
            cells = np.where(main_hit, main * 2, edge * 2 + 1)
            self._grid = _Grid(buckets.series, cells, main_hit | edge_hit, (series, steps, 2))
        self._laid: dict[str, np.ndarray] = {}

    def main(self, name: str) -> np.ndarray:
        grid = self._laid_out(name)
        return grid[:, 1:] if self.shared else grid[:, :, 0]

    def edge(self, name: str) -> np.ndarray:
        grid = self._laid_out(name)
        return grid[:, :-1] if self.shared else grid[:, :, 1]

    def _laid_out(self, name: str) -> np.ndarray:
        if name not in self._laid:
            self._laid[name] = self._grid.scatter(name, getattr(self.buckets, name))
        return self._laid[name]


@dataclass(frozen=True)
class _OneBucketWindows(WindowSummary):
    """Windows of one bucket each, as arrays of series by steps: the bucket ending at the
    window's end (`inside`) and the bucket ending at its start (`edge`: its last sample lies
    exactly there)."""

    grids: _BucketGrids
    inside: np.ndarray
    edge: np.ndarray

    @classmethod
    def of(cls, buckets: SeriesBuckets, ends_ms: np.ndarray, range_ms: int) -> _OneBucketWindows:
        grids = _BucketGrids(buckets, ends_ms, range_ms)
        end_ms = ends_ms[None, :]
        start_ms = end_ms - range_ms
        counts = grids.main("counts")
        inside = counts > 0
        edge_ms = grids.edge("last_ms")
        edge = edge_ms == start_ms
        first_ms = np.where(edge, edge_ms, grids.main("first_ms"))
        first_values = np.where(edge, grids.edge("last_values"), grids.main("first_values"))
        kinds = np.isin(np.asarray(buckets.types, dtype=object), DELTA_TYPES)
        return cls(
            start_ms=start_ms,
            end_ms=end_ms,
            range_seconds=range_ms / 1000,
            delta=kinds[:, None],
            count=counts + edge,
            first_ms=first_ms,
            first_values=first_values,
            last_ms=np.where(inside, grids.main("last_ms"), first_ms),
            last_values=np.where(inside, grids.main("last_values"), first_values),
            grids=grids,
            inside=inside,
            edge=edge,
        )

    @cached_property
    def corrections(self) -> np.ndarray:
        """Resets inside the bucket, and a drop from the edge sample to the bucket's first
        (none where no bucket ends at the window's end: its cell has no corrections and a NaN
        first value)."""
        edge_value = self.first_values
        dropped = self.edge & (self.grids.main("first_values") < edge_value)
        return self.grids.main("corrections") + np.where(dropped, edge_value, 0.0)

    @cached_property
    def sums(self) -> np.ndarray:
        return self.grids.main("sums") + np.where(self.edge, self.first_values, 0.0)

    def extremes(self, column: str) -> np.ndarray:
        pick = np.fmin if column == "minima" else np.fmax
        return pick(self.grids.main(column), np.where(self.edge, self.first_values, np.nan))


@dataclass(frozen=True)
class _StackedWindows(WindowSummary):
    """Windows over runs of buckets: every series' buckets laid end to end in time (each
    series moved further in time than the one before, and its windows with it), so that one
    binary search answers every series' windows and no window reaches into another series'
    buckets."""

    buckets: SeriesBuckets  # ordered, with the moved times
    low: np.ndarray  # first bucket of the window
    high: np.ndarray  # one past its last bucket
    edge: np.ndarray  # a sample lies exactly on the window's start
    before: np.ndarray  # the bucket before the window's first
    inside: np.ndarray  # the window has buckets

    @classmethod
    def of(cls, buckets: SeriesBuckets, ends_ms: np.ndarray, range_ms: int) -> _StackedWindows:
        buckets, end_ms = _laid_end_to_end(buckets.ordered(), ends_ms, range_ms)
        start_ms = end_ms - range_ms
        ends = buckets.ends_ms
        low = np.searchsorted(ends, start_ms, side="right")
        high = np.searchsorted(ends, end_ms, side="right")
        before = np.maximum(low - 1, 0)
        edge = (low > 0) & (buckets.last_ms[before] == start_ms)
        inside = high > low
        first = np.minimum(low, len(ends) - 1)
        last = np.maximum(high - 1, 0)
        counts = _cumulative(buckets.counts.astype(np.float64))
        count = counts[high] - counts[low] + edge
        first_ms = np.where(edge, buckets.last_ms[before], buckets.first_ms[first])
        first_values = np.where(edge, buckets.last_values[before], buckets.first_values[first])
        kinds = np.isin(np.asarray(buckets.types, dtype=object), DELTA_TYPES)
        return cls(
            start_ms=start_ms,
            end_ms=end_ms,
            range_seconds=range_ms / 1000,
            delta=np.repeat(kinds, len(ends_ms)),
            count=count,
            first_ms=first_ms,
            first_values=first_values,
            last_ms=np.where(inside, buckets.last_ms[last], first_ms),
            last_values=np.where(inside, buckets.last_values[last], first_values),
            buckets=buckets,
            low=low,
            high=high,
            edge=edge,
            before=before,
            inside=inside,
        )

    @cached_property
    def corrections(self) -> np.ndarray:
        """What counter resets took away in each window: inside its buckets, between
        consecutive buckets, and between the edge sample and the first bucket."""
        low, high, edge, inside = self.low, self.high, self.edge, self.inside
        first_values, last_values = self.buckets.first_values, self.buckets.last_values
        between = np.zeros(len(first_values))
        if len(first_values) > 1:
            drops = first_values[1:] < last_values[:-1]
            between[1:] = np.where(drops, last_values[:-1], 0.0)
        inner = _cumulative(self.buckets.corrections)
        crossing = _cumulative(between)
        next_low = np.minimum(low + 1, high)
        total = inner[high] - inner[low] + crossing[high] - crossing[next_low]
        at_edge = between[np.minimum(low, len(between) - 1)]
        return np.where(inside, total, 0.0) + np.where(edge & inside, at_edge, 0.0)

    @cached_property
    def sums(self) -> np.ndarray:
        sums = _cumulative(self.buckets.sums)
        edge_values = np.where(self.edge, self.buckets.last_values[self.before], 0.0)
        return sums[self.high] - sums[self.low] + edge_values

    def extremes(self, column: str) -> np.ndarray:
        values: np.ndarray = getattr(self.buckets, column)
        pick = np.min if column == "minima" else np.max
        result = np.full(len(self.count), np.nan)
        for window in np.flatnonzero(self.count >= 1):
            candidates = values[self.low[window] : self.high[window]]
            if self.edge[window]:
                candidates = np.append(candidates, self.first_values[window])
            numbers = candidates[~np.isnan(candidates)]
            if len(numbers):
                result[window] = pick(numbers)
        return result


def _laid_end_to_end(
    buckets: SeriesBuckets, ends_ms: np.ndarray, range_ms: int
) -> tuple[SeriesBuckets, np.ndarray]:
    """The buckets (ordered by series and time) with each series moved `shift` further in
    time than the one before, and every series' window ends moved with it."""
    low = min(int(ends_ms[0]) - range_ms, int(buckets.ends_ms.min()))
    high = max(int(ends_ms[-1]), int(buckets.ends_ms.max()))
    shift = high - low + range_ms + 1
    moved = buckets.series * shift
    laid = SeriesBuckets(
        labels=buckets.labels,
        types=buckets.types,
        fingerprints=buckets.fingerprints,
        series=buckets.series,
        ends_ms=buckets.ends_ms + moved,
        first_ms=buckets.first_ms + moved,
        first_values=buckets.first_values,
        last_ms=buckets.last_ms + moved,
        last_values=buckets.last_values,
        counts=buckets.counts,
        sums=buckets.sums,
        minima=buckets.minima,
        maxima=buckets.maxima,
        corrections=buckets.corrections,
    )
    offsets = np.arange(len(buckets.labels), dtype=np.int64)[:, None] * shift
    return laid, (ends_ms[None, :] + offsets).ravel()


def _extrapolated(window: WindowSummary, counter: bool, rate: bool) -> Result:
    present = window.count >= 2
    result = window.last_values - window.first_values
    if counter:
        result = result + window.corrections
    with np.errstate(divide="ignore", invalid="ignore"):
        to_start = (window.first_ms - window.start_ms) / 1000
        to_end = (window.end_ms - window.last_ms) / 1000
        sampled = (window.last_ms - window.first_ms) / 1000
        average = sampled / np.maximum(window.count - 1, 1)
        if counter:
            to_zero = sampled * (window.first_values / result)
            use_zero = (result > 0) & (window.first_values >= 0) & (to_zero < to_start)
            to_start = np.where(use_zero, to_zero, to_start)
        threshold = average * 1.1
        interval = sampled
        interval = interval + np.where(to_start < threshold, to_start, average / 2)
        interval = interval + np.where(to_end < threshold, to_end, average / 2)
        result = result * (interval / sampled)
    if rate:
        result = result / window.range_seconds
    if counter and window.delta.any():  # increments: their increase is their sum
        increase = window.sums / window.range_seconds if rate else window.sums
        result = np.where(window.delta, increase, result)
        present = np.where(window.delta, window.count >= 1, present)
    return result, present


def rate(window: WindowSummary) -> Result:
    return _extrapolated(window, counter=True, rate=True)


def increase(window: WindowSummary) -> Result:
    return _extrapolated(window, counter=True, rate=False)


def delta(window: WindowSummary) -> Result:
    return _extrapolated(window, counter=False, rate=False)


def sum_over_time(window: WindowSummary) -> Result:
    return window.sums, window.count >= 1


def count_over_time(window: WindowSummary) -> Result:
    return window.count.astype(np.float64), window.count >= 1


def avg_over_time(window: WindowSummary) -> Result:
    return window.sums / np.maximum(window.count, 1), window.count >= 1


def last_over_time(window: WindowSummary) -> Result:
    return window.last_values, window.count >= 1


def present_over_time(window: WindowSummary) -> Result:
    return np.ones(window.count.shape), window.count >= 1


def min_over_time(window: WindowSummary) -> Result:
    return window.extremes("minima"), window.count >= 1


def max_over_time(window: WindowSummary) -> Result:
    return window.extremes("maxima"), window.count >= 1


def evaluate(
    function: Callable[[WindowSummary], Result],
    buckets: SeriesBuckets,
    ends_ms: np.ndarray,
    range_ms: int,
    bucket_ms: int,
) -> list[Result]:
    """`function` over the windows ending at `ends_ms` of every series in `buckets` (in the
    order of `buckets.labels`), computed for all series at once."""
    if not buckets.labels:
        return []
    values, present = evaluate_rows(function, buckets, ends_ms, range_ms, bucket_ms)
    return list(zip(values, present, strict=True))


def evaluate_rows(
    function: Callable[[WindowSummary], Result],
    buckets: SeriesBuckets,
    ends_ms: np.ndarray,
    range_ms: int,
    bucket_ms: int,
) -> Result:
    """`evaluate`'s values and presence as arrays of series (rows, in the order of
    `buckets.labels`) by steps."""
    shape = (len(buckets.labels), len(ends_ms))
    if not buckets.labels:
        return np.zeros(shape), np.zeros(shape, dtype=bool)
    if range_ms == bucket_ms:
        windows: WindowSummary = _OneBucketWindows.of(buckets, ends_ms, range_ms)
    else:
        windows = _StackedWindows.of(buckets, ends_ms, range_ms)
    values, present = function(windows)
    return values.reshape(shape), present.reshape(shape)


SUMMARY_FUNCTIONS: dict[str, Callable[[WindowSummary], Result]] = {
    "rate": rate,
    "increase": increase,
    "delta": delta,
    "sum_over_time": sum_over_time,
    "count_over_time": count_over_time,
    "avg_over_time": avg_over_time,
    "last_over_time": last_over_time,
    "present_over_time": present_over_time,
    "min_over_time": min_over_time,
    "max_over_time": max_over_time,
}

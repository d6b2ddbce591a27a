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
dashboard's `rate(x[5m])` with a step of 5 minutes or a multiple of it), each bucket row goes
straight to the window it ends and to the one whose left edge it ends at; otherwise the series'
buckets are laid end to end and each window's run of buckets is found by a binary search.
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


@dataclass(frozen=True)
class _OneBucketWindows(WindowSummary):
    """Windows of one bucket each, laid out as a grid of series by steps: the bucket ending
    at the window's end (`inside`) and the bucket ending at its start (`edge`: its last
    sample lies exactly there)."""

    buckets: SeriesBuckets
    inside: np.ndarray
    main: np.ndarray  # per window, the row of the bucket ending at its end (valid if inside)
    edge: np.ndarray

    @classmethod
    def of(cls, buckets: SeriesBuckets, ends_ms: np.ndarray, range_ms: int) -> _OneBucketWindows:
        steps = len(ends_ms)
        main, before = _main_and_edge_rows(buckets, ends_ms, range_ms)
        inside = main >= 0
        end_ms = np.tile(ends_ms, len(buckets.labels))
        start_ms = end_ms - range_ms
        main_row, before_row = np.maximum(main, 0), np.maximum(before, 0)
        edge_ms = buckets.last_ms[before_row]
        edge = (before >= 0) & (edge_ms == start_ms)
        count = np.where(inside, buckets.counts[main_row], 0) + edge
        first_ms = np.where(edge, edge_ms, buckets.first_ms[main_row])
        first_values = np.where(
            edge, buckets.last_values[before_row], buckets.first_values[main_row]
        )
        kinds = np.isin(np.asarray(buckets.types, dtype=object), DELTA_TYPES)
        return cls(
            start_ms=start_ms,
            end_ms=end_ms,
            range_seconds=range_ms / 1000,
            delta=np.repeat(kinds, steps),
            count=count,
            first_ms=first_ms,
            first_values=first_values,
            last_ms=np.where(inside, buckets.last_ms[main_row], first_ms),
            last_values=np.where(inside, buckets.last_values[main_row], first_values),
            buckets=buckets,
            inside=inside,
            main=main_row,
            edge=edge,
        )

    @cached_property
    def corrections(self) -> np.ndarray:
        """Resets inside the bucket, and a drop from the edge sample to the bucket's first."""
        inner = self.buckets.corrections[self.main]
        edge_value = self.first_values
        dropped = self.edge & (self.buckets.first_values[self.main] < edge_value)
        return np.where(self.inside, inner + np.where(dropped, edge_value, 0.0), 0.0)

    @cached_property
    def sums(self) -> np.ndarray:
        inner = np.where(self.inside, self.buckets.sums[self.main], 0.0)
        return inner + np.where(self.edge, self.first_values, 0.0)

    def extremes(self, column: str) -> np.ndarray:
        pick = np.fmin if column == "minima" else np.fmax
        inner = np.where(self.inside, getattr(self.buckets, column)[self.main], np.nan)
        return pick(inner, np.where(self.edge, self.first_values, np.nan))


def _main_and_edge_rows(
    buckets: SeriesBuckets, ends_ms: np.ndarray, range_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per window (series by series, steps in order), the row of the bucket ending at its end
    and the row of the one ending at its start, or -1. When the range is the step (a
    dashboard's `rate(x[5m])` at 5-minute steps) a bucket is the one at the end of one window
    and at the start of the next: the rows are found once, for the steps and the one before."""
    steps, series = len(ends_ms), len(buckets.labels)
    if steps > 1 and range_ms == ends_ms[1] - ends_ms[0]:
        ends = np.concatenate(([ends_ms[0] - range_ms], ends_ms))
        grid = _rows_ending_at(buckets, ends, buckets.ends_ms, series * (steps + 1))
        grid = grid.reshape(series, steps + 1)
        return grid[:, 1:].ravel(), grid[:, :-1].ravel()
    main = _rows_ending_at(buckets, ends_ms, buckets.ends_ms, series * steps)
    return main, _rows_ending_at(buckets, ends_ms, buckets.ends_ms + range_ms, series * steps)


def _rows_ending_at(
    buckets: SeriesBuckets, ends_ms: np.ndarray, moments: np.ndarray, windows: int
) -> np.ndarray:
    """Per window (series by series, steps in order), the row whose moment is the window's
    end, or -1. Evaluation times are evenly spaced, so a moment's step is arithmetic (a
    binary search per row took twice as long)."""
    step_ms = int(ends_ms[1] - ends_ms[0]) if len(ends_ms) > 1 else 1
    offset = moments - ends_ms[0]
    step = offset // step_ms
    hit = (offset - step * step_ms == 0) & (step >= 0) & (step < len(ends_ms))
    rows = np.full(windows, -1, dtype=np.int64)
    rows[buckets.series[hit] * len(ends_ms) + step[hit]] = np.flatnonzero(hit)
    return rows


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
    return np.ones(len(window.count)), window.count >= 1


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
    series = len(buckets.labels)
    if not series:
        return []
    if range_ms == bucket_ms:
        windows: WindowSummary = _OneBucketWindows.of(buckets, ends_ms, range_ms)
    else:
        windows = _StackedWindows.of(buckets, ends_ms, range_ms)
    values, present = function(windows)
    shape = (series, len(ends_ms))
    return list(zip(values.reshape(shape), present.reshape(shape), strict=True))


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

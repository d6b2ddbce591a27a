"""Range functions computed from per-bucket summaries that the store aggregates
(`telemetry.sample_queries.window_buckets`): `rate`, `increase`, `delta` and the
`sum/count/avg/min/max/last/present_over_time` functions, without loading every sample.

A window `[end - range, end]` is a run of whole buckets `(b - size, b]` plus, when a sample lies
exactly on `end - range`, that sample (the last one of the bucket before). From the buckets' first
and last samples, counts, sums and counter corrections (inside a bucket, and between one bucket's
last sample and the next one's first) the window's figures follow exactly, so `rate` extrapolates
as Prometheus does (`extrapolatedRate` in promql/functions.go).
"""

from __future__ import annotations

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
class WindowSummary:
    """Per step: what the window's samples add up to (the counter corrections and sums only
    when a function asks for them)."""

    buckets: SeriesBuckets
    start_ms: np.ndarray
    end_ms: np.ndarray
    range_seconds: float
    low: np.ndarray  # first bucket of the window
    high: np.ndarray  # one past its last bucket
    edge: np.ndarray  # a sample lies exactly on the window's start
    count: np.ndarray
    first_ms: np.ndarray
    first_values: np.ndarray
    last_ms: np.ndarray
    last_values: np.ndarray
    before: np.ndarray  # the bucket before the window's first
    inside: np.ndarray  # the window has buckets

    @cached_property
    def corrections(self) -> np.ndarray:
        return _corrections(self.buckets, self.low, self.high, self.edge, self.inside)

    @cached_property
    def sums(self) -> np.ndarray:
        return _sums(self.buckets, self.low, self.high, self.edge, self.before)

    @classmethod
    def of(cls, buckets: SeriesBuckets, end_ms: np.ndarray, range_ms: int) -> WindowSummary:
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
        last_ms = np.where(inside, buckets.last_ms[last], first_ms)
        last_values = np.where(inside, buckets.last_values[last], first_values)
        return cls(
            buckets=buckets,
            start_ms=start_ms,
            end_ms=end_ms,
            range_seconds=range_ms / 1000,
            low=low,
            high=high,
            edge=edge,
            count=count,
            first_ms=first_ms,
            first_values=first_values,
            last_ms=last_ms,
            last_values=last_values,
            before=before,
            inside=inside,
        )


def _corrections(
    buckets: SeriesBuckets, low: np.ndarray, high: np.ndarray, edge: np.ndarray, inside: np.ndarray
) -> np.ndarray:
    """What counter resets took away in each window: inside its buckets, between consecutive
    buckets, and between the edge sample and the first bucket."""
    first_values, last_values = buckets.first_values, buckets.last_values
    between = np.zeros(len(first_values))
    if len(first_values) > 1:
        drops = first_values[1:] < last_values[:-1]
        between[1:] = np.where(drops, last_values[:-1], 0.0)
    inner = _cumulative(buckets.corrections)
    crossing = _cumulative(between)
    next_low = np.minimum(low + 1, high)
    total = inner[high] - inner[low] + crossing[high] - crossing[next_low]
    at_edge = between[np.minimum(low, len(between) - 1)] if len(between) else np.zeros(len(low))
    return np.where(inside, total, 0.0) + np.where(edge & inside, at_edge, 0.0)


def _sums(
    buckets: SeriesBuckets, low: np.ndarray, high: np.ndarray, edge: np.ndarray, before: np.ndarray
) -> np.ndarray:
    sums = _cumulative(buckets.sums)
    return sums[high] - sums[low] + np.where(edge, buckets.last_values[before], 0.0)


def _extrapolated(window: WindowSummary, counter: bool, rate: bool) -> Result:
    if counter and window.buckets.type in DELTA_TYPES:
        result = window.sums / window.range_seconds if rate else window.sums
        return result, window.count >= 1
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


def _extreme(pick: Callable[[np.ndarray], float], column: str) -> Callable[[WindowSummary], Result]:
    """min/max_over_time: over the buckets' minima (maxima) and the edge sample; NaN only when
    every value is NaN, as in Prometheus."""

    def function(window: WindowSummary) -> Result:
        present = window.count >= 1
        values: np.ndarray = getattr(window.buckets, column)
        result = np.zeros(len(present))
        for step in np.flatnonzero(present):
            candidates = values[window.low[step] : window.high[step]]
            if window.edge[step]:
                candidates = np.append(candidates, window.first_values[step])
            numbers = candidates[~np.isnan(candidates)]
            result[step] = pick(numbers) if len(numbers) else np.nan
        return result, present

    return function


def _stacked(
    found: list[SeriesBuckets], ends_ms: np.ndarray, range_ms: int
) -> tuple[SeriesBuckets, np.ndarray]:
    """All series' buckets as one, each series moved `shift` further in time than the one
    before (and its windows' ends with it), so that one pass over the arrays answers every
    series' windows and no window reaches into another series' buckets."""
    low = min(int(ends_ms[0]) - range_ms, *(int(b.ends_ms[0]) for b in found if len(b.ends_ms)))
    high = max(int(ends_ms[-1]), *(int(b.ends_ms[-1]) for b in found if len(b.ends_ms)))
    shift = high - low + range_ms + 1
    offsets = [np.full(len(b.ends_ms), index * shift, np.int64) for index, b in enumerate(found)]
    moved = np.concatenate(offsets) if offsets else np.zeros(0, np.int64)

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(b, name) for b in found])

    stacked = SeriesBuckets(
        labels={},
        type=found[0].type,
        ends_ms=joined("ends_ms") + moved,
        first_ms=joined("first_ms") + moved,
        first_values=joined("first_values"),
        last_ms=joined("last_ms") + moved,
        last_values=joined("last_values"),
        counts=joined("counts"),
        sums=joined("sums"),
        minima=joined("minima"),
        maxima=joined("maxima"),
        corrections=joined("corrections"),
    )
    all_ends = (ends_ms[None, :] + np.arange(len(found), dtype=np.int64)[:, None] * shift).ravel()
    return stacked, all_ends


def evaluate(
    function: Callable[[WindowSummary], Result],
    found: list[SeriesBuckets],
    ends_ms: np.ndarray,
    range_ms: int,
) -> list[Result]:
    """`function` over the windows ending at `ends_ms` of every series in `found`, computed
    for all series of a type at once (far fewer numpy calls than a pass per series)."""
    results: list[Result] = [(np.zeros(0), np.zeros(0, dtype=bool))] * len(found)
    for kind in {buckets.type for buckets in found}:
        indices = [index for index, buckets in enumerate(found) if buckets.type == kind]
        group = [found[index] for index in indices if len(found[index].ends_ms)]
        if not group:
            continue
        stacked, all_ends = _stacked(group, ends_ms, range_ms)
        values, present = function(WindowSummary.of(stacked, all_ends, range_ms))
        values = values.reshape(len(group), len(ends_ms))
        present = present.reshape(len(group), len(ends_ms))
        for row, index in enumerate(i for i in indices if len(found[i].ends_ms)):
            results[index] = (values[row], present[row])
    return results


SUMMARY_FUNCTIONS: dict[str, Callable[[WindowSummary], Result]] = {
    "rate": rate,
    "increase": increase,
    "delta": delta,
    "sum_over_time": sum_over_time,
    "count_over_time": count_over_time,
    "avg_over_time": avg_over_time,
    "last_over_time": last_over_time,
    "present_over_time": present_over_time,
    "min_over_time": _extreme(lambda values: float(np.min(values)), "minima"),
    "max_over_time": _extreme(lambda values: float(np.max(values)), "maxima"),
}

"""Functions of a range vector (`rate(x[5m])`, `max_over_time(x[1h])`, ...) at every step.

Each function takes one series' samples (time order) and the windows of all steps, as index
bounds into the samples, and returns a value and a presence flag per step. Windows are closed
at both ends, `[t - range, t]`, as in Prometheus 2. Sums and counter resets are taken from
cumulative arrays, so a function costs O(samples + steps), not O(samples x steps).

`rate`, `increase` and `delta` extrapolate to the window's edges exactly as Prometheus does
(`extrapolatedRate` in promql/functions.go). Samples of OTLP delta counters (type
`counter_delta`) are increments: their increase over a window is their sum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fullcycle.telemetry.sample_queries import SeriesSamples

DELTA_TYPES = ("counter_delta", "histogram_delta")


@dataclass(frozen=True)
class Windows:
    """The windows `[end - range, end]` of every step over one series' samples."""

    start_ms: np.ndarray
    end_ms: np.ndarray
    low: np.ndarray  # index of the first sample in the window
    high: np.ndarray  # one past the last sample in the window
    range_seconds: float

    @classmethod
    def over(cls, samples: SeriesSamples, end_ms: np.ndarray, range_ms: int) -> Windows:
        start_ms = end_ms - range_ms
        return cls(
            start_ms=start_ms,
            end_ms=end_ms,
            low=np.searchsorted(samples.timestamps_ms, start_ms, side="left"),
            high=np.searchsorted(samples.timestamps_ms, end_ms, side="right"),
            range_seconds=range_ms / 1000,
        )

    @property
    def count(self) -> np.ndarray:
        return self.high - self.low


Result = tuple[np.ndarray, np.ndarray]
RangeFunction = Callable[[SeriesSamples, Windows], Result]


def _cumulative(values: np.ndarray) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(values)))


def _first_last(samples: SeriesSamples, windows: Windows, minimum: int) -> tuple[np.ndarray, ...]:
    """Indices of the first and last sample per window, safe where the window has fewer than
    `minimum` samples (those steps are absent)."""
    present = windows.count >= minimum
    last_index = np.where(present, windows.high - 1, 0)
    first_index = np.where(present, windows.low, 0)
    return present, first_index, last_index


def _counter_corrections(values: np.ndarray) -> np.ndarray:
    """Cumulative sum of what counter resets took away: at a drop, the value before it."""
    dropped = np.zeros(len(values))
    if len(values) > 1:
        drops = values[1:] < values[:-1]
        dropped[1:] = np.where(drops, values[:-1], 0.0)
    return np.cumsum(dropped)


def _extrapolated(samples: SeriesSamples, windows: Windows, counter: bool, rate: bool) -> Result:
    values = samples.values
    timestamps = samples.timestamps_ms
    if counter and samples.type in DELTA_TYPES:
        return _delta_sum(samples, windows, rate)
    present, first, last = _first_last(samples, windows, 2)
    if not len(values):
        return np.zeros(len(present)), present
    result = values[last] - values[first]
    if counter:
        corrections = _counter_corrections(values)
        result = result + corrections[last] - corrections[first]
    with np.errstate(divide="ignore", invalid="ignore"):
        to_start = (timestamps[first] - windows.start_ms) / 1000
        to_end = (windows.end_ms - timestamps[last]) / 1000
        sampled = (timestamps[last] - timestamps[first]) / 1000
        average = sampled / np.maximum(windows.count - 1, 1)
        if counter:
            to_zero = sampled * (values[first] / result)
            use_zero = (result > 0) & (values[first] >= 0) & (to_zero < to_start)
            to_start = np.where(use_zero, to_zero, to_start)
        threshold = average * 1.1
        interval = sampled
        interval = interval + np.where(to_start < threshold, to_start, average / 2)
        interval = interval + np.where(to_end < threshold, to_end, average / 2)
        result = result * (interval / sampled)
    if rate:
        result = result / windows.range_seconds
    return result, present


def _delta_sum(samples: SeriesSamples, windows: Windows, rate: bool) -> Result:
    sums = _cumulative(samples.values)
    result = sums[windows.high] - sums[windows.low]
    if rate:
        result = result / windows.range_seconds
    return result, windows.count >= 1


def rate(samples: SeriesSamples, windows: Windows) -> Result:
    return _extrapolated(samples, windows, counter=True, rate=True)


def increase(samples: SeriesSamples, windows: Windows) -> Result:
    return _extrapolated(samples, windows, counter=True, rate=False)


def delta(samples: SeriesSamples, windows: Windows) -> Result:
    return _extrapolated(samples, windows, counter=False, rate=False)


def _instant(samples: SeriesSamples, windows: Windows, counter: bool) -> Result:
    """irate / idelta: from the last two samples of each window."""
    present, _, last = _first_last(samples, windows, 2)
    values, timestamps = samples.values, samples.timestamps_ms
    if not len(values):
        return np.zeros(len(present)), present
    previous = np.maximum(last - 1, 0)
    difference = values[last] - values[previous]
    if counter:
        difference = np.where(values[last] < values[previous], values[last], difference)
        seconds = (timestamps[last] - timestamps[previous]) / 1000
        present = present & (seconds > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            difference = difference / seconds
    return difference, present


def irate(samples: SeriesSamples, windows: Windows) -> Result:
    return _instant(samples, windows, counter=True)


def idelta(samples: SeriesSamples, windows: Windows) -> Result:
    return _instant(samples, windows, counter=False)


def _from_cumulative(per_sample: np.ndarray, windows: Windows, pairs: bool) -> Result:
    """Sums of a per-sample quantity over each window; `pairs` for quantities of a sample and
    the one before it, which the first sample of a window does not count."""
    sums = _cumulative(per_sample)
    low = windows.low + 1 if pairs else windows.low
    result = np.where(
        windows.high > low, sums[windows.high] - sums[np.minimum(low, windows.high)], 0
    )
    return result.astype(np.float64), windows.count >= 1


def changes(samples: SeriesSamples, windows: Windows) -> Result:
    values = samples.values
    changed = np.zeros(len(values))
    if len(values) > 1:
        changed[1:] = (values[1:] != values[:-1]) & ~(np.isnan(values[1:]) & np.isnan(values[:-1]))
    return _from_cumulative(changed, windows, pairs=True)


def resets(samples: SeriesSamples, windows: Windows) -> Result:
    values = samples.values
    dropped = np.zeros(len(values))
    if len(values) > 1:
        dropped[1:] = values[1:] < values[:-1]
    return _from_cumulative(dropped, windows, pairs=True)


def sum_over_time(samples: SeriesSamples, windows: Windows) -> Result:
    return _from_cumulative(samples.values, windows, pairs=False)


def count_over_time(samples: SeriesSamples, windows: Windows) -> Result:
    return windows.count.astype(np.float64), windows.count >= 1


def avg_over_time(samples: SeriesSamples, windows: Windows) -> Result:
    sums, present = sum_over_time(samples, windows)
    return sums / np.maximum(windows.count, 1), present


def present_over_time(samples: SeriesSamples, windows: Windows) -> Result:
    return np.ones(len(windows.count)), windows.count >= 1


def last_over_time(samples: SeriesSamples, windows: Windows) -> Result:
    present, _, last = _first_last(samples, windows, 1)
    if not len(samples.values):
        return np.zeros(len(present)), present
    return samples.values[last], present


def _reduced(reduce: Callable[[np.ndarray], float]) -> RangeFunction:
    """A function applying `reduce` to each window's values (one numpy call per step)."""

    def function(samples: SeriesSamples, windows: Windows) -> Result:
        present = windows.count >= 1
        result = np.zeros(len(present))
        for step in np.flatnonzero(present):
            result[step] = reduce(samples.values[windows.low[step] : windows.high[step]])
        return result, present

    return function


def _nan_aware(reduce: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], float]:
    """min/max as Prometheus: NaN only when every value is NaN."""

    def function(values: np.ndarray) -> float:
        numbers = values[~np.isnan(values)]
        return float(reduce(numbers)) if len(numbers) else float("nan")

    return function


def quantile_over_time(quantile: np.ndarray) -> RangeFunction:
    def function(samples: SeriesSamples, windows: Windows) -> Result:
        present = windows.count >= 1
        result = np.zeros(len(present))
        for step in np.flatnonzero(present):
            window = samples.values[windows.low[step] : windows.high[step]]
            result[step] = quantile_of(float(quantile[step]), window)
        return result, present

    return function


def quantile_of(q: float, values: np.ndarray) -> float:
    """Prometheus' `quantile`: linear interpolation between closest ranks; out of [0, 1] is
    -Inf/+Inf."""
    if np.isnan(q):
        return float("nan")
    if q < 0:
        return float("-inf")
    if q > 1:
        return float("inf")
    return float(np.quantile(np.sort(values), q))


RANGE_FUNCTIONS: dict[str, RangeFunction] = {
    "rate": rate,
    "increase": increase,
    "delta": delta,
    "irate": irate,
    "idelta": idelta,
    "changes": changes,
    "resets": resets,
    "sum_over_time": sum_over_time,
    "count_over_time": count_over_time,
    "avg_over_time": avg_over_time,
    "present_over_time": present_over_time,
    "last_over_time": last_over_time,
    "min_over_time": _reduced(_nan_aware(np.min)),
    "max_over_time": _reduced(_nan_aware(np.max)),
    "stddev_over_time": _reduced(lambda values: float(np.std(values))),
    "stdvar_over_time": _reduced(lambda values: float(np.var(values))),
}

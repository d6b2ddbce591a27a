"""Range-vector functions that need every sample of a window (`irate`, `changes`,
`quantile_over_time`, ...), at every step.

Each function takes one series' samples (time order) and the windows of all steps, as index
bounds into the samples, and returns a value and a presence flag per step. Windows are closed
at both ends, `[t - range, t]`, as in Prometheus 2. Counts of changes and resets come from
cumulative arrays, so they cost O(samples + steps), not O(samples x steps). The functions that
per-bucket summaries suffice for (`rate`, `sum_over_time`, ...) are in `window_summaries.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fullcycle.telemetry.sample_queries import SeriesSamples


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


def _reduced(reduce: Callable[[np.ndarray], float]) -> RangeFunction:
    """A function applying `reduce` to each window's values (one numpy call per step)."""

    def function(samples: SeriesSamples, windows: Windows) -> Result:
        present = windows.count >= 1
        result = np.zeros(len(present))
        for step in np.flatnonzero(present):
            result[step] = reduce(samples.values[windows.low[step] : windows.high[step]])
        return result, present

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
    "irate": irate,
    "idelta": idelta,
    "changes": changes,
    "resets": resets,
    "stddev_over_time": _reduced(lambda values: float(np.std(values))),
    "stdvar_over_time": _reduced(lambda values: float(np.var(values))),
}

"""`histogram_quantile` over classic buckets (`<name>_bucket{le="..."}`), which is also how OTLP
explicit-bucket histograms are stored (ingest/otlp_metrics.py). Same arithmetic as Prometheus'
`bucketQuantile`: buckets sorted by bound, made monotonic, linear interpolation in the bucket
holding the rank."""

from __future__ import annotations

import math

import numpy as np

from fullcycle.metrics.values import METRIC_NAME, StepSeries, Vector, label_key

BUCKET_LABEL = "le"


def _bound(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def bucket_quantile(q: float, bounds: np.ndarray, counts: np.ndarray) -> float:
    """The q-quantile of buckets given by ascending upper bounds and cumulative counts."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if len(bounds) == 0 or not math.isinf(bounds[-1]) or bounds[-1] < 0:
        return math.nan
    bounds, counts = _coalesced(bounds, counts)
    counts = np.maximum.accumulate(counts)
    if len(bounds) < 2:
        return math.nan
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    index = int(np.searchsorted(counts[:-1], rank, side="left"))
    if index == len(bounds) - 1:
        return float(bounds[-2])
    if index == 0 and bounds[0] <= 0:
        return float(bounds[0])
    start = 0.0
    end = float(bounds[index])
    count = float(counts[index])
    if index > 0:
        start = float(bounds[index - 1])
        count -= float(counts[index - 1])
        rank -= float(counts[index - 1])
    return start + (end - start) * (rank / count)


def _coalesced(bounds: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Buckets of equal bound added together."""
    unique, inverse = np.unique(bounds, return_inverse=True)
    if len(unique) == len(bounds):
        return bounds, counts
    return unique, np.bincount(inverse, weights=counts)


def histogram_quantile(q: np.ndarray, vector: Vector) -> Vector:
    groups: dict[tuple, list[tuple[float, StepSeries]]] = {}
    for series in vector:
        bound = _bound(series.labels.get(BUCKET_LABEL, ""))
        if bound is None:
            continue
        labels = {
            name: value
            for name, value in series.labels.items()
            if name not in (BUCKET_LABEL, METRIC_NAME)
        }
        groups.setdefault(label_key(labels), []).append((bound, series))
    result = []
    for key, buckets in groups.items():
        buckets.sort(key=lambda bucket: bucket[0])
        bounds = np.array([bound for bound, _ in buckets])
        values = np.vstack([series.values for _, series in buckets])
        present = np.vstack([series.present for _, series in buckets])
        steps: np.ndarray = np.asarray(present.any(axis=0))
        quantiles = np.full(len(steps), np.nan)
        # Steps where every bucket has a number (nearly all): all at once.
        whole = present.all(axis=0) & np.isfinite(values).all(axis=0)
        if len(np.unique(bounds)) < len(bounds):
            whole[:] = False
        quantiles[whole] = _bucket_quantiles(q[whole], bounds, values[:, whole])
        for step in np.flatnonzero(steps & ~whole):
            here = present[:, step]
            quantiles[step] = bucket_quantile(float(q[step]), bounds[here], values[here, step])
        result.append(StepSeries(dict(key), quantiles, steps))
    return result


def _bucket_quantiles(q: np.ndarray, bounds: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`bucket_quantile` for many steps at once: `counts` has a column of finite cumulative
    counts per step for the distinct ascending `bounds`."""
    steps = counts.shape[1]
    if len(bounds) < 2 or not math.isinf(bounds[-1]) or bounds[-1] < 0:
        return _out_of_range(q, np.full(steps, np.nan))
    counts = np.maximum.accumulate(counts, axis=0)
    observations = counts[-1]
    rank = q * observations
    index = (counts[:-1] < rank).sum(axis=0)
    columns = np.arange(steps)
    below = np.where(index > 0, counts[np.maximum(index - 1, 0), columns], 0.0)
    start = np.where(index > 0, bounds[np.maximum(index - 1, 0)], 0.0)
    end = bounds[np.minimum(index, len(bounds) - 1)]
    count = counts[np.minimum(index, len(bounds) - 1), columns] - below
    with np.errstate(divide="ignore", invalid="ignore"):
        result = start + (end - start) * ((rank - below) / count)
    result = np.where((index == 0) & (bounds[0] <= 0), bounds[0], result)
    result = np.where(index == len(bounds) - 1, bounds[-2], result)
    result = np.where(observations == 0, np.nan, result)
    return _out_of_range(q, result)


def _out_of_range(q: np.ndarray, result: np.ndarray) -> np.ndarray:
    """NaN for a NaN quantile, -Inf below 0 and +Inf above 1, as Prometheus answers."""
    result = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, result))
    return np.where(np.isnan(q), np.nan, result)

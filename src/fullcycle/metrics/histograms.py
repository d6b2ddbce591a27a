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
        for step in np.flatnonzero(steps):
            here = present[:, step]
            quantiles[step] = bucket_quantile(float(q[step]), bounds[here], values[here, step])
        result.append(StepSeries(dict(key), quantiles, steps))
    return result

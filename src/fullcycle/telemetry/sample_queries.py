"""The SQL that reads metric samples for PromQL (planned in `fullcycle.metrics`).

A selection names the samples of one PromQL selector: label matchers and a time window. Two
ways to read them, both grouped by series in the store:

- `last_sample_per_step`: for an instant-vector selector, the store puts every sample into the
  step it belongs to (the first evaluation time at or after it) and keeps only the latest sample
  of each step, so at most one row per series and step leaves the store however dense the data;
- `raw_samples`: for a range-vector function, every sample in the window, in time order.

Matchers become conditions on `metric` (`__name__`) and `labels[...]`, with names and values
bound as parameters; a regex is anchored as in Prometheus. Series lookups for the API read the
`series` table, which the materialized view keeps per metric and fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from fullcycle.telemetry.connection import DATABASE
from fullcycle.telemetry.store import TelemetryStore

MatchOperator = Literal["=", "!=", "=~", "!~"]
METRIC_NAME = "__name__"
# Prometheus' staleness marker, stored with its bit pattern (ingest/remote_write.py).
STALE_NAN_BITS = 0x7FF0000000000002


@dataclass(frozen=True)
class LabelMatcher:
    name: str
    operator: MatchOperator
    value: str


@dataclass(frozen=True)
class SeriesSamples:
    """One series' labels (with `__name__`), its type and its samples in time order."""

    labels: dict[str, str]
    type: str
    timestamps_ms: np.ndarray
    values: np.ndarray
    stale: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


class _Conditions:
    """WHERE conditions with their bound parameters, named p0, p1, ..."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.parameters: dict[str, Any] = {}

    def bind(self, value: Any, kind: str) -> str:
        name = f"p{len(self.parameters)}"
        self.parameters[name] = value
        return f"{{{name}:{kind}}}"

    def add(self, condition: str) -> None:
        self.parts.append(condition)

    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "1"


def _subject(matcher: LabelMatcher, conditions: _Conditions) -> str:
    if matcher.name == METRIC_NAME:
        return "metric"
    return f"labels[{conditions.bind(matcher.name, 'String')}]"


def _add_matchers(conditions: _Conditions, matchers: Sequence[LabelMatcher]) -> None:
    for matcher in matchers:
        subject = _subject(matcher, conditions)
        if matcher.operator in ("=", "!="):
            value = conditions.bind(matcher.value, "String")
            conditions.add(f"{subject} {matcher.operator} {value}")
        else:
            pattern = conditions.bind(f"^(?:{matcher.value})$", "String")
            negation = "NOT " if matcher.operator == "!~" else ""
            conditions.add(f"{negation}match({subject}, {pattern})")


def _sample_conditions(
    matchers: Sequence[LabelMatcher], after_ms: int, until_ms: int
) -> _Conditions:
    """Samples of the matching series with `after_ms <= timestamp <= until_ms`.

    The label matchers are applied to the small `series` table, and the samples are picked by
    metric and fingerprint, the table's sort key: no label map of a sample is read."""
    conditions = _Conditions()
    series = _Conditions()
    series.parameters = conditions.parameters
    _add_matchers(series, matchers)
    _add_matchers(conditions, [m for m in matchers if m.name == METRIC_NAME])
    matching = f"SELECT fingerprint FROM {DATABASE}.series WHERE {series.sql()}"  # noqa: S608
    conditions.add(f"fingerprint IN ({matching})")
    after = conditions.bind(after_ms, "Int64")
    until = conditions.bind(until_ms, "Int64")
    conditions.add(f"timestamp >= fromUnixTimestamp64Milli({after})")
    conditions.add(f"timestamp <= fromUnixTimestamp64Milli({until})")
    return conditions


def _labels_with_name(metric: str, labels: dict[str, str]) -> dict[str, str]:
    return {METRIC_NAME: metric, **labels}


def _series_of(
    store: TelemetryStore, matchers: Sequence[LabelMatcher]
) -> dict[int, tuple[dict[str, str], str]]:
    """Labels (with `__name__`) and type of the matching series, by fingerprint."""
    conditions = _Conditions()
    _add_matchers(conditions, matchers)
    sql = f"""
        SELECT fingerprint, metric, any(labels), any(type) FROM {DATABASE}.series
        WHERE {conditions.sql()} GROUP BY fingerprint, metric
    """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
    return {
        int(fingerprint): (_labels_with_name(metric, labels), str(kind))
        for fingerprint, metric, labels, kind in store.query(sql, conditions.parameters)
    }


def _columns(store: TelemetryStore, sql: str, parameters: dict[str, Any]) -> np.ndarray:
    """The rows of a numeric query as a numpy structured array (fields named by the aliases);
    far cheaper than Python tuples for the many rows sample queries return."""
    rows: np.ndarray = store.clickhouse.client().query_np(sql, parameters=parameters)
    return rows


def _per_series(rows: np.ndarray) -> list[tuple[int, slice]]:
    """Each fingerprint's run of rows (the rows are ordered by fingerprint)."""
    if not rows.dtype.names or not len(rows):
        return []
    fingerprints = rows["fingerprint"]
    starts = [0, *(np.flatnonzero(fingerprints[1:] != fingerprints[:-1]) + 1).tolist()]
    ends = [*starts[1:], len(rows)]
    return [
        (int(fingerprints[start]), slice(start, end))
        for start, end in zip(starts, ends, strict=True)
    ]


def last_sample_per_step(
    store: TelemetryStore,
    matchers: Sequence[LabelMatcher],
    first_step_ms: int,
    step_ms: int,
    steps: int,
    lookback_ms: int,
) -> list[SeriesSamples]:
    """Per series, the latest sample at or before each evaluation time that is within
    `lookback_ms` of it; a series' `timestamps_ms`/`values` hold one entry per step that has
    a sample of its own (the caller carries them forward over the lookback)."""
    last_step_ms = first_step_ms + step_ms * (steps - 1)
    conditions = _sample_conditions(matchers, first_step_ms - lookback_ms, last_step_ms)
    first = conditions.bind(first_step_ms, "Int64")
    step = conditions.bind(max(step_ms, 1), "Int64")
    stale = conditions.bind(STALE_NAN_BITS, "UInt64")
    sql = f"""
        SELECT fingerprint,
               greatest(0, intDiv(toUnixTimestamp64Milli(timestamp) - {first} + {step} - 1,
                                  {step})) AS step_index,
               max(toUnixTimestamp64Milli(timestamp)) AS last_ms,
               argMax(value, timestamp) AS last_value,
               argMax(reinterpretAsUInt64(value) = {stale}, timestamp) AS is_stale
        FROM {DATABASE}.samples
        WHERE {conditions.sql()}
        GROUP BY fingerprint, step_index
        ORDER BY fingerprint, step_index
    """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
    rows = _columns(store, sql, conditions.parameters)
    series = _series_of(store, matchers)
    found = []
    for fingerprint, run in _per_series(rows):
        labels, kind = series.get(fingerprint, ({}, ""))
        found.append(
            SeriesSamples(
                labels=labels,
                type=kind,
                timestamps_ms=rows["last_ms"][run].astype(np.int64),
                values=rows["last_value"][run].astype(np.float64),
                stale=rows["is_stale"][run].astype(bool),
            )
        )
    return found


def raw_samples(
    store: TelemetryStore, matchers: Sequence[LabelMatcher], after_ms: int, until_ms: int
) -> list[SeriesSamples]:
    """Every sample of the matching series in [after_ms, until_ms] except staleness markers,
    in time order per series."""
    conditions = _sample_conditions(matchers, after_ms, until_ms)
    stale = conditions.bind(STALE_NAN_BITS, "UInt64")
    conditions.add(f"reinterpretAsUInt64(value) != {stale}")
    sql = f"""
        SELECT fingerprint, toUnixTimestamp64Milli(timestamp) AS ms, value
        FROM {DATABASE}.samples
        WHERE {conditions.sql()}
        ORDER BY fingerprint, ms
    """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
    rows = _columns(store, sql, conditions.parameters)
    series = _series_of(store, matchers)
    found = []
    for fingerprint, run in _per_series(rows):
        labels, kind = series.get(fingerprint, ({}, ""))
        found.append(
            SeriesSamples(
                labels=labels,
                type=kind,
                timestamps_ms=rows["ms"][run].astype(np.int64),
                values=rows["value"][run].astype(np.float64),
            )
        )
    return found


def _series_conditions(
    selectors: Sequence[Sequence[LabelMatcher]], after_ms: int | None
) -> _Conditions:
    """Series matching any of `selectors` (each a list of matchers, all of which must match)
    and seen at or after `after_ms`."""
    conditions = _Conditions()
    alternatives = []
    for matchers in selectors:
        inner = _Conditions()
        inner.parameters = conditions.parameters
        _add_matchers(inner, matchers)
        alternatives.append(f"({inner.sql()})")
    if alternatives:
        conditions.add("(" + " OR ".join(alternatives) + ")")
    if after_ms is not None:
        after = conditions.bind(after_ms, "Int64")
        conditions.add(f"last_seen >= fromUnixTimestamp64Milli({after})")
    return conditions


def series_labels(
    store: TelemetryStore,
    selectors: Sequence[Sequence[LabelMatcher]],
    after_ms: int | None = None,
    limit: int = 10_000,
) -> list[dict[str, str]]:
    """The label sets (with `__name__`) of the series matching any selector."""
    conditions = _series_conditions(selectors, after_ms)
    bound_limit = conditions.bind(limit, "UInt32")
    sql = f"""
        SELECT metric, any(labels) FROM {DATABASE}.series WHERE {conditions.sql()}
        GROUP BY metric, fingerprint ORDER BY metric, fingerprint LIMIT {bound_limit}
    """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
    return [
        _labels_with_name(metric, labels)
        for metric, labels in store.query(sql, conditions.parameters)
    ]


def label_names(
    store: TelemetryStore,
    selectors: Sequence[Sequence[LabelMatcher]],
    after_ms: int | None = None,
) -> list[str]:
    """Label names used by the matching series (all series without selectors), sorted."""
    conditions = _series_conditions(selectors, after_ms)
    sql = f"""
        SELECT DISTINCT arrayJoin(mapKeys(labels)) AS name FROM {DATABASE}.series
        WHERE {conditions.sql()} ORDER BY name
    """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
    names = [str(row[0]) for row in store.query(sql, conditions.parameters)]
    has_series = bool(
        store.query(
            f"SELECT 1 FROM {DATABASE}.series WHERE {conditions.sql()} LIMIT 1",  # noqa: S608
            conditions.parameters,
        )
    )
    return sorted({*names, METRIC_NAME}) if has_series else names


def label_values(
    store: TelemetryStore,
    name: str,
    selectors: Sequence[Sequence[LabelMatcher]],
    after_ms: int | None = None,
) -> list[str]:
    """The values the label `name` has in the matching series, sorted, without ""."""
    conditions = _series_conditions(selectors, after_ms)
    subject = "metric" if name == METRIC_NAME else f"labels[{conditions.bind(name, 'String')}]"
    sql = f"""
        SELECT DISTINCT {subject} AS value FROM {DATABASE}.series
        WHERE {conditions.sql()} AND value != '' ORDER BY value
    """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
    return [str(row[0]) for row in store.query(sql, conditions.parameters)]


@dataclass(frozen=True)
class SeriesBuckets:
    """One series' samples summed up per time bucket (only buckets that have samples), in time
    order: each bucket holds the samples in (end - size, end]."""

    labels: dict[str, str]
    type: str
    ends_ms: np.ndarray
    first_ms: np.ndarray
    first_values: np.ndarray
    last_ms: np.ndarray
    last_values: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    minima: np.ndarray
    maxima: np.ndarray
    corrections: np.ndarray  # counter resets inside the bucket: the value before each drop


def window_buckets(
    store: TelemetryStore,
    matchers: Sequence[LabelMatcher],
    first_end_ms: int,
    step_ms: int,
    steps: int,
    range_ms: int,
    bucket_ms: int,
) -> list[SeriesBuckets]:
    """Samples of the windows `[end - range_ms, end]` for end = first_end_ms + k * step_ms,
    summed up per bucket of `bucket_ms` (which divides both range and step, so windows are
    whole buckets plus a sample exactly on their left edge). Samples in no window are skipped,
    staleness markers too. A window's rate, sum or count follows from its buckets exactly."""
    last_end_ms = first_end_ms + step_ms * (steps - 1)
    conditions = _sample_conditions(matchers, first_end_ms - range_ms, last_end_ms)
    stale = conditions.bind(STALE_NAN_BITS, "UInt64")
    conditions.add(f"reinterpretAsUInt64(value) != {stale}")
    origin = conditions.bind(first_end_ms - range_ms - bucket_ms, "Int64")
    size = conditions.bind(bucket_ms, "Int64")
    if range_ms < step_ms:  # windows leave gaps: keep the samples inside one
        window_start = conditions.bind(first_end_ms - range_ms, "Int64")
        step = conditions.bind(step_ms, "Int64")
        width = conditions.bind(range_ms, "Int64")
        conditions.add(
            f"modulo(toUnixTimestamp64Milli(timestamp) - {window_start}, {step}) <= {width}"
        )
    sql = f"""
        SELECT fingerprint,
               {origin} + {size} * intDiv(ms - {origin} + {size} - 1, {size}) AS bucket_end,
               min(ms) AS first_ms, argMin(value, ms) AS first_value,
               max(ms) AS last_ms, argMax(value, ms) AS last_value,
               count() AS n, sum(value) AS total, min(value) AS low, max(value) AS high,
               sum(dropped) - argMin(dropped, ms) AS corrections
        FROM (
            SELECT fingerprint, value, toUnixTimestamp64Milli(timestamp) AS ms,
                   lagInFrame(value, 1, value) OVER (
                       PARTITION BY fingerprint ORDER BY timestamp
                       ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS previous,
                   if(value < previous, previous, 0) AS dropped
            FROM {DATABASE}.samples
            WHERE {conditions.sql()}
        )
        GROUP BY fingerprint, bucket_end
        ORDER BY fingerprint, bucket_end
    """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
    rows = _columns(store, sql, conditions.parameters)
    series = _series_of(store, matchers)
    found = []
    for fingerprint, run in _per_series(rows):
        labels, kind = series.get(fingerprint, ({}, ""))
        found.append(
            SeriesBuckets(
                labels=labels,
                type=kind,
                ends_ms=rows["bucket_end"][run].astype(np.int64),
                first_ms=rows["first_ms"][run].astype(np.int64),
                first_values=rows["first_value"][run].astype(np.float64),
                last_ms=rows["last_ms"][run].astype(np.int64),
                last_values=rows["last_value"][run].astype(np.float64),
                counts=rows["n"][run].astype(np.int64),
                sums=rows["total"][run].astype(np.float64),
                minima=rows["low"][run].astype(np.float64),
                maxima=rows["high"][run].astype(np.float64),
                corrections=rows["corrections"][run].astype(np.float64),
            )
        )
    return found

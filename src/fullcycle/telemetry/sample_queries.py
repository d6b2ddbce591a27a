"""The SQL that reads metric samples for PromQL (planned in `fullcycle.metrics`).

A selection names the samples of one PromQL selector: label matchers and a time window. Two
ways to read them, both grouped by series in the store:

- `last_sample_per_step`: for an instant-vector selector, the store puts every sample into the
  step it belongs to (the first evaluation time at or after it) and keeps only the latest sample
  of each step, so at most one row per series and step leaves the store however dense the data;
- `raw_samples`: for a range-vector function, every sample in the window, in time order.

Both read the rollup tables (`telemetry/rollups.py`: per series summaries of 5-minute and
1-minute buckets) instead of the samples when the query's steps and windows are made of whole
rollup buckets: the coarsest rollup whose bucket divides the step (and the window's range) and
whose bucket edges fall on the query's; at steps of 30 minutes or more that read back at most
one 5-minute bucket (`rate(x[5m])`, instant selectors), `samples_5m_half_hours`, which holds
only the buckets such steps read. The answers are the same as from the samples.

Matchers become conditions on `metric` (`__name__`) and `labels[...]`, with names and values
bound as parameters; a regex is anchored as in Prometheus. Series lookups for the API read the
`series` table, which the materialized view keeps per metric and fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pyarrow import ipc

from fullcycle.telemetry.connection import DATABASE
from fullcycle.telemetry.rollups import (
    HALF_HOUR_SAMPLES,
    SAMPLE_ROLLUPS,
    STALE_NAN_BITS,
    Rollup,
)
from fullcycle.telemetry.store import TelemetryStore

MatchOperator = Literal["=", "!=", "=~", "!~"]
METRIC_NAME = "__name__"
# A rollup bucket's rises may differ from last - first by float rounding; more is a drop.
RISES_TOLERANCE = 1e-9


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


class _NumbersText:
    """An array of integers bound as a parameter in ClickHouse's text form, made at once: the
    client formats a list element by element (1.3 ms for a histogram's 456 fingerprints, as
    much as the `series` subquery the array saves), and a string character by character; any
    other value it binds as its `str`."""

    def __init__(self, numbers: Sequence[int]) -> None:
        self.text = f"[{','.join(map(str, numbers))}]"

    def __str__(self) -> str:
        return self.text


def _series_conditions_of(
    matchers: Sequence[LabelMatcher], fingerprints: Sequence[int] | None = None
) -> _Conditions:
    """Rows of the matching series, in a table keyed by metric and fingerprint (the samples
    and the rollups): the label matchers are applied to the small `series` table, and the rows
    are picked by metric and fingerprint, so no label map of a sample is read. With
    `fingerprints` (the matching series, known to the series catalogue) those are bound
    instead of the `series` subquery, which costs each read 1-1.5 ms."""
    conditions = _Conditions()
    _add_matchers(conditions, [m for m in matchers if m.name == METRIC_NAME])
    if fingerprints is not None:
        listed = conditions.bind(_NumbersText(fingerprints), "Array(UInt64)")
        conditions.add(f"fingerprint IN {listed}")
        return conditions
    series = _Conditions()
    series.parameters = conditions.parameters
    _add_matchers(series, matchers)
    matching = f"SELECT fingerprint FROM {DATABASE}.series WHERE {series.sql()}"  # noqa: S608
    conditions.add(f"fingerprint IN ({matching})")
    return conditions


def _sample_conditions(
    matchers: Sequence[LabelMatcher],
    after_ms: int,
    until_ms: int,
    fingerprints: Sequence[int] | None = None,
) -> _Conditions:
    """Samples of the matching series with `after_ms <= timestamp <= until_ms`."""
    conditions = _series_conditions_of(matchers, fingerprints)
    after = conditions.bind(after_ms, "Int64")
    until = conditions.bind(until_ms, "Int64")
    conditions.add(f"timestamp >= fromUnixTimestamp64Milli({after})")
    conditions.add(f"timestamp <= fromUnixTimestamp64Milli({until})")
    return conditions


def _rollup_conditions(
    matchers: Sequence[LabelMatcher],
    first_end_ms: int,
    last_end_ms: int,
    fingerprints: Sequence[int] | None = None,
) -> _Conditions:
    """Rollup buckets of the matching series ending in [first_end_ms, last_end_ms]."""
    conditions = _series_conditions_of(matchers, fingerprints)
    first = conditions.bind(first_end_ms // 1000, "Int64")
    last = conditions.bind(last_end_ms // 1000, "Int64")
    conditions.add(f"bucket_end >= toDateTime({first}, 'UTC')")
    conditions.add(f"bucket_end <= toDateTime({last}, 'UTC')")
    return conditions


def rollup_for(bucket_ms: int, origin_ms: int) -> Rollup | None:
    """The coarsest rollup whose buckets tile query buckets of `bucket_ms` that end at
    `origin_ms + k * bucket_ms` (None: only the samples can answer)."""
    for rollup in SAMPLE_ROLLUPS:
        if bucket_ms > 0 and bucket_ms % rollup.size_ms == 0 and origin_ms % rollup.size_ms == 0:
            return rollup
    return None


def strided_rollup_for(step_ms: int, first_end_ms: int, reach_ms: int) -> Rollup | None:
    """The rollup of a few buckets per stride (`samples_5m_half_hours`) when it holds every
    bucket a query reads: evaluation times on its stride (the steps a multiple of it, the first
    on one), each reading back at most one bucket (a window of one bucket, whose left edge is
    the bucket before, or a lookback of at most a bucket)."""
    rollup = HALF_HOUR_SAMPLES
    stride_ms = rollup.stride_seconds * 1000
    on_stride = step_ms > 0 and step_ms % stride_ms == 0 and first_end_ms % stride_ms == 0
    return rollup if on_stride and 0 < reach_ms <= rollup.size_ms else None


def _rollup_of_windows(
    first_end_ms: int, step_ms: int, range_ms: int, bucket_ms: int
) -> Rollup | None:
    """The rollup to read windows `[end - range_ms, end]` from in buckets of `bucket_ms`."""
    if bucket_ms == range_ms == HALF_HOUR_SAMPLES.size_ms:
        strided = strided_rollup_for(step_ms, first_end_ms, range_ms)
        if strided is not None:
            return strided
    return rollup_for(bucket_ms, first_end_ms - range_ms - bucket_ms)


def _labels_with_name(metric: str, labels: dict[str, str]) -> dict[str, str]:
    return {METRIC_NAME: metric, **labels}


SeriesFound = dict[int, tuple[dict[str, str], str]]


def _series_of(
    store: TelemetryStore, matchers: Sequence[LabelMatcher], kept: Sequence[str] | None = None
) -> SeriesFound:
    """Labels (with `__name__`) and type of the matching series, by fingerprint; with `kept`,
    only those labels (a series' label map is the larger part of the look-up). Kept by the
    store's series catalogue while the `series` table holds the same series (shared: not to
    be changed)."""
    return store.series_catalogue.answer(
        _key(matchers, kept), lambda: _looked_up(store, matchers, kept)
    )


def _key(matchers: Sequence[LabelMatcher], kept: Sequence[str] | None) -> tuple[Any, ...]:
    return tuple(matchers), None if kept is None else tuple(kept)


def _looked_up(
    store: TelemetryStore, matchers: Sequence[LabelMatcher], kept: Sequence[str] | None
) -> SeriesFound:
    """`_series_of` from the `series` table."""
    conditions = _Conditions()
    _add_matchers(conditions, matchers)
    names = [name for name in kept or () if name != METRIC_NAME]
    labels = (
        ", any(labels)"
        if kept is None
        else "".join(f", any(labels[{conditions.bind(name, 'String')}])" for name in names)
    )
    sql = f"""
        SELECT fingerprint, metric, any(type){labels} FROM {DATABASE}.series
        WHERE {conditions.sql()} GROUP BY fingerprint, metric
    """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
    rows = store.query(sql, conditions.parameters)
    if kept is None:
        return {
            int(fingerprint): (_labels_with_name(metric, labels), str(kind))
            for fingerprint, metric, kind, labels in rows
        }
    return {
        int(fingerprint): (
            _labels_with_name(metric, {n: v for n, v in zip(names, values, strict=True) if v}),
            str(kind),
        )
        for fingerprint, metric, kind, *values in rows
    }


# Threads that look up the series' labels while the calling thread reads their rows (chDB
# runs both at once; each thread has a session of its own, kept with the thread).
_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="series-labels")


def matching_fingerprints(
    store: TelemetryStore, matchers: Sequence[LabelMatcher]
) -> Future[np.ndarray]:
    """The fingerprints of the series `matchers` select (sorted), looked up in another
    thread."""
    known = _known_series(store, matchers, ())
    if known is not None:
        return _done(np.array(sorted(known), dtype=np.uint64))
    return _LOOKUPS.submit(
        lambda: np.array(sorted(_series_of(store, matchers, kept=())), dtype=np.uint64)
    )


# More fingerprints than this are not bound into a read (the `series` subquery selects them).
_BOUND_SERIES = 10_000


def _series_for_read(
    store: TelemetryStore,
    matchers: Sequence[LabelMatcher],
    kept: Sequence[str] | None = None,
    beside: bool = True,
) -> tuple[Future[SeriesFound], list[int] | None]:
    """The matching series for a read of their rows: `_series_of`, and the fingerprints to
    bind into the read. When the series catalogue knows them without asking the store (an
    embedded store whose series have not changed since), both at once; otherwise they are
    looked up in another thread while the read selects them with a `series` subquery (None,
    as for more than `_BOUND_SERIES`), or, unless `beside`, not at all (no series)."""
    known = _known_series(store, matchers, kept)
    if known is not None:
        return _done(known), sorted(known) if len(known) <= _BOUND_SERIES else None
    if not beside:
        return _done({}), None
    return _LOOKUPS.submit(_series_of, store, matchers, kept), None


def _known_series(
    store: TelemetryStore, matchers: Sequence[LabelMatcher], kept: Sequence[str] | None
) -> SeriesFound | None:
    """`_series_of` when the series catalogue knows the table unchanged without asking it."""
    return store.series_catalogue.known(
        _key(matchers, kept), lambda: _looked_up(store, matchers, kept)
    )


def _done(result: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(result)
    return future


Columns = dict[str, np.ndarray]


# Arrow from chDB in this process: compressing it (lz4 by default) only to decompress it at once
# is wasted work. The setting is in the query's text: given to the client as a setting, chDB's
# client reads, sets and restores it with three more queries around every query (3 ms each
# time, more than reading a panel's labels).
_IN_PROCESS_ARROW = " SETTINGS output_format_arrow_compression_method = 'none'"


def _columns(store: TelemetryStore, sql: str, parameters: dict[str, Any]) -> Columns:
    """The columns of a numeric query as numpy arrays, by their aliases in the query's order;
    far cheaper than Python tuples for the many rows sample queries return. Read as Arrow:
    with chDB that takes about half the time of the client's numpy rows for the hundred
    thousand rows of a day's rollup buckets."""
    if store.clickhouse.embedded:
        sql = f"{sql.rstrip()}{_IN_PROCESS_ARROW}"
    content = store.clickhouse.client().raw_query(sql, parameters=parameters, fmt="Arrow")
    table = ipc.RecordBatchFileReader(content).read_all()
    return {
        name: column.to_numpy()
        for name, column in zip(table.column_names, table.columns, strict=True)
    }


def _series_samples(
    rows: Columns,
    series: dict[int, tuple[dict[str, str], str]],
    times: str,
    values: str,
    stale: str | None = None,
) -> list[SeriesSamples]:
    """Rows ordered by fingerprint as each series' samples, with its labels and type."""
    found = []
    for fingerprint, run in _per_series(rows):
        labels, kind = series.get(fingerprint, ({}, ""))
        found.append(
            SeriesSamples(
                labels=labels,
                type=kind,
                timestamps_ms=rows[times][run].astype(np.int64),
                values=rows[values][run].astype(np.float64),
                stale=rows[stale][run].astype(bool) if stale else np.zeros(0, dtype=bool),
            )
        )
    return found


def _per_series(rows: Columns) -> list[tuple[int, slice]]:
    """Each fingerprint's run of rows (the rows are ordered by fingerprint)."""
    fingerprints = rows.get("fingerprint")
    if fingerprints is None or not len(fingerprints):
        return []
    starts = [0, *(np.flatnonzero(fingerprints[1:] != fingerprints[:-1]) + 1).tolist()]
    ends = [*starts[1:], len(fingerprints)]
    return [
        (int(fingerprints[start]), slice(start, end))
        for start, end in zip(starts, ends, strict=True)
    ]


@dataclass(frozen=True)
class StepSamples:
    """The matching series' latest sample of each step that has samples of its own: one row
    per series and such step, in no particular order, every column an array over the rows.
    `series` is each row's index into `labels` (the series in fingerprint order), `steps` its
    step's index; a row's sample lies after the step before's evaluation time and at or
    before its own step's."""

    labels: list[dict[str, str]]
    series: np.ndarray
    steps: np.ndarray
    timestamps_ms: np.ndarray
    values: np.ndarray
    stale: np.ndarray


def last_sample_per_step(
    store: TelemetryStore,
    matchers: Sequence[LabelMatcher],
    first_step_ms: int,
    step_ms: int,
    steps: int,
    lookback_ms: int,
    rollups: bool = True,
    kept: Sequence[str] | None = None,
) -> StepSamples:
    """Per series, the latest sample of each step that has one (the caller carries them
    forward over the lookback and drops those older than it).

    With a rollup whose buckets tile the steps, a step's latest sample is the latest of its
    buckets' within the lookback (a bucket may reach back before it; the caller's lookback
    test drops such a sample as it would have been missing). `kept`: only these labels of
    the series (and `__name__`), for a caller that uses no other; with none kept (`sum(x)`)
    the labels are not looked up at all (every series' labels are empty)."""
    rollup = (
        strided_rollup_for(step_ms, first_step_ms, lookback_ms)
        or rollup_for(step_ms, first_step_ms)
        if rollups
        else None
    )
    labels_of, bound = _series_for_read(store, matchers, kept, beside=kept is None or bool(kept))
    if rollup is None:
        rows = _latest_sample_rows(
            store, matchers, first_step_ms, step_ms, steps, lookback_ms, bound
        )
    else:
        rows = _latest_bucket_rows(
            store, rollup, matchers, first_step_ms, step_ms, steps, lookback_ms, bound
        )
    fingerprints, series = _series_index(rows["fingerprint"])
    known = labels_of.result() if kept is None or kept else {}
    if rollup is not None:
        rows, series = _latest_of_each_step(rows, series, steps)
    return StepSamples(
        labels=[known.get(fingerprint, ({}, ""))[0] for fingerprint in fingerprints.tolist()],
        series=series.astype(np.int64),
        steps=rows["step_index"].astype(np.int64),
        timestamps_ms=rows["last_ms"].astype(np.int64),
        values=np.ascontiguousarray(rows["last_value"], dtype=np.float64),
        stale=rows["is_stale"].astype(bool),
    )


def _latest_of_each_step(
    rows: Columns, series: np.ndarray, steps: int
) -> tuple[Columns, np.ndarray]:
    """The rows (and their series) with only the latest of those of one series and step
    (several buckets in a step, or a bucket in several parts not yet merged). Only when some
    step has several rows are they sorted (by series, step and time)."""
    cells = series.astype(np.int64) * steps + rows["step_index"]
    if np.bincount(cells).max(initial=0) <= 1:
        return rows, series
    order = np.lexsort((rows["last_ms"], cells))
    cells = cells[order]
    latest = np.ones(len(cells), dtype=bool)  # the last row of each series and step
    latest[:-1] = cells[1:] != cells[:-1]
    chosen = order[latest]
    return {name: values[chosen] for name, values in rows.items()}, series[chosen]


def _latest_sample_rows(
    store: TelemetryStore,
    matchers: Sequence[LabelMatcher],
    first_step_ms: int,
    step_ms: int,
    steps: int,
    lookback_ms: int,
    fingerprints: Sequence[int] | None,
) -> Columns:
    """Per series and step with samples, the step's latest sample (fingerprint, step_index,
    last_ms, last_value, is_stale), in that order."""
    last_step_ms = first_step_ms + step_ms * (steps - 1)
    conditions = _sample_conditions(
        matchers, first_step_ms - lookback_ms, last_step_ms, fingerprints
    )
    moment = "toUnixTimestamp64Milli(timestamp)"
    first = conditions.bind(first_step_ms, "Int64")
    step = conditions.bind(max(step_ms, 1), "Int64")
    stale = conditions.bind(STALE_NAN_BITS, "UInt64")
    sql = f"""
        SELECT fingerprint, step_index, step_ms AS last_ms, step_value AS last_value,
               reinterpretAsUInt64(step_value) = {stale} AS is_stale
        FROM (
            SELECT fingerprint,
                   greatest(0, intDiv({moment} - {first} + {step} - 1, {step})) AS step_index,
                   max({moment}) AS step_ms, argMax(value, timestamp) AS step_value
            FROM {DATABASE}.samples
            WHERE {conditions.sql()}
            GROUP BY fingerprint, step_index
        )
        ORDER BY fingerprint, step_index
    """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
    return _columns(store, sql, conditions.parameters)


def _latest_bucket_rows(
    store: TelemetryStore,
    rollup: Rollup,
    matchers: Sequence[LabelMatcher],
    first_step_ms: int,
    step_ms: int,
    steps: int,
    lookback_ms: int,
    fingerprints: Sequence[int] | None,
) -> Columns:
    """`_latest_sample_rows` from a rollup's latest samples per bucket: only the buckets that
    reach into a step's lookback are read, as they are stored, and the caller keeps the latest
    per series and step (no GROUP BY or ORDER BY in chDB, which cost more than the read)."""
    last_step_ms = first_step_ms + step_ms * (steps - 1)
    conditions = _rollup_conditions(
        matchers, first_step_ms - lookback_ms, last_step_ms, fingerprints
    )
    moment = "toInt64(toUnixTimestamp(bucket_end)) * 1000"
    _window_gaps(conditions, moment, first_step_ms, max(step_ms, 1), lookback_ms)
    first = conditions.bind(first_step_ms, "Int64")
    step = conditions.bind(max(step_ms, 1), "Int64")
    sql = f"""
        SELECT fingerprint,
               greatest(0, intDiv({moment} - {first} + {step} - 1, {step})) AS step_index,
               latest_sample.ms AS last_ms, latest_sample.value AS last_value
        FROM {DATABASE}.{rollup.table}
        WHERE {conditions.sql()}
    """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
    rows = _columns(store, sql, conditions.parameters)
    rows["step_index"] = rows["step_index"].astype(np.int64)
    values = np.ascontiguousarray(rows["last_value"], dtype=np.float64)
    rows["is_stale"] = values.view(np.uint64) == STALE_NAN_BITS
    return rows


def raw_samples(
    store: TelemetryStore, matchers: Sequence[LabelMatcher], after_ms: int, until_ms: int
) -> list[SeriesSamples]:
    """Every sample of the matching series in [after_ms, until_ms] except staleness markers,
    in time order per series."""
    labels_of, bound = _series_for_read(store, matchers)
    conditions = _sample_conditions(matchers, after_ms, until_ms, bound)
    stale = conditions.bind(STALE_NAN_BITS, "UInt64")
    conditions.add(f"reinterpretAsUInt64(value) != {stale}")
    sql = f"""
        SELECT fingerprint, toUnixTimestamp64Milli(timestamp) AS ms, value
        FROM {DATABASE}.samples
        WHERE {conditions.sql()}
        ORDER BY fingerprint, ms
    """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
    rows = _columns(store, sql, conditions.parameters)
    return _series_samples(rows, labels_of.result(), "ms", "value")


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
    """The matching series' samples summed up per time bucket, one row per series and bucket
    that has samples (each bucket holds the samples in (end - size, end]), every column an
    array over the rows. `series` is each row's index into `labels` and `types` (the series in
    fingerprint order); no two rows share a series and bucket, and the rows are in no
    particular order (`ordered` sorts them by series and time). `fingerprints` are the
    series' fingerprints, in the same order as `labels`."""

    labels: list[dict[str, str]]
    types: list[str]
    fingerprints: np.ndarray
    series: np.ndarray
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

    def ordered(self) -> SeriesBuckets:
        """The same rows sorted by series and time."""
        order = np.lexsort((self.ends_ms, self.series))
        if (np.diff(order) > 0).all():
            return self
        return SeriesBuckets(
            labels=self.labels,
            types=self.types,
            fingerprints=self.fingerprints,
            **{name: getattr(self, name)[order] for name in _BUCKET_ARRAYS},
        )

    def of_series(self, fingerprints: np.ndarray) -> SeriesBuckets:
        """The rows of the series among `fingerprints` only (the series renumbered)."""
        chosen = np.isin(self.fingerprints, fingerprints)
        if chosen.all():
            return self
        renumbered = np.cumsum(chosen) - 1
        rows = chosen[self.series]
        arrays = {name: getattr(self, name)[rows] for name in _BUCKET_ARRAYS}
        arrays["series"] = renumbered[arrays["series"]]
        return SeriesBuckets(
            labels=[labels for labels, kept in zip(self.labels, chosen, strict=True) if kept],
            types=[kind for kind, kept in zip(self.types, chosen, strict=True) if kept],
            fingerprints=self.fingerprints[chosen],
            **arrays,
        )


_BUCKET_ARRAYS = (
    "series",
    "ends_ms",
    "first_ms",
    "first_values",
    "last_ms",
    "last_values",
    "counts",
    "sums",
    "minima",
    "maxima",
    "corrections",
)


def window_buckets(
    store: TelemetryStore,
    matchers: Sequence[LabelMatcher],
    first_end_ms: int,
    step_ms: int,
    steps: int,
    range_ms: int,
    bucket_ms: int,
    corrections: bool = True,
    rollups: bool = True,
    extremes: bool = True,
    sums: bool = True,
    kept: Sequence[str] | None = None,
) -> SeriesBuckets:
    """Samples of the windows `[end - range_ms, end]` for end = first_end_ms + k * step_ms,
    summed up per bucket of `bucket_ms` (which divides both range and step, so windows are
    whole buckets plus a sample exactly on their left edge). Samples in no window are skipped,
    staleness markers too. A window's rate, sum or count follows from its buckets exactly.

    From a rollup when its buckets tile these (then a bucket before a window's start may hold
    more than its last sample; only that one counts, as the left edge). `corrections=False`
    leaves counter corrections at 0, and `extremes=False` minima and maxima, for functions
    that do not use them, and `sums=False` the sums (what is not needed is not read from a
    rollup); `kept` gives the series only these labels (and `__name__`)."""
    origin_ms = first_end_ms - range_ms - bucket_ms
    rollup = _rollup_of_windows(first_end_ms, step_ms, range_ms, bucket_ms) if rollups else None
    labels_of, bound = _series_for_read(store, matchers, kept)
    windows = (first_end_ms, step_ms, steps, range_ms, bucket_ms)
    if rollup is None:
        rows = _as_columns(_raw_bucket_rows(store, matchers, windows, bound), _RAW_BUCKET_FIELDS)
    else:
        rows = _rollup_bucket_rows(
            store, rollup, matchers, windows, corrections, extremes, sums, bound
        )
        if corrections:
            _correct_irregular_buckets(store, matchers, rows, origin_ms, bucket_ms)
    return _series_buckets(rows, labels_of.result())


def _series_buckets(rows: Columns, series: dict[int, tuple[dict[str, str], str]]) -> SeriesBuckets:
    """Bucket rows (in `_BUCKET_FIELDS` order, with corrections) with their series (each row's
    index into them given as `series`, or found here)."""
    if "series" in rows:
        index = rows["series"]
        fingerprints = np.zeros(int(index.max(initial=-1)) + 1, dtype=np.uint64)
        fingerprints[index] = rows["fingerprint"]
    else:
        fingerprints, index = _series_index(rows["fingerprint"])
    known = [series.get(fingerprint, ({}, "")) for fingerprint in fingerprints.tolist()]
    return SeriesBuckets(
        labels=[labels for labels, _ in known],
        types=[kind for _, kind in known],
        fingerprints=fingerprints,
        series=index.astype(np.int64),
        ends_ms=rows["bucket_end"],
        first_ms=rows["first_ms"],
        first_values=rows["first_value"],
        last_ms=rows["last_ms"],
        last_values=rows["last_value"],
        counts=rows["n"],
        sums=rows["total"],
        minima=rows["low"],
        maxima=rows["high"],
        corrections=rows["corrections"],
    )


def _window_gaps(
    conditions: _Conditions, moment: str, first_end_ms: int, step_ms: int, range_ms: int
) -> None:
    """When windows leave gaps (range < step), keep only what lies inside one."""
    if range_ms < step_ms:
        window_start = conditions.bind(first_end_ms - range_ms, "Int64")
        step = conditions.bind(step_ms, "Int64")
        width = conditions.bind(range_ms, "Int64")
        conditions.add(f"modulo({moment} - {window_start}, {step}) <= {width}")


def _raw_bucket_rows(
    store: TelemetryStore,
    matchers: Sequence[LabelMatcher],
    windows: tuple[int, int, int, int, int],
    fingerprints: Sequence[int] | None,
) -> Columns:
    """Bucket rows from the samples; `windows` and `fingerprints` as `_rollup_bucket_rows`."""
    first_end_ms, step_ms, steps, range_ms, bucket_ms = windows
    last_end_ms = first_end_ms + step_ms * (steps - 1)
    conditions = _sample_conditions(matchers, first_end_ms - range_ms, last_end_ms, fingerprints)
    stale = conditions.bind(STALE_NAN_BITS, "UInt64")
    conditions.add(f"reinterpretAsUInt64(value) != {stale}")
    origin = conditions.bind(first_end_ms - range_ms - bucket_ms, "Int64")
    size = conditions.bind(bucket_ms, "Int64")
    moment = "toUnixTimestamp64Milli(timestamp)"
    _window_gaps(conditions, moment, first_end_ms, step_ms, range_ms)
    sql = f"""
        SELECT fingerprint,
               {origin} + {size} * intDiv(ms - {origin} + {size} - 1, {size}) AS bucket_end,
               min(ms) AS first_ms, argMin(value, ms) AS first_value,
               max(ms) AS last_ms, argMax(value, ms) AS last_value,
               count() AS n, sum(value) AS total, min(value) AS low, max(value) AS high,
               sum(dropped) - argMin(dropped, ms) AS corrections
        FROM (
            SELECT fingerprint, value, {moment} AS ms,
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
    return _columns(store, sql, conditions.parameters)


def _rollup_bucket_rows(
    store: TelemetryStore,
    rollup: Rollup,
    matchers: Sequence[LabelMatcher],
    windows: tuple[int, int, int, int, int],
    corrections: bool,
    extremes: bool,
    sums: bool,
    fingerprints: Sequence[int] | None,
) -> Columns:
    """The rows `_raw_bucket_rows` gives, from rollup buckets; `corrections` is 0 and
    `irregular` marks buckets whose rises differ from last - first (a counter reset, or a
    staleness marker between samples), when `corrections` are wanted.

    When the query's buckets are the rollup's, its rows are read as they are stored, in no
    order (an `ORDER BY` makes chDB merge the table's parts in order, which takes several
    times the read); only when some series and bucket is still in several parts (recent
    inserts not yet merged by ClickHouse) are they sorted here by series and time and merged,
    which is several times cheaper than a GROUP BY.
    `windows` are the first end, step, steps, range and bucket size in milliseconds; the
    rises (`corrections`), minima and maxima (`extremes`) and sums are read only when wanted
    (the others are 0). `fingerprints`: the matching series' when known (bound into the
    read), or None (selected by a `series` subquery)."""
    first_end_ms, step_ms, steps, range_ms, bucket_ms = windows
    last_end_ms = first_end_ms + step_ms * (steps - 1)
    skipped = (
        (() if extremes else ("low", "high"))
        + (() if corrections else ("rises",))
        + (() if sums else ("total",))
    )
    conditions = _rollup_conditions(matchers, first_end_ms - range_ms, last_end_ms, fingerprints)
    moment = "toInt64(toUnixTimestamp(bucket_end)) * 1000"
    _window_gaps(conditions, moment, first_end_ms, step_ms, range_ms)
    if bucket_ms == rollup.size_ms:
        optional = {
            "total": "total",
            "low": "low",
            "high": "high",
            "rises": "finalizeAggregation(rises) AS rises",
        }
        sql = f"""
            SELECT fingerprint, bucket_end,
                   first_sample.ms AS first_ms, first_sample.value AS first_value,
                   last_sample.ms AS last_ms, last_sample.value AS last_value, n
                   {_optional_columns(optional, skipped)}
            FROM {DATABASE}.{rollup.table}
            WHERE {conditions.sql()}
        """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
        rows = _columns(store, sql, conditions.parameters)
        # In seconds as stored (4 bytes a row), to milliseconds here: cheaper than in chDB.
        rows["bucket_end"] = rows["bucket_end"].astype(np.int64) * 1000
        rows, series = _merged_repeats(_completed(rows, skipped), bucket_ms)
    else:
        origin = conditions.bind(first_end_ms - range_ms - bucket_ms, "Int64")
        size = conditions.bind(bucket_ms, "Int64")
        optional = {
            "total": "sum(total) AS merged_total",
            "low": "min(low) AS merged_low",
            "high": "max(high) AS merged_high",
            "rises": "deltaSumTimestampMerge(rises) AS merged_rises",
        }
        sql = f"""
            SELECT fingerprint,
                   {origin} + {size} * intDiv({moment} - {origin} + {size} - 1, {size})
                       AS bucket_end_ms,
                   tupleElement(min(first_sample), 'ms') AS merged_first_ms,
                   tupleElement(min(first_sample), 'value') AS merged_first_value,
                   tupleElement(max(last_sample), 'ms') AS merged_last_ms,
                   tupleElement(max(last_sample), 'value') AS merged_last_value,
                   sum(n) AS merged_n
                   {_optional_columns(optional, skipped)}
            FROM {DATABASE}.{rollup.table}
            WHERE {conditions.sql()}
            GROUP BY fingerprint, bucket_end_ms
            ORDER BY fingerprint, bucket_end_ms
        """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
        rows, series = _completed(_columns(store, sql, conditions.parameters), skipped), None
    return _with_series(_bucket_rows(rows, corrections), series)


def _optional_columns(columns: dict[str, str], skipped: tuple[str, ...]) -> str:
    return "".join(f", {sql}" for name, sql in columns.items() if name not in skipped)


def _completed(rows: Columns, skipped: tuple[str, ...]) -> Columns:
    """Rollup rows of the `_BUCKET_FIELDS` but the `skipped` ones (in that order, whatever
    their names) as all `_BUCKET_FIELDS`, the skipped ones 0."""
    present = [field for field in _BUCKET_FIELDS if field[0] not in skipped]
    named = _as_columns(rows, tuple(present))
    length = len(named["fingerprint"])
    return {
        name: named[name] if name in named else np.zeros(length, dtype=kind)
        for name, kind in _BUCKET_FIELDS
    }


_BUCKET_FIELDS = (
    ("fingerprint", np.uint64),
    ("bucket_end", np.int64),
    ("first_ms", np.int64),
    ("first_value", np.float64),
    ("last_ms", np.int64),
    ("last_value", np.float64),
    ("n", np.int64),
    ("total", np.float64),
    ("low", np.float64),
    ("high", np.float64),
    ("rises", np.float64),
)


_RAW_BUCKET_FIELDS = (*_BUCKET_FIELDS[:-1], ("corrections", np.float64))


def _as_columns(rows: Columns, fields: tuple[tuple[str, type], ...]) -> Columns:
    """The query's columns (in `fields` order, whatever their names) as contiguous arrays of
    the fields' types: slices of them are cheap views."""
    return {
        name: np.ascontiguousarray(values, dtype=kind)
        for (name, kind), values in zip(fields, rows.values(), strict=True)
    }


def _bucket_rows(rows: Columns, corrections: bool) -> Columns:
    """Rollup rows (in `_BUCKET_FIELDS` order) with samples, with `corrections` (0) and
    `irregular` columns."""
    columns = _as_columns(rows, _BUCKET_FIELDS)
    counted = columns["n"] > 0
    if not counted.all():
        columns = {name: values[counted] for name, values in columns.items()}
    columns["corrections"] = np.zeros(len(columns["n"]))
    columns["irregular"] = np.zeros(len(columns["n"]), dtype=bool)
    if corrections:
        with np.errstate(invalid="ignore"):
            first, last = columns["first_value"], columns["last_value"]
            scale = np.maximum(np.maximum(np.abs(first), np.abs(last)), 1.0)
            within = np.abs(columns["rises"] - (last - first)) <= RISES_TOLERANCE * scale
        columns["irregular"] = ~within
    return columns


def _series_index(fingerprints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct fingerprints, sorted, and each row's index into them. Rows come from the
    store in runs of one series (its buckets of an hour, or of a day, in a part), so only the
    runs' heads are sorted."""
    if not len(fingerprints):
        return fingerprints, np.zeros(0, dtype=np.int64)
    heads = np.flatnonzero(np.concatenate(([True], fingerprints[1:] != fingerprints[:-1])))
    distinct = np.unique(fingerprints[heads])
    lengths = np.diff(np.append(heads, len(fingerprints)))
    return distinct, np.repeat(np.searchsorted(distinct, fingerprints[heads]), lengths)


def _merged_repeats(rows: Columns, size_ms: int) -> tuple[Columns, np.ndarray | None]:
    """The rows with those of a series and bucket that are in several parts (inserts that
    ClickHouse has not merged yet) merged into one; only those are sorted and merged. And,
    when none were, each row's index into the sorted distinct fingerprints (found here
    anyway; None when rows were merged)."""
    fingerprints, ends = rows["fingerprint"], rows["bucket_end"]
    _, series = _series_index(fingerprints)
    if len(fingerprints) < 2:
        return rows, series
    position = (ends - ends.min()) // size_ms
    cells = series.astype(np.int64) * (int(position.max()) + 1) + position
    repeated = np.bincount(cells)[cells] > 1
    if not repeated.any():
        return rows, series
    merged = _merge_parts(_by_series_and_time({name: rows[name][repeated] for name in rows}))
    return {
        name: np.concatenate((values[~repeated], merged[name])) for name, values in rows.items()
    }, None


def _with_series(columns: Columns, series: np.ndarray | None) -> Columns:
    """Bucket rows with each row's series index (`series`, found by `_merged_repeats`) when it
    is still theirs: no row was dropped since."""
    if series is not None and len(series) == len(columns["fingerprint"]):
        columns["series"] = series.astype(np.int64)
    return columns


def _by_series_and_time(rows: Columns) -> Columns:
    """Rollup rows sorted by fingerprint and bucket, and the rows of one bucket by their first
    sample (a row without samples has its first at the end of time)."""
    order = np.lexsort((rows["first_ms"], rows["bucket_end"], rows["fingerprint"]))
    return {name: values[order] for name, values in rows.items()}


def _merge_parts(rows: Columns) -> Columns:
    """Merge rows of the same series and bucket (sorted next to each other by their first
    sample, `_by_series_and_time`) as ClickHouse's merge would: first/last by time, sums,
    extremes, and rises with the rise between consecutive parts (parts that overlap in time
    get NaN rises, so the bucket is checked against the raw samples)."""
    fingerprint, end = rows["fingerprint"], rows["bucket_end"]
    same = (fingerprint[1:] == fingerprint[:-1]) & (end[1:] == end[:-1])
    if not same.any():
        return rows
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    merged = {name: values[starts] for name, values in rows.items()}
    for name in ("n", "total"):
        merged[name] = np.add.reduceat(rows[name], starts)
    merged["low"] = np.minimum.reduceat(rows["low"], starts)
    merged["high"] = np.maximum.reduceat(rows["high"], starts)
    group = np.cumsum(np.concatenate(([0], ~same)))
    latest = np.lexsort((rows["last_ms"], group))  # each group's last row holds its last sample
    ends = np.append(starts[1:], len(fingerprint)) - 1
    merged["last_ms"] = rows["last_ms"][latest[ends]]
    merged["last_value"] = rows["last_value"][latest[ends]]
    merged["rises"] = _merged_rises(rows, same, starts)
    return merged


def _merged_rises(rows: Columns, same: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per bucket, its parts' rises plus the rises from one part's last sample to the next
    one's first (in the order of their first samples); NaN where parts overlap in time."""
    counted = rows["n"] > 0
    pairs = same & counted[1:] & counted[:-1]  # consecutive parts of one bucket with samples
    gaps = rows["first_value"][1:] - rows["last_value"][:-1]
    between = np.concatenate(([0.0], np.where(pairs, np.maximum(gaps, 0.0), 0.0)))
    overlapping = np.concatenate(([0], pairs & (rows["first_ms"][1:] <= rows["last_ms"][:-1])))
    rises = np.add.reduceat(rows["rises"] + between, starts)
    return np.where(np.add.reduceat(overlapping.astype(np.int64), starts) > 0, np.nan, rises)


def _correct_irregular_buckets(
    store: TelemetryStore,
    matchers: Sequence[LabelMatcher],
    rows: Columns,
    origin_ms: int,
    bucket_ms: int,
) -> None:
    """Counter corrections of the irregular buckets, from their raw samples (resets are rare,
    so this reads little), written into `rows`."""
    if not rows["irregular"].any():
        return
    irregular = np.flatnonzero(rows["irregular"])
    ends = rows["bucket_end"][irregular].astype(np.int64)
    fingerprints = rows["fingerprint"][irregular].astype(np.uint64)
    conditions = _sample_conditions(matchers, int(ends.min()) - bucket_ms + 1, int(ends.max()))
    stale = conditions.bind(STALE_NAN_BITS, "UInt64")
    conditions.add(f"reinterpretAsUInt64(value) != {stale}")
    origin = conditions.bind(origin_ms, "Int64")
    size = conditions.bind(bucket_ms, "Int64")
    pairs = conditions.bind(
        list(zip(fingerprints.tolist(), ends.tolist(), strict=True)),
        "Array(Tuple(UInt64, Int64))",
    )
    wanted = conditions.bind(sorted(set(fingerprints.tolist())), "Array(UInt64)")
    conditions.add(f"has({wanted}, fingerprint)")
    sql = f"""
        SELECT fingerprint, bucket_end, sum(dropped) - argMin(dropped, ms) AS corrections
        FROM (
            SELECT fingerprint, ms, bucket_end,
                   lagInFrame(value, 1, value) OVER (
                       PARTITION BY fingerprint ORDER BY ms
                       ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS previous,
                   if(value < previous, previous, 0) AS dropped
            FROM (
                SELECT fingerprint, value, toUnixTimestamp64Milli(timestamp) AS ms,
                       {origin} + {size} * intDiv(ms - {origin} + {size} - 1, {size})
                           AS bucket_end
                FROM {DATABASE}.samples
                WHERE {conditions.sql()}
            )
            WHERE has({pairs}, (fingerprint, bucket_end))
        )
        GROUP BY fingerprint, bucket_end
    """  # noqa: S608 - values are bound parameters; only fixed SQL is formatted in
    corrected = {
        (int(fingerprint), int(end)): float(value)
        for fingerprint, end, value in store.query(sql, conditions.parameters)
    }
    for row in irregular:
        key = (int(rows["fingerprint"][row]), int(rows["bucket_end"][row]))
        rows["corrections"][row] = corrected.get(key, 0.0)

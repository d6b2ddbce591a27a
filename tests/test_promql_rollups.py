"""PromQL answers from the rollup tables are the answers from the raw samples.

(The tests with a store of their own come first: one embedded store per process at a time, and
the module's shared store stays open until the module ends.)

The same range queries run twice on the same store: reading rollups where the steps allow it,
and reading raw samples only (`rollups=False`). The data has what rollups could get wrong:
counter resets inside a 1-minute and a 5-minute bucket and on a bucket's edge, series that
appear and stop in the middle of the range, a staleness marker, a gap longer than the
lookback, jittered scrape times, samples exactly on bucket edges, and samples arriving in
several inserts (so a bucket is merged from partial summaries).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from fullcycle.metrics.engine import instant_query, range_queries, range_query
from fullcycle.telemetry import sample_queries
from fullcycle.telemetry.batches import SampleBatch
from fullcycle.telemetry.rollups import (
    HALF_HOUR_SAMPLES,
    SAMPLE_ROLLUPS,
    rollup_table_sql,
    rollup_view_sql,
)
from fullcycle.telemetry.store import StoreOptions, TelemetryStore
from tests.promql_answers import assert_same, at

HOUR_MS = 3600_000
# Aligned to the hour, so that 5-minute and hourly steps start on rollup bucket edges.
END_MS = (int(datetime.now(UTC).timestamp()) // 3600 - 1) * HOUR_MS
START_MS = END_MS - 6 * HOUR_MS
STALE_NAN = 0x7FF0000000000002
Points = list[tuple[int, float]]


def _stale() -> float:
    import struct

    return float(struct.unpack("<d", struct.pack("<Q", STALE_NAN))[0])


def _scrapes(rng: random.Random, first_ms: int, last_ms: int, jitter: bool = True) -> list[int]:
    return [
        t + (rng.randrange(-400, 400) if jitter else 0) for t in range(first_ms, last_ms, 15_000)
    ]


def _counter(rng: random.Random, times: list[int], resets_at: set[int]) -> Points:
    value, points = 0.0, []
    for t in times:
        value = rng.randint(0, 5) * 1.0 if t in resets_at else value + rng.randint(0, 30) * 0.5
        points.append((t, value))
    return points


def _dataset() -> dict[tuple[str, tuple[tuple[str, str], ...]], Points]:
    rng = random.Random(20261126)
    data: dict[tuple[str, tuple[tuple[str, str], ...]], Points] = {}
    every = _scrapes(rng, START_MS - HOUR_MS, END_MS + 10 * 60_000)
    exact = _scrapes(rng, START_MS - HOUR_MS, END_MS, jitter=False)  # on bucket edges
    # Resets inside a 1-minute bucket, inside a 5-minute bucket, and on a bucket's last sample.
    inside_minute = next(t for t in every if t > START_MS + HOUR_MS and t % 60_000 > 20_000)
    inside_five = next(t for t in every if t > START_MS + 3 * HOUR_MS and t % 300_000 > 100_000)
    on_edge = next(t for t in exact if t > START_MS + 2 * HOUR_MS and t % 300_000 == 0)
    for instance in ("a", "b", "c"):
        labels = (("instance", instance), ("job", "shop"))
        resets = {inside_minute, inside_five} if instance == "a" else set()
        data[("http_requests_total", labels)] = _counter(rng, every, resets)
        data[("process_cpu_seconds_total", labels)] = _counter(rng, exact, {on_edge})
        memory = [
            (t, 2e8 + rng.gauss(0, 3e6))
            for t in every
            if not (START_MS + HOUR_MS < t < START_MS + HOUR_MS + 11 * 60_000)
        ]
        data[("process_resident_memory_bytes", labels)] = memory
    late = [t for t in every if t > START_MS + 2 * HOUR_MS + 17_000]
    data[("http_requests_total", (("instance", "late"), ("job", "shop")))] = _counter(
        rng, late, set()
    )
    stopped = [t for t in every if t < START_MS + 4 * HOUR_MS + 7_000]
    points = _counter(rng, stopped, set())
    points.append((stopped[-1] + 15_000, _stale()))
    data[("http_requests_total", (("instance", "stopped"), ("job", "shop")))] = points
    return data


def _load(store: TelemetryStore, data: dict) -> None:
    """In three inserts by time, so that buckets on their borders are merged from parts."""
    borders = (START_MS + 2 * HOUR_MS + 37_000, START_MS + 4 * HOUR_MS + 130_000)
    for low, high in ((-math.inf, borders[0]), borders, (borders[1], math.inf)):
        batch = SampleBatch()
        for (metric, labels), points in data.items():
            for t, v in points:
                if low <= t < high:
                    batch.add(metric=metric, labels=dict(labels), timestamp_ms=t, value=v)
        asyncio.run(store.append([batch]))
        store.flush()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(StoreOptions(data_dir=tmp_path_factory.mktemp("rollups")))
    opened.open()
    for table in ("samples_1m", "samples_5m"):  # buckets stay split over the inserts' parts
        opened.clickhouse.client().command(f"SYSTEM STOP MERGES fullcycle.{table}")
    _load(opened, _dataset())
    yield opened
    opened.close()


def _truncate_samples(store: TelemetryStore) -> None:
    store.clickhouse.client().command("TRUNCATE TABLE fullcycle.samples")


def test_five_minute_steps_read_no_raw_samples(tmp_path: Path) -> None:
    """Without resets, a dashboard's 5-minute steps are answered from the rollups alone: the
    same answer after the raw samples are gone."""
    store = TelemetryStore(StoreOptions(data_dir=tmp_path))
    store.open()
    try:
        data = {key: points for key, points in _dataset().items() if "late" in str(key)}
        _load(store, data)
        queries = [
            "sum(rate(http_requests_total[5m]))",
            "http_requests_total",
            "max_over_time(http_requests_total[30m])",
        ]
        start, end, step = at(START_MS), at(END_MS), timedelta(minutes=5)
        before = [range_query(store, q, start, end, step, rollups=False) for q in queries]
        _truncate_samples(store)
        assert not range_query(store, queries[0], start, end, step, rollups=False).series
        for query, raw in zip(queries, before, strict=True):
            assert raw.series
            assert_same(query, raw, range_query(store, query, start, end, step))
    finally:
        store.close()


def test_delta_counters_read_from_rollups_equal_raw(tmp_path: Path) -> None:
    """`rate`/`increase` read rollups without the sums of samples, and again with them when an
    OTLP delta counter (whose increase is its sum) is among the series: the answers are the
    raw ones, for a selector of delta counters alone and for one mixing both kinds."""
    store = TelemetryStore(StoreOptions(data_dir=tmp_path))
    store.open()
    try:
        data = {key: points for key, points in _dataset().items() if "late" in str(key)}
        _load(store, data)
        batch = SampleBatch()
        for t in range(START_MS - HOUR_MS, END_MS, 15_000):
            labels = {"job": "shop", "instance": "worker"}
            batch.add(
                metric="jobs_done_total",
                labels=labels,
                timestamp_ms=t,
                value=float(t // 15_000 % 7),
                type="counter_delta",
            )
        asyncio.run(store.append([batch]))
        store.flush()
        queries = [
            "increase(jobs_done_total[5m])",
            "sum(rate(jobs_done_total[5m]))",
            'rate({job="shop"}[5m])',
            'sum(increase({job="shop"}[10m]))',
        ]
        start, end = at(START_MS), at(END_MS)
        for query, step in itertools.product(queries, (timedelta(minutes=5), timedelta(hours=1))):
            raw = range_query(store, query, start, end, step, rollups=False)
            assert raw.series, query
            assert_same(query, raw, range_query(store, query, start, end, step))
        mixed = range_query(store, queries[2], start, end, timedelta(minutes=5))
        assert len(mixed.series) == 2  # the delta counter and the cumulative one
    finally:
        store.close()


def test_a_store_from_before_the_rollups_fills_them_on_start(tmp_path: Path) -> None:
    store = TelemetryStore(StoreOptions(data_dir=tmp_path))
    store.open()
    _load(store, _dataset())
    query = "sum by (instance) (increase(http_requests_total[10m]))"
    start, end, step = at(START_MS), at(END_MS), timedelta(minutes=5)
    expected = range_query(store, query, start, end, step, rollups=False)
    client = store.clickhouse.client()
    for table in ("samples_5m_half_hours", "samples_5m", "samples_1m"):  # as before rollups
        client.command(f"DROP VIEW fullcycle.{table}_feed")
        client.command(f"DROP TABLE fullcycle.{table}")
    store.close()

    reopened = TelemetryStore(StoreOptions(data_dir=tmp_path))
    reopened.open()
    try:
        stored = reopened.query("SELECT count() FROM fullcycle.samples_5m")[0][0]
        assert stored > 0
        assert_same(query, expected, range_query(reopened, query, start, end, step))
        instant = instant_query(reopened, query, at(END_MS))
        assert {s.labels["instance"] for s in instant.series} >= {"a", "late"}
    finally:
        reopened.close()


# The samples rollups as stores made before 2026-11-27 hold them: the first, last and latest
# sample as argMin/argMax states.
_EARLIER_COLUMNS = (
    "metric LowCardinality(String), fingerprint UInt64, bucket_end DateTime('UTC'),"
    " first_ms SimpleAggregateFunction(min, Int64),"
    " first_value AggregateFunction(argMin, Float64, Int64),"
    " last_ms SimpleAggregateFunction(max, Int64),"
    " last_value AggregateFunction(argMax, Float64, Int64),"
    " n SimpleAggregateFunction(sum, UInt64), total SimpleAggregateFunction(sum, Float64),"
    " low SimpleAggregateFunction(min, Float64), high SimpleAggregateFunction(max, Float64),"
    " rises AggregateFunction(deltaSumTimestamp, Float64, Int64),"
    " latest_ms SimpleAggregateFunction(max, Int64),"
    " latest_value AggregateFunction(argMax, Float64, Int64)"
)


def _earlier_rollup_sql(seconds: int) -> list[str]:
    table, size = f"fullcycle.samples_{seconds // 60}m", seconds * 1000
    never = 2**63 - 1
    return [
        f"CREATE TABLE {table} ({_EARLIER_COLUMNS}) ENGINE = AggregatingMergeTree"
        " PARTITION BY toDate(bucket_end) ORDER BY (metric, fingerprint, bucket_end)",
        f"CREATE MATERIALIZED VIEW {table}_feed TO {table} AS SELECT metric, fingerprint,"
        f" toDateTime(intDiv(ms + {size - 1}, {size}) * {seconds}, 'UTC') AS bucket_end,"
        f" min(if(stale, {never}, ms)) AS first_ms,"
        f" argMinState(value, if(stale, {never}, ms)) AS first_value,"
        f" max(if(stale, {-never}, ms)) AS last_ms,"
        f" argMaxState(value, if(stale, {-never}, ms)) AS last_value,"
        " toUInt64(countIf(NOT stale)) AS n, sum(if(stale, 0, value)) AS total,"
        " min(if(stale, inf, value)) AS low, max(if(stale, -inf, value)) AS high,"
        " deltaSumTimestampState(value, ms) AS rises,"
        " max(ms) AS latest_ms, argMaxState(value, ms) AS latest_value"
        " FROM (SELECT metric, fingerprint, toUnixTimestamp64Milli(timestamp) AS ms, value,"
        f" reinterpretAsUInt64(value) = {STALE_NAN} AS stale"
        " FROM fullcycle.samples ORDER BY fingerprint, timestamp)"
        " GROUP BY metric, fingerprint, bucket_end",
    ]


def _reopen(data_dir: Path, caplog: pytest.LogCaptureFixture) -> tuple[TelemetryStore, list[str]]:
    """The store opened again on `data_dir`, and what its opening logged."""
    reopened = TelemetryStore(StoreOptions(data_dir=data_dir))
    with caplog.at_level(logging.INFO, logger="fullcycle.telemetry"):
        reopened.open()
    return reopened, [record.getMessage() for record in caplog.records]


def test_rollups_made_by_an_earlier_version_are_made_again_on_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store whose samples rollups hold argMin/argMax states gets the rollups of this
    version, filled from its samples (saying so in the log: it takes minutes on a large
    store), and their view keeps them up to date."""
    store = TelemetryStore(StoreOptions(data_dir=tmp_path))
    store.open()
    client = store.clickhouse.client()
    client.command("DROP VIEW fullcycle.samples_5m_half_hours_feed")  # made later than these
    client.command("DROP TABLE fullcycle.samples_5m_half_hours")
    for seconds in (300, 60):
        client.command(f"DROP VIEW fullcycle.samples_{seconds // 60}m_feed")
        client.command(f"DROP TABLE fullcycle.samples_{seconds // 60}m")
        for statement in _earlier_rollup_sql(seconds):
            client.command(statement)
    _load(store, _dataset())
    assert store.query("SELECT count() FROM fullcycle.samples_5m")[0][0] > 0
    store.close()

    reopened, said = _reopen(tmp_path, caplog)
    assert any("samples_5m was made by an earlier version" in line for line in said)
    assert any(line.startswith("filled samples_5m from the stored data of") for line in said)
    assert any(line.startswith("filled samples_5m_half_hours from the") for line in said)
    try:
        columns = reopened.query(
            "SELECT name FROM system.columns WHERE database = 'fullcycle' AND table = 'samples_5m'"
        )
        assert ("first_sample",) in columns and ("first_value",) not in columns
        later = SampleBatch()  # written after the upgrade: through the new view
        for t in range(END_MS - HOUR_MS, END_MS, 15_000):
            later.add(metric="queue_depth", labels={"job": "shop"}, timestamp_ms=t, value=t % 7)
        asyncio.run(reopened.append([later]))
        reopened.flush()
        fed = "SELECT count() FROM fullcycle.samples_5m WHERE metric = 'queue_depth'"
        assert reopened.query(fed)[0][0] >= 12
        start, end, step = at(START_MS), at(END_MS), timedelta(minutes=5)
        for query in [*QUERIES, "max_over_time(queue_depth[5m])", "queue_depth"]:
            raw = range_query(reopened, query, start, end, step, rollups=False)
            assert raw.series, query
            assert_same(query, raw, range_query(reopened, query, start, end, step))
    finally:
        reopened.close()


def _sorted_by_series_first(client: Client) -> None:
    """`samples_5m` (and the view feeding it) as stores made before 2026-11-27 11:00 hold it:
    sorted by series, then time."""
    earlier = dataclasses.replace(SAMPLE_ROLLUPS[0], order_by="(metric, fingerprint, bucket_end)")
    client.command("DROP VIEW fullcycle.samples_5m_half_hours_feed")
    client.command("DROP VIEW fullcycle.samples_5m_feed")
    client.command("DROP TABLE fullcycle.samples_5m SYNC")
    for statement in rollup_table_sql(earlier, 24 * 30, None):
        client.command(statement)
    client.command(rollup_view_sql(earlier, None))
    client.command(rollup_view_sql(HALF_HOUR_SAMPLES, None))


def test_samples_5m_sorted_by_series_first_is_sorted_by_hour_on_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store whose `samples_5m` is sorted by series first (made by an earlier version) has it
    sorted by the hour first on start, with the same buckets (its rows copied, partial
    summaries of several inserts merged as ClickHouse merges them, over two days), the same
    answers, and its views feeding it and the half-hours table afterwards."""
    store = TelemetryStore(StoreOptions(data_dir=tmp_path))
    store.open()
    client = store.clickhouse.client()
    _sorted_by_series_first(client)
    client.command("SYSTEM STOP MERGES fullcycle.samples_5m")  # buckets stay in several parts
    data = _dataset()
    day_before = [(t, float(t % 11)) for t in range(END_MS - 30 * HOUR_MS, START_MS, 15_000)]
    data[("queue_depth", (("job", "shop"),))] = day_before
    _load(store, data)
    buckets = (
        "SELECT toString((fingerprint, bucket_end, first_sample, last_sample, n, total, low,"
        " high, finalizeAggregation(rises), latest_sample)) FROM fullcycle.samples_5m FINAL"
        " ORDER BY fingerprint, bucket_end"  # as text: the staleness marker is a NaN
    )
    before = store.query(buckets)
    assert store.query("SELECT uniqExact(toDate(bucket_end)) FROM fullcycle.samples_5m")[0][0] > 1
    store.close()

    reopened, said = _reopen(tmp_path, caplog)
    assert any(line.startswith("sorted samples_5m by (metric, toStartOfHour") for line in said)
    assert not any(line.startswith("filled samples_5m") for line in said)  # copied, not filled
    try:
        key = "SELECT sorting_key FROM system.tables WHERE name = 'samples_5m'"
        assert reopened.query(key)[0][0].startswith("metric, toStartOfHour(bucket_end)")
        assert reopened.query(buckets) == before
        later = SampleBatch()  # written after the upgrade: through the views made again
        for t in range(END_MS - HOUR_MS, END_MS, 15_000):
            later.add(metric="jobs_waiting", labels={"job": "shop"}, timestamp_ms=t, value=t % 7)
        asyncio.run(reopened.append([later]))
        reopened.flush()
        for table in ("samples_5m", "samples_5m_half_hours"):
            fed = f"SELECT count() FROM fullcycle.{table} WHERE metric = 'jobs_waiting'"
            assert reopened.query(fed)[0][0] >= 4, table
        windows = [(START_MS, END_MS), (END_MS - 30 * HOUR_MS, START_MS)]
        queries = [*QUERIES, "rate(queue_depth[5m])", "jobs_waiting"]
        for (first, last), query in itertools.product(windows, queries):
            start, end, step = at(first), at(last), timedelta(minutes=5)
            raw = range_query(reopened, query, start, end, step, rollups=False)
            assert_same(query, raw, range_query(reopened, query, start, end, step))
    finally:
        reopened.close()


QUERIES = [
    "http_requests_total",
    "process_resident_memory_bytes",
    "rate(http_requests_total[5m])",
    "increase(http_requests_total[10m])",
    "increase(process_cpu_seconds_total[5m])",
    "sum by (job) (rate(http_requests_total[5m]))",
    "rate(http_requests_total[1h])",
    "delta(process_resident_memory_bytes[5m])",
    "sum_over_time(http_requests_total[5m])",
    "count_over_time(process_resident_memory_bytes[15m])",
    "avg_over_time(process_resident_memory_bytes[5m])",
    "min_over_time(process_resident_memory_bytes[10m])",
    "max_over_time(process_resident_memory_bytes[1h])",
    "last_over_time(http_requests_total[5m])",
    "present_over_time(http_requests_total[5m])",
    "absent_over_time(process_resident_memory_bytes[5m])",
    "rate(http_requests_total[5m] offset 10m)",
]
STEPS_SECONDS = [60, 300, 900, 1800, 3600]


@pytest.mark.parametrize("step_seconds", STEPS_SECONDS)
@pytest.mark.parametrize("query", QUERIES)
def test_rollup_answers_equal_raw_answers(
    query: str, step_seconds: int, store: TelemetryStore
) -> None:
    start, end, step = at(START_MS), at(END_MS), timedelta(seconds=step_seconds)
    raw = range_query(store, query, start, end, step, rollups=False)
    assert raw.series or query.startswith("absent"), f"{query}: no data; proves nothing"
    assert_same(query, raw, range_query(store, query, start, end, step))


@pytest.mark.parametrize(
    ("query", "whole"),
    [
        (
            "sum by (le, job) (rate(http_requests_total[5m]))",
            "sum by (le, job) (1 * rate(http_requests_total[5m]))",
        ),
        (
            "sum(increase(http_requests_total[10m]))",
            "sum(1 * increase(http_requests_total[10m]))",
        ),
        (
            "count by (__name__) (rate(http_requests_total[5m]))",
            "count by (__name__) (1 * rate(http_requests_total[5m]))",
        ),
        (
            "max by (instance) (process_resident_memory_bytes)",
            "max by (instance) (1 * process_resident_memory_bytes)",
        ),
        (
            "avg(delta(process_resident_memory_bytes[5m]))",
            "avg(1 * delta(process_resident_memory_bytes[5m]))",
        ),
        (
            "quantile by (job) (0.5, max_over_time(process_resident_memory_bytes[10m]))",
            "quantile by (job) (0.5, 1 * max_over_time(process_resident_memory_bytes[10m]))",
        ),
    ],
)
def test_aggregations_read_only_the_labels_they_keep(
    query: str, whole: str, store: TelemetryStore
) -> None:
    """An aggregation over a selector, or a range function of one naming its metric, reads
    only the labels it groups by: the answer is the one read with every label (through `1 *`,
    which the aggregation does not look through)."""
    start, end = at(START_MS), at(END_MS)
    for step in (timedelta(minutes=5), timedelta(seconds=60), timedelta(seconds=45)):
        expected = range_query(store, whole, start, end, step)
        assert expected.series, whole
        assert_same(query, expected, range_query(store, query, start, end, step))


@pytest.mark.parametrize(
    ("query", "apart"),
    [
        (  # an error ratio: the left selector adds a matcher to the right one's
            'sum(rate(http_requests_total{instance=~"a|late"}[5m]))'
            " / sum(rate(http_requests_total[5m]))",
            'sum(1 * rate(http_requests_total{instance=~"a|late"}[5m]))'
            " / sum(rate(http_requests_total[5m]))",
        ),
        (  # the wider selector on the left, windows of several buckets, grouped
            "sum by (job) (increase(http_requests_total[10m]))"
            ' - sum by (job) (increase(http_requests_total{instance!="stopped"}[10m]))',
            "sum by (job) (increase(http_requests_total[10m]))"
            ' - sum by (job) (1 * increase(http_requests_total{instance!="stopped"}[10m]))',
        ),
        (  # different groupings, matched one side to many
            'sum by (instance) (rate(http_requests_total{instance=~"a|b|stopped"}[5m]))'
            " / ignoring (instance) group_left sum(rate(http_requests_total[5m]))",
            'sum by (instance) (1 * rate(http_requests_total{instance=~"a|b|stopped"}[5m]))'
            " / ignoring (instance) group_left sum(rate(http_requests_total[5m]))",
        ),
        (  # the same selector on both sides
            "max(max_over_time(process_resident_memory_bytes[5m]))"
            " - min(max_over_time(process_resident_memory_bytes[5m]))",
            "max(1 * max_over_time(process_resident_memory_bytes[5m]))"
            " - min(max_over_time(process_resident_memory_bytes[5m]))",
        ),
    ],
)
def test_two_operands_over_one_metric_read_once_answer_as_apart(
    query: str, apart: str, store: TelemetryStore
) -> None:
    """Two aggregations of the same range function of one metric, one selector adding
    matchers to the other's, are read once (the narrower one's series taken from the wider
    one's rows): the answer is the one of reading each operand apart (`1 *` keeps an operand
    from being read together)."""
    start, end = at(START_MS), at(END_MS)
    for step in (timedelta(minutes=5), timedelta(seconds=60), timedelta(seconds=45)):
        for rollups in (True, False):
            expected = range_query(store, apart, start, end, step, rollups=rollups)
            assert expected.series, apart
            answer = range_query(store, query, start, end, step, rollups=rollups)
            assert_same(query, expected, answer)


SHARED = "sum by (instance) (rate(http_requests_total[5m]))"
SHARING = [
    SHARED,
    f"{SHARED} * 2",
    f"-{SHARED}",
    f"{SHARED} / ignoring (instance) group_left sum(rate(http_requests_total[5m]))",
    f"{SHARED} > 0.4",
    f"topk(2, {SHARED})",
    f"sort_desc({SHARED})",
    f"abs({SHARED})",
    f"clamp_min({SHARED}, 0.5)",
    f"avg({SHARED})",
    f"quantile(0.5, {SHARED})",
    f"{SHARED} - {SHARED}",
]


def test_queries_evaluated_together_answer_as_apart_and_read_their_shared_part_once(
    store: TelemetryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dashboard panel's queries are evaluated together: the part they share is read once,
    and each consumer of it (which must not change it) answers as when evaluated alone."""
    reads = 0
    read = sample_queries._columns

    def counted(*arguments: Any) -> Any:
        nonlocal reads
        reads += 1
        return read(*arguments)

    monkeypatch.setattr(sample_queries, "_columns", counted)
    start, end = at(START_MS), at(END_MS)
    for step in (timedelta(minutes=5), timedelta(seconds=45)):
        apart = [range_query(store, query, start, end, step) for query in SHARING]
        reads = 0
        range_query(store, SHARED, start, end, step)
        alone = reads
        reads = 0
        together = range_queries(store, SHARING[:3], start, end, step)
        assert reads == alone, "three queries of one part read as much as the part alone"
        together = range_queries(store, SHARING, start, end, step)
        for query, expected, answer in zip(SHARING, apart, together, strict=True):
            assert expected.series, query
            assert_same(query, expected, answer)


AGGREGATED_OPERANDS = [
    "rate(http_requests_total[5m])",
    "increase(http_requests_total[10m])",
    "last_over_time(http_requests_total[5m])",
    "present_over_time(process_resident_memory_bytes[5m])",
    "max_over_time(process_resident_memory_bytes[15m])",
    "process_resident_memory_bytes",
    "http_requests_total offset 7m",
]


@pytest.mark.parametrize("grouping", ["", " by (instance)", " by (job)", " by (__name__, job)"])
@pytest.mark.parametrize(
    "operator", ["sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"]
)
def test_aggregations_of_all_series_at_once_equal_series_one_by_one(
    operator: str, grouping: str, store: TelemetryStore
) -> None:
    """An aggregation of a selector, or of a range function of one, is computed over the
    arrays of all its series at once (without making a series of each, and with no label
    look-up at all when it keeps none): the answer is the one of the same aggregation of the
    series one by one (through `1 *`, which the aggregation does not look through; `sort`
    where the metric name is grouped by, which `1 *` would drop), at steps of one and several
    rollup buckets, and with a step that no rollup tiles."""
    start, end = at(START_MS), at(END_MS)
    for operand, seconds, rollups in itertools.product(
        AGGREGATED_OPERANDS, (300, 900, 45), (True, False)
    ):
        step = timedelta(seconds=seconds)
        query = f"{operator}{grouping} ({operand})"
        through = f"sort({operand})" if "__name__" in grouping else f"1 * {operand}"
        apart = f"{operator}{grouping} ({through})"
        expected = range_query(store, apart, start, end, step, rollups=rollups)
        assert expected.series, apart
        assert_same(query, expected, range_query(store, query, start, end, step, rollups=rollups))


def test_the_data_has_the_cases_rollups_could_get_wrong() -> None:
    data = _dataset()
    counter = data[("http_requests_total", (("instance", "a"), ("job", "shop")))]
    drops = [b for (_, a), (b, v) in itertools.pairwise(counter) if v < a]
    assert len(drops) == 2
    assert any(t % 60_000 != 0 for t in drops)  # inside a minute, not on its edge
    edge = data[("process_cpu_seconds_total", (("instance", "a"), ("job", "shop")))]
    assert any(b < a and t % 300_000 == 0 for (_, a), (t, b) in itertools.pairwise(edge))

"""PromQL at steps of 30 minutes or more (a 7-day dashboard's) read `samples_5m_half_hours`,
the 5-minute buckets ending on a half hour and five minutes before one, and answer what the
raw samples answer.

The data has what this table could get wrong: counter resets inside a bucket that ends on a
half hour, inside the bucket before one (a window's left edge) and exactly on a window's left
edge, series that start and stop in the middle of a window, a staleness marker, a gap longer
than the lookback, jittered scrape times, buckets merged from several inserts' partial rows
(merges stopped), and samples arriving late into a period already rolled up.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fullcycle.metrics.engine import range_query
from fullcycle.telemetry.batches import SampleBatch
from fullcycle.telemetry.store import StoreOptions, TelemetryStore
from tests.promql_answers import assert_same, at

HOUR_MS = 3600_000
MINUTE_MS = 60_000
# On the hour, so that half-hourly steps start on the table's bucket edges.
END_MS = (int(datetime.now(UTC).timestamp()) // 3600 - 1) * HOUR_MS
START_MS = END_MS - 8 * HOUR_MS
STALE = float(struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0])
# Resets: inside the bucket ending at START + 2h (a window), inside the one ending at
# START + 3h25m (a left edge), and a sample exactly on START + 4h25m (a window's left edge).
RESETS = (START_MS + 2 * HOUR_MS - 2 * MINUTE_MS - 20_000, START_MS + 3 * HOUR_MS + 22 * MINUTE_MS)
EDGE_RESET = START_MS + 4 * HOUR_MS + 25 * MINUTE_MS
Points = list[tuple[int, float]]
Data = dict[tuple[str, tuple[tuple[str, str], ...]], Points]

QUERIES = [
    "http_requests_total",
    "sum(rate(http_requests_total[5m]))",
    "rate(http_requests_total[5m])",
    "increase(http_requests_total[5m])",
    "delta(process_resident_memory_bytes[5m])",
    "sum by (job) (rate(http_requests_total[5m] offset 30m))",
    "max_over_time(process_resident_memory_bytes[5m])",
    "sum_over_time(http_requests_total[5m])",
    "count_over_time(http_requests_total[5m])",
    "last_over_time(http_requests_total[5m])",
    "sum(process_resident_memory_bytes)",
    "rate(http_requests_total[10m])",  # not the table's: two buckets a window
]
STEPS = (timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2))


def _counter(rng: random.Random, times: list[int], resets: set[int]) -> Points:
    value, points = 0.0, []
    for t in times:
        value = rng.randint(0, 3) * 1.0 if t in resets else value + rng.randint(0, 30) * 0.5
        points.append((t, value))
    return points


def _dataset(rng: random.Random) -> Data:
    jittered = [t + rng.randrange(-400, 400) for t in range(START_MS - HOUR_MS, END_MS, 15_000)]
    exact = list(range(START_MS - HOUR_MS, END_MS, 15_000))  # on the buckets' edges
    resets = {min(jittered, key=lambda t: abs(t - reset)) for reset in RESETS}
    data: Data = {}
    for instance in ("a", "b"):
        labels = (("instance", instance), ("job", "shop"))
        data[("http_requests_total", labels)] = _counter(rng, jittered, resets)
        data[("process_resident_memory_bytes", labels)] = [
            (t, 2e8 + rng.gauss(0, 3e6))
            for t in jittered
            if not START_MS + HOUR_MS < t < START_MS + HOUR_MS + 40 * MINUTE_MS  # a gap
        ]
    edge = (("instance", "edge"), ("job", "shop"))
    data[("http_requests_total", edge)] = _counter(rng, exact, {EDGE_RESET})
    # Starts 3 minutes into a window and stops 2 minutes into one, with a staleness marker.
    lived = [t for t in exact if START_MS + 87 * MINUTE_MS <= t <= START_MS + 302 * MINUTE_MS]
    short = (("instance", "short"), ("job", "shop"))
    data[("http_requests_total", short)] = [
        *_counter(rng, lived, set()),
        (lived[-1] + 15_000, STALE),
    ]
    return data


def _append(store: TelemetryStore, data: Data, low: float, high: float) -> None:
    batch = SampleBatch()
    for (metric, labels), points in data.items():
        for t, value in points:
            if low <= t < high:
                batch.add(metric=metric, labels=dict(labels), timestamp_ms=t, value=value)
    asyncio.run(store.append([batch]))
    store.flush()


def _load(store: TelemetryStore, data: Data) -> None:
    """In three inserts by time, borders inside half-hour buckets: their rows stay in parts."""
    borders = (
        -math.inf,
        START_MS + 2 * HOUR_MS - 90_000,
        START_MS + 5 * HOUR_MS - 20_000,
        math.inf,
    )
    for low, high in itertools.pairwise(borders):
        _append(store, data, low, high)


def _assert_all_same(store: TelemetryStore, start_ms: int = START_MS) -> int:
    """Every query at every step, from the rollups and from the raw samples; the points."""
    compared = 0
    for query in QUERIES:
        for step in STEPS:
            start, end = at(start_ms), at(END_MS)
            raw = range_query(store, query, start, end, step, rollups=False)
            assert raw.series, f"{query}: no data; proves nothing"
            assert_same(query, raw, range_query(store, query, start, end, step))
            compared += sum(len(series.points) for series in raw.series)
    return compared


def _opened(path: Path) -> TelemetryStore:
    store = TelemetryStore(StoreOptions(data_dir=path))
    store.open()
    return store


def test_the_table_holds_the_half_hours_and_the_buckets_before_them(tmp_path: Path) -> None:
    store = _opened(tmp_path)
    try:
        _load(store, _dataset(random.Random(1)))
        minutes = store.query(
            "SELECT DISTINCT toMinute(bucket_end) % 30 FROM fullcycle.samples_5m_half_hours"
        )
        assert sorted(row[0] for row in minutes) == [0, 25]
        kept, all_buckets = store.query(
            "SELECT (SELECT count() FROM fullcycle.samples_5m_half_hours FINAL),"
            " (SELECT count() FROM fullcycle.samples_5m FINAL)"
        )[0]
        assert 0 < kept * 3 <= all_buckets + 3 * 5  # a third, give or take the ends
    finally:
        store.close()


def test_half_hourly_steps_equal_raw_answers_with_late_samples(tmp_path: Path) -> None:
    """Merges stopped, so the buckets on the inserts' borders stay partial rows. The answers
    at 30-minute, 1-hour and 2-hour steps equal the raw samples' before and after samples
    arrive late into the rolled-up hours: a new series with a reset, and an hour missing from
    another one, sent later."""
    store = _opened(tmp_path)
    client = store.clickhouse.client()
    try:
        for table in ("samples_5m", "samples_5m_half_hours"):
            client.command(f"SYSTEM STOP MERGES fullcycle.{table}")
        rng = random.Random(20261127)
        data = _dataset(rng)
        missing = (START_MS + 5 * HOUR_MS, START_MS + 6 * HOUR_MS)
        held_back = {("http_requests_total", (("instance", "b"), ("job", "shop")))}
        present = {
            key: [
                (t, v)
                for t, v in points
                if key not in held_back or not missing[0] <= t < missing[1]
            ]
            for key, points in data.items()
        }
        _load(store, present)
        assert _assert_all_same(store) > 500
        assert _assert_all_same(store, START_MS + 15 * MINUTE_MS)  # off the half hours

        late_series = (("instance", "late"), ("job", "shop"))
        times = list(range(START_MS + 2 * HOUR_MS, START_MS + 4 * HOUR_MS, 15_000))
        late = {
            ("http_requests_total", late_series): _counter(
                rng, times, {START_MS + 3 * HOUR_MS - 3 * MINUTE_MS}
            ),
            **{key: data[key] for key in held_back},
        }
        _append(store, late, *missing)  # the held-back hour
        _append(store, {key: late[key] for key in late if key[1] == late_series}, 0, math.inf)
        assert _assert_all_same(store) > 500
    finally:
        store.close()


def test_half_hourly_steps_are_answered_from_the_half_hours_table(tmp_path: Path) -> None:
    """With `samples_5m` emptied, a 7-day dashboard's kind of query still answers as the raw
    samples do (the counter resets' corrections come from the raw samples)."""
    store = _opened(tmp_path)
    try:
        _load(store, _dataset(random.Random(3)))
        query = "sum(rate(http_requests_total[5m]))"
        start, end, step = at(START_MS), at(END_MS), timedelta(minutes=30)
        raw = range_query(store, query, start, end, step, rollups=False)
        store.clickhouse.client().command("TRUNCATE TABLE fullcycle.samples_5m")
        assert_same(query, raw, range_query(store, query, start, end, step))
        hourly = range_query(store, "sum(process_resident_memory_bytes)", start, end, step * 2)
        assert len(hourly.series) == 1 and len(hourly.series[0].points) == 9
    finally:
        store.close()


def test_a_store_made_without_the_table_fills_it_on_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store made before `samples_5m_half_hours` (main before 2026-11-27, 08:00) gets it
    filled from `samples_5m` on its first start, and its view keeps it up to date."""
    store = _opened(tmp_path)
    _load(store, _dataset(random.Random(4)))
    client = store.clickhouse.client()
    client.command("DROP VIEW fullcycle.samples_5m_half_hours_feed")
    client.command("DROP TABLE fullcycle.samples_5m_half_hours")
    store.close()

    with caplog.at_level(logging.INFO, logger="fullcycle.telemetry"):
        reopened = _opened(tmp_path)
    try:
        said = [record.getMessage() for record in caplog.records]
        assert any(line.startswith("filled samples_5m_half_hours from") for line in said)
        assert reopened.query("SELECT count() FROM fullcycle.samples_5m_half_hours")[0][0] > 0
        assert _assert_all_same(reopened) > 500
        times = list(range(START_MS, END_MS, 15_000))
        after = (("instance", "after"), ("job", "shop"))  # written through the new view
        fresh = _counter(random.Random(5), times, {START_MS + 90 * MINUTE_MS})
        _append(reopened, {("http_requests_total", after): fresh}, -math.inf, math.inf)
        assert (
            reopened.query(
                "SELECT count() FROM fullcycle.samples_5m_half_hours WHERE fingerprint IN"
                " (SELECT fingerprint FROM fullcycle.series WHERE labels['instance'] = 'after')"
            )[0][0]
            == 1 + 8 * 2 * 2  # two buckets per half hour; the first sample ends one
        )
        assert _assert_all_same(reopened) > 500
    finally:
        reopened.close()

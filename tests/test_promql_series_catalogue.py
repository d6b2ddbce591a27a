"""The series look-ups that PromQL keeps between queries (`telemetry/series_catalogue.py`) never
hide a change of the store's series: one the store writes after a query, one written into its
ClickHouse by another writer, a series deleted from the table, and a type learnt later. Both
ways the catalogue tells a change: from the embedded engine's files, and (as with a ClickHouse
server, which it asks before every look-up) from the table's parts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fullcycle.metrics.engine import instant_query, range_query
from fullcycle.telemetry.batches import SampleBatch
from fullcycle.telemetry.connection import DATABASE
from fullcycle.telemetry.schema import series_sql
from fullcycle.telemetry.series_catalogue import SeriesCatalogue
from fullcycle.telemetry.store import StoreOptions, TelemetryStore

NOW_MS = int(time.time()) // 300 * 300 * 1000
AT = datetime.fromtimestamp(NOW_MS / 1000, UTC)
# What each way of reading a selector looks up: whole label maps (`hits`), the grouping labels
# (`sum by`), the types only (`sum(rate(...))`, whose delta counters are summed).
QUERIES = ("hits", "sum by (route) (hits)", "sum by (route) (rate(hits[5m]))")


def _written(store: TelemetryStore, route: str, kind: str = "counter") -> None:
    batch = SampleBatch()
    for i in range(21):
        batch.add(
            metric="hits",
            labels={"job": "shop", "route": route},
            timestamp_ms=NOW_MS - i * 15_000,
            value=6.0 if kind == "counter_delta" else 100.0 - i,
            type=kind,
        )
    asyncio.run(store.append([batch]))
    store.flush()


@pytest.fixture(params=["engine files", "table parts"])
def store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(StoreOptions(data_dir=tmp_path))
    if request.param == "table parts":  # what a store on a ClickHouse server does
        opened.series_catalogue = SeriesCatalogue(opened.clickhouse)
    opened.open()
    _written(opened, "/a")
    yield opened
    opened.close()


def _routes(store: TelemetryStore, query: str) -> dict[str, float]:
    """The query's value per route, as an instant query and as the last point of a range
    query over 5-minute steps (read from the rollups)."""
    instant = instant_query(store, query, AT)
    ranged = range_query(store, query, AT - timedelta(minutes=10), AT, timedelta(minutes=5))
    values = {s.labels.get("route", ""): s.points[-1][1] for s in instant.series}
    assert values == {s.labels.get("route", ""): s.points[-1][1] for s in ranged.series}
    return values


def test_a_series_the_store_writes_after_a_query_is_in_the_next_one(
    store: TelemetryStore,
) -> None:
    for query in QUERIES:
        assert set(_routes(store, query)) == {"/a"}
    _written(store, "/b")
    for query in QUERIES:
        assert set(_routes(store, query)) == {"/a", "/b"}, query


def test_a_series_another_writer_inserts_is_in_the_next_query(store: TelemetryStore) -> None:
    """As another server writing into a shared ClickHouse: rows that never pass through this
    store's log or flusher."""
    for query in QUERIES:
        assert set(_routes(store, query)) == {"/a"}
    store.clickhouse.client().command(
        f"INSERT INTO {DATABASE}.samples (metric, type, labels, timestamp, value)"
        " SELECT 'hits', 'counter', map('job', 'shop', 'route', '/c'),"
        f" fromUnixTimestamp64Milli(toInt64({NOW_MS} - number * 15000)), 100 - number"
        " FROM numbers(21)"
    )
    for query in QUERIES:
        assert set(_routes(store, query)) == {"/a", "/c"}, query


def test_a_series_deleted_from_the_table_is_in_no_later_query(store: TelemetryStore) -> None:
    _written(store, "/b")
    for query in QUERIES:
        assert set(_routes(store, query)) == {"/a", "/b"}
    store.clickhouse.client().command(
        f"ALTER TABLE {DATABASE}.series DELETE WHERE labels['route'] = '/b'"
        " SETTINGS mutations_sync = 2"
    )
    for query in QUERIES:
        assert set(_routes(store, query)) == {"/a"}, query


def test_a_delta_counter_written_later_is_summed(store: TelemetryStore) -> None:
    """A selector's series' types come from the same look-up: a delta counter that appears
    after a query has its increments summed, not taken for a counter's rises."""
    assert set(_routes(store, "sum by (route) (rate(hits[5m]))")) == {"/a"}
    _written(store, "/d", kind="counter_delta")
    # 20 increments of 6 in (at - 5m, at] and one on the edge at - 5m: 126 in 300 s.
    rates = _routes(store, "sum by (route) (rate(hits[5m]))")
    assert rates["/d"] == pytest.approx(126 / 300)


def test_a_series_table_made_anew_is_followed(store: TelemetryStore) -> None:
    """A table dropped and made again (its old files are removed only later) holds none of
    the series the old one held."""
    assert set(_routes(store, "hits")) == {"/a"}
    client = store.clickhouse.client()
    client.command(f"DROP TABLE {DATABASE}.series")
    client.command(series_sql(None)[0])
    assert _routes(store, "hits") == {}

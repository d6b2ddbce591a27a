"""Log totals, histograms and facets from the per-minute rollup are those from the lines.

The same questions are asked twice of the same store: through the explorer (which reads the
rollup `logs_1m` for the window's whole minutes when the query filters only on service,
environment, host and level) and with `rollups=False` (every line read). Windows start and end
in the middle of a minute, so the partial minutes at the ends come from the lines.

(The test with a store of its own comes first: one embedded store per process at a time.)
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fullcycle.logs import explorer
from fullcycle.logs.explorer import LogRequest
from fullcycle.logs.query import parse
from fullcycle.telemetry import log_queries
from fullcycle.telemetry.batches import LogBatch, SampleBatch
from fullcycle.telemetry.log_queries import Window
from fullcycle.telemetry.store import StoreOptions, TelemetryStore

NS = 1_000_000_000
MINUTE = 60 * NS
END_NS = time.time_ns() // MINUTE * MINUTE
START_NS = END_NS - 3 * 3600 * NS
# Whole minutes from the rollup, and partial minutes at both ends from the lines.
WINDOW = Window(START_NS + 17 * NS + 123, END_NS - 41 * NS)
LEVELS = (("INFO", 9), ("WARN", 13), ("ERROR", 17), ("DEBUG", 5), ("notice", 0), ("", 0))


def _lines(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        service = rng.choice(("shop", "payments", "search"))
        text, number = rng.choice(LEVELS)
        lines.append(
            {
                "timestamp_ns": rng.randrange(START_NS - 600 * NS, END_NS + 600 * NS),
                "service": service,
                "environment": rng.choice(("prod", "staging")),
                "host": f"{service}-{rng.randrange(3)}",
                "severity_text": text,
                "severity_number": number,
                "body": f"request {rng.randrange(1000)} done",
            }
        )
    return lines


def _store_lines(store: TelemetryStore, lines: list[dict]) -> None:
    for part in range(0, len(lines), 2000):  # several inserts: minutes summed from parts
        batch = LogBatch()
        for line in lines[part : part + 2000]:
            batch.add(**line)
        asyncio.run(store.append([batch]))
        store.flush()


def test_a_batch_inserted_again_after_a_crash_is_counted_once(tmp_path: Path) -> None:
    """After a crash the flusher inserts its batch in flight again with the same deduplication
    tokens; ClickHouse drops the repeat, and the views do not count it again either."""
    store = TelemetryStore(StoreOptions(data_dir=tmp_path, flush_interval_seconds=3600))
    store.open()
    try:
        lines = LogBatch()
        for line in _lines(500, 3):
            lines.add(**line)
        samples = SampleBatch()
        for index in range(40):
            samples.add(
                metric="jobs_total",
                labels={"job": "w"},
                timestamp_ms=START_NS // 1_000_000 + index * 15_000,
                value=float(index),
            )
        asyncio.run(store.append([lines, samples]))
        batch = store.flusher.next_batch()
        assert batch is not None
        store.flusher.insert(batch)
        store.flusher.insert(batch)  # the crash: the same range again
        store.flusher.advance(batch.end)
        assert store.query("SELECT sum(lines) FROM fullcycle.logs_1m") == [(500,)]
        assert store.query("SELECT sum(n), sum(total) FROM fullcycle.samples_1m") == [
            (40, float(sum(range(40))))
        ]
    finally:
        store.close()


def test_whole_minutes_are_counted_without_reading_lines(tmp_path: Path) -> None:
    """A window of whole minutes is answered from the rollup alone: the same counts after the
    lines are gone, and a store from before the rollup fills it on start."""
    store = TelemetryStore(StoreOptions(data_dir=tmp_path))
    store.open()
    lines = _lines(3000, 2)
    _store_lines(store, lines)
    window = Window(START_NS, END_NS)
    query = parse("level:error")
    expected = sum(
        1
        for line in lines
        if line["severity_number"] == 17 and START_NS <= line["timestamp_ns"] < END_NS
    )
    client = store.clickhouse.client()
    client.command("DROP VIEW fullcycle.logs_1m_feed")
    client.command("DROP TABLE fullcycle.logs_1m")
    store.close()

    reopened = TelemetryStore(StoreOptions(data_dir=tmp_path))
    reopened.open()
    try:
        assert log_queries.count_matches(reopened, query, window) == expected
        reopened.clickhouse.client().command("TRUNCATE TABLE fullcycle.logs")
        assert log_queries.count_matches(reopened, query, window, rollups=False) == 0
        assert log_queries.count_matches(reopened, query, window) == expected
        facets = log_queries.facets(reopened, query, window, 10, 0, 1000)
        assert facets.facets[1].values == [("error", expected)]
    finally:
        reopened.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(StoreOptions(data_dir=tmp_path_factory.mktemp("log-rollups")))
    opened.open()
    opened.clickhouse.client().command("SYSTEM STOP MERGES fullcycle.logs_1m")
    _store_lines(opened, _lines(8000, 1))
    yield opened
    opened.close()


QUERIES = [
    "",
    "level:error",
    "level:>=warn",
    "level:notice",
    "service:shop",
    "service:shop AND -host:shop-1",
    "service:pay*",
    "env:prod OR level:debug",
    "NOT service:search",
    "host:*",
    "level:*",
]


@pytest.mark.parametrize("text", QUERIES)
def test_rollup_counts_equal_counts_of_the_lines(text: str, store: TelemetryStore) -> None:
    query = parse(text)
    assert log_queries.rollup_answers(query.root)
    total = log_queries.count_matches(store, query, WINDOW, rollups=False)
    assert total > 0
    assert explorer.count_matches(store, query, WINDOW) == total

    request = LogRequest(query, WINDOW)
    for buckets in (60, 7, 200):  # steps of whole minutes (60, 7) and of seconds (200)
        histogram = explorer.histogram(store, request, buckets)
        expected = log_queries.histogram(
            store, query, WINDOW, histogram.step_seconds, rollups=False
        )
        found = [
            (start, level, count)
            for level, counts in histogram.levels.items()
            for start, count in zip(histogram.buckets, counts, strict=True)
            if count
        ]
        assert sorted(found) == sorted(expected)
        assert sum(count for *_, count in found) == total

    facets = explorer.facets(store, request, 10, 0)
    raw = log_queries.facets(store, query, WINDOW, 10, 0, 1000, rollups=False)
    assert facets.facets == raw.facets


def test_free_text_queries_read_the_lines(store: TelemetryStore) -> None:
    for text in ("done", "service:shop request", '"request 5"', "body:done"):
        assert not log_queries.rollup_answers(parse(text).root)
    query = parse("service:shop 42")
    assert log_queries.count_matches(store, query, WINDOW) == log_queries.count_matches(
        store, query, WINDOW, rollups=False
    )


def test_attribute_facets_count_the_newest_whole_periods(store: TelemetryStore) -> None:
    """With the rollups, the attribute sample is the lines since the start of a minute: the
    newest whole minutes (or ten minutes) that hold at least the sample's size of lines."""
    query = parse("service:shop")
    found = log_queries.facets(store, query, WINDOW, 10, 3, 300)
    assert found.attribute_lines >= 300
    since = {
        minute: log_queries.count_matches(
            store, query, Window(minute, WINDOW.end_ns), rollups=False
        )
        for minute in range(END_NS - 3600 * NS, WINDOW.end_ns, MINUTE)
    }
    assert found.attribute_lines in since.values()
    assert found.attribute_lines < 300 + 10 * max(
        since[minute] - since[minute + MINUTE] for minute in list(since)[:-1]
    )

"""Exact totals stay exact while lines come in and parts merge. A total counts the days, or
for a word or a two-word phrase the parts, wholly inside the window without a time condition
(log_queries.count_matches); a line that comes in outside the window, into such a day, is not
counted: neither when it comes in while the total is being counted, nor after the store has
kept the parts it read (telemetry/log_parts.py); a part merged away while a total counts is
counted once. Both ways the store tells a change: from the embedded engine's files, and (as
with a ClickHouse server) from the parts read again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fullcycle.logs import explorer
from fullcycle.logs.explorer import LogRequest
from fullcycle.logs.query import parse
from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.log_parts import LogParts
from fullcycle.telemetry.log_queries import Window
from fullcycle.telemetry.store import StoreOptions, TelemetryStore

SECOND = 1_000_000_000
HOUR = 3600 * SECOND
DAY = 24 * HOUR
# A day two days ago (UTC), its lines in its first hours, the window its first half.
DAY_START = (time.time_ns() // DAY - 2) * DAY
WINDOW = Window(DAY_START, DAY_START + 12 * HOUR)
LATE = DAY_START + 13 * HOUR  # the same day, after the window


def _stored(store: TelemetryStore, lines: list[tuple[int, str]]) -> None:
    batch = LogBatch()
    for timestamp, body in lines:
        batch.add(
            timestamp_ns=timestamp,
            body=body,
            service="checkout",
            host="web-1",
            severity_text="ERROR",
            severity_number=17,
        )
    asyncio.run(store.append([batch]))
    store.flush()


@pytest.fixture(params=["engine files", "days read again"])
def store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(StoreOptions(data_dir=tmp_path, durable=False))
    if request.param == "days read again":  # what a store on a ClickHouse server does
        opened.log_parts = LogParts(opened.clickhouse, None)
    opened.open()
    _stored(opened, [(DAY_START + HOUR + index * SECOND, f"timeout {index}") for index in range(5)])
    yield opened
    opened.close()


def _total(store: TelemetryStore, text: str) -> int:
    return explorer.search(store, LogRequest(parse(text), WINDOW), 10, None).total


@pytest.mark.parametrize(
    ("text", "late"), [("timeout", "timeout late"), ('"disk full"', "disk full")]
)
def test_a_line_outside_the_window_coming_in_while_counting_is_not_counted(
    store: TelemetryStore, monkeypatch: pytest.MonkeyPatch, text: str, late: str
) -> None:
    """A word (counted by day) and a two-word phrase (by part, from the index's dictionary):
    a line that matches, outside the window in a day inside it, comes in just before the
    count."""
    _stored(store, [(DAY_START + 2 * HOUR, "disk full")])
    assert _total(store, text) == (5 if text == "timeout" else 1)
    real_query = store.query
    came_in: list[str] = []

    def query_after_a_late_line(sql: str, parameters: Any = None) -> list[tuple[Any, ...]]:
        """The store's query, the first count preceded by a late line's insert."""
        if ("count()" in sql or "cardinality" in sql) and not came_in:
            came_in.append(sql)
            _stored(store, [(LATE, late)])
        return real_query(sql, parameters)

    monkeypatch.setattr(store, "query", query_after_a_late_line)
    assert _total(store, text) == (5 if text == "timeout" else 1)
    assert came_in
    assert _total(store, "late") == 0
    everything = Window(DAY_START, DAY_START + DAY)
    assert explorer.search(store, LogRequest(parse(text), everything), 10, None).total == (
        6 if text == "timeout" else 2
    )


def test_a_line_outside_the_window_stored_after_a_total_is_not_in_the_next(
    store: TelemetryStore,
) -> None:
    assert _total(store, "timeout") == 5
    _stored(store, [(LATE, "timeout late")])
    assert _total(store, "timeout") == 5
    _stored(store, [(DAY_START + 2 * HOUR, "timeout inside")])
    assert _total(store, "timeout") == 6


def test_windows_that_cut_a_day_count_exactly(store: TelemetryStore) -> None:
    """Windows that hold most of a day, a little of it, or its middle: the day is counted by
    time, and the totals are exact."""
    _stored(
        store, [(DAY_START + hour * HOUR + 30 * SECOND, f"hourly {hour}") for hour in range(24)]
    )
    for first, last in ((0, 20), (3, 24), (2, 22), (20, 24), (0, 4), (1, 2)):
        window = Window(DAY_START + first * HOUR, DAY_START + last * HOUR)
        total = explorer.search(store, LogRequest(parse("hourly"), window), 10, None).total
        assert total == last - first, (first, last)
        everything = explorer.search(store, LogRequest(parse(""), window), 10, None).total
        assert everything == last - first + (5 if first <= 1 < last else 0), (first, last)


def _stored_hours(store: TelemetryStore, hours: range, body: str) -> None:
    """One part: a line `body` at the half of each of `hours` of the day."""
    _stored(store, [(DAY_START + hour * HOUR + HOUR // 2, f"{body} {hour}") for hour in hours])


def _window_total(store: TelemetryStore, text: str, first: int, last: int) -> int:
    window = Window(DAY_START + first * HOUR, DAY_START + last * HOUR)
    return explorer.search(store, LogRequest(parse(text), window), 10, None).total


def test_parts_the_window_cuts_count_exactly(store: TelemetryStore) -> None:
    """Parts of a day that the window holds wholly, mostly (counted whole less the lines
    outside), a little, or not at all: a word's and a two-word phrase's totals are exact."""
    _stored_hours(store, range(2, 12), "disk full")
    _stored_hours(store, range(12, 22), "disk full")
    _stored(store, [(DAY_START + 21 * HOUR, "disk")])  # the word without the phrase
    for first, last in ((3, 24), (4, 20), (11, 13), (2, 21), (0, 10), (12, 22), (13, 14)):
        lines = len(range(max(first, 2), min(last, 22)))
        assert _window_total(store, '"disk full"', first, last) == lines, (first, last)
        assert _window_total(store, "full", first, last) == lines, (first, last)
        assert _window_total(store, "disk", first, last) == lines + (first <= 21 < last)


def _merging_before_the_count(
    store: TelemetryStore, monkeypatch: pytest.MonkeyPatch, day_start: int
) -> list[str]:
    """Wrap the store's query so that the first count from the indexes' dictionaries is
    preceded by merging the parts of the day starting at `day_start`; the list names the
    count once it was."""
    real_query = store.query
    merged: list[str] = []
    day = time.strftime("%Y%m%d", time.gmtime(day_start // SECOND))

    def query_after_a_merge(sql: str, parameters: Any = None) -> list[tuple[Any, ...]]:
        if "mergeTreeTextIndex" in sql and not merged:
            merged.append(sql)
            real_query(f"OPTIMIZE TABLE fullcycle.logs PARTITION ID '{day}' FINAL")
        return real_query(sql, parameters)

    monkeypatch.setattr(store, "query", query_after_a_merge)
    return merged


def test_parts_merged_away_while_counting_are_counted_once(
    store: TelemetryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parts a total read before counting (one wholly in the window, one mostly) are
    merged into one while it counts: the total is the same."""
    _stored_hours(store, range(2, 12), "disk full")
    _stored_hours(store, range(12, 22), "disk full")
    assert _window_total(store, "full", 3, 24) == 19
    merged = _merging_before_the_count(store, monkeypatch, DAY_START)
    assert _window_total(store, "full", 3, 24) == 19
    assert merged
    assert _window_total(store, '"disk full"', 4, 20) == 16


def test_a_part_the_window_cuts_merged_away_while_counting_is_counted(
    store: TelemetryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part the window cuts, mostly outside it, is merged with one wholly outside while a
    total counts: the total is the same."""
    before = DAY_START - DAY
    _stored(store, [(before + hour * HOUR + HOUR // 2, "disk full") for hour in range(2, 5)])
    _stored(store, [(before + hour * HOUR + HOUR // 2, "disk full") for hour in range(18, 24)])
    _stored_hours(store, range(2, 12), "disk full")
    assert _window_total(store, "full", -2, 12) == 12
    merged = _merging_before_the_count(store, monkeypatch, before)
    assert _window_total(store, "full", -2, 12) == 12
    assert merged


def test_lines_deleted_in_place_are_not_counted(store: TelemetryStore) -> None:
    """Lines deleted in place (recovery deletes a batch's rows so: telemetry/flusher.py) stay
    in their part's text index until it is merged; a total does not count them."""
    _stored_hours(store, range(2, 12), "disk full")
    _stored_hours(store, range(12, 22), "disk full")
    store.clickhouse.client().command(
        "DELETE FROM fullcycle.logs WHERE body IN ('disk full 4', 'disk full 13')",
        settings={"mutations_sync": 2},
    )
    assert _window_total(store, "full", 3, 24) == 17
    assert _window_total(store, '"disk full"', 4, 20) == 14

"""The telemetry store: rows written through the write-ahead log land in the tables, survive a
restart, and nothing acknowledged is lost or duplicated when the process dies at any moment."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fullcycle.telemetry.batches import LogBatch, MarkerBatch, SampleBatch, SpanBatch
from fullcycle.telemetry.store import DataDirInUse, StoreOptions, TelemetryStore
from fullcycle.telemetry.wal import segment_numbers, segment_path

PROGRAMS = Path(__file__).parent / "telemetry_programs"
NOW_NS = time.time_ns()  # rows older than the retention would be dropped on insert


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(StoreOptions(data_dir=tmp_path))
    opened.open()
    yield opened
    opened.close()


def _logs(count: int, service: str = "shop", tag: str = "") -> LogBatch:
    batch = LogBatch()
    for number in range(count):
        batch.add(
            timestamp_ns=NOW_NS + number,
            body=f"payment declined for order {number} {tag}".strip(),
            service=service,
            severity_text="ERROR",
            severity_number=17,
            trace_id="5b8efff798038103d269b633813fc60c",
            attributes={"order_id": str(number), "http.status_code": "402"},
            resource_attributes={"service.name": service, "host.name": "web-1"},
        )
    return batch


def _span(status_code: str) -> SpanBatch:
    spans = SpanBatch()
    spans.add(
        trace_id="5b8efff798038103d269b633813fc60c",
        span_id="eee19b7ec3c1b174",
        name="POST /pay",
        service="shop",
        start_ns=NOW_NS,
        duration_ns=12_500_000,
        kind="server",
        status_code=status_code,
    )
    return spans


def test_rows_of_every_table_are_stored_and_queryable(store: TelemetryStore) -> None:
    samples = SampleBatch()
    samples.add(
        metric="http_requests_total",
        labels={"route": "/pay", "job": "shop"},
        timestamp_ms=NOW_NS // 1_000_000,
        value=42.0,
        service="shop",
        type="counter",
    )
    spans = _span(status_code="error")
    markers = MarkerBatch()
    markers.add(timestamp_ns=NOW_NS, kind="deploy", service="shop", title="v42")
    asyncio.run(store.append([_logs(3), samples, spans, markers]))
    store.flush()

    rows = store.query(
        "SELECT body, severity_text, attributes['order_id'], resource_attributes['host.name']"
        " FROM fullcycle.logs WHERE service = {service:String} ORDER BY timestamp",
        {"service": "shop"},
    )
    assert rows[0] == ("payment declined for order 0", "ERROR", "0", "web-1")
    assert len(rows) == 3
    found = store.query(
        "SELECT count() FROM fullcycle.logs WHERE hasToken(body, {word:String})",
        {"word": "declined"},
    )
    assert found == [(3,)]
    series = store.query("SELECT metric, labels, type FROM fullcycle.series FINAL")
    assert series == [("http_requests_total", {"job": "shop", "route": "/pay"}, "counter")]
    assert store.query("SELECT name, duration_ns, status_code FROM fullcycle.spans") == [
        ("POST /pay", 12_500_000, "error")
    ]
    assert store.query("SELECT kind, title FROM fullcycle.markers") == [("deploy", "v42")]


def test_maps_shared_by_many_rows_are_stored_on_each_row(store: TelemetryStore) -> None:
    """A decoder hands one resource's attributes to all its records as one dict object."""
    batch = LogBatch()
    resources = [{"service.name": "shop", "host.name": f"web-{n}"} for n in range(2)]
    for number in range(10):
        batch.add(
            timestamp_ns=NOW_NS + number,
            body=f"line {number}",
            service="shop",
            resource_attributes=resources[number // 7],
            attributes={"n": str(number)},
        )
    asyncio.run(store.append([batch]))
    store.flush()
    rows = store.query(
        "SELECT attributes['n'], resource_attributes['host.name'] FROM fullcycle.logs"
        " ORDER BY timestamp"
    )
    assert rows == [(str(n), "web-0" if n < 7 else "web-1") for n in range(10)]


def test_acknowledged_rows_survive_a_restart_without_a_flush(tmp_path: Path) -> None:
    first = TelemetryStore(StoreOptions(data_dir=tmp_path, flush_interval_seconds=3600))
    first.open()
    asyncio.run(first.append([_logs(500)]))
    first.close()  # an orderly stop flushes; the next test covers the disorderly ones
    second = TelemetryStore(StoreOptions(data_dir=tmp_path))
    second.open()
    try:
        assert second.query("SELECT count() FROM fullcycle.logs") == [(500,)]
    finally:
        second.close()


def test_a_torn_record_at_the_end_of_the_log_is_cut_off(tmp_path: Path) -> None:
    first = TelemetryStore(StoreOptions(data_dir=tmp_path, flush_interval_seconds=3600))
    first.open()
    asyncio.run(first.append([_logs(10)]))
    first.close()
    wal = tmp_path / "wal"
    with segment_path(wal, segment_numbers(wal)[-1]).open("ab") as segment:
        segment.write(b"\x40\x00\x00\x00\x12\x34")  # a header promising more than follows
    second = TelemetryStore(StoreOptions(data_dir=tmp_path))
    second.open()
    try:
        asyncio.run(second.append([_logs(5, tag="after")]))
        second.flush()
        assert second.query("SELECT count() FROM fullcycle.logs") == [(15,)]
    finally:
        second.close()


def _inserts_of_appends_a_fifth_of_a_second_apart(options: StoreOptions) -> int:
    """Append 1,000 rows six times, 0.2 s apart; once all are stored, how many inserts the
    flusher made of them (every insert gives its rows its own `wal_batch`)."""
    store = TelemetryStore(options)
    store.open()
    try:

        async def append_spaced() -> None:
            for round_number in range(6):
                await store.append([_logs(1000, tag=f"round{round_number}")])
                await asyncio.sleep(0.2)

        asyncio.run(append_spaced())
        deadline = time.monotonic() + 30
        while store.query("SELECT count() FROM fullcycle.logs") != [(6000,)]:
            assert time.monotonic() < deadline, "the flusher did not store the rows in 30 s"
            time.sleep(0.1)
        [(inserts,)] = store.query("SELECT uniqExact(wal_batch) FROM fullcycle.logs")
        return int(inserts)
    finally:
        store.close()


def test_under_load_the_flusher_makes_fewer_larger_inserts(tmp_path: Path) -> None:
    """Little arriving: an insert every interval. Much arriving (more than `busy_flush_bytes`
    per interval): the rows wait, up to `busy_flush_interval_seconds`, to go in together (each
    insert is a part that ClickHouse merges later)."""
    quiet = StoreOptions(
        data_dir=tmp_path / "quiet", flush_interval_seconds=0.05, busy_flush_bytes=2**40
    )
    busy = StoreOptions(
        data_dir=tmp_path / "busy",
        flush_interval_seconds=0.05,
        busy_flush_bytes=1,
        busy_flush_interval_seconds=8,
    )
    assert _inserts_of_appends_a_fifth_of_a_second_apart(quiet) >= 4
    assert _inserts_of_appends_a_fifth_of_a_second_apart(busy) == 1


def _run_program(name: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(PROGRAMS / name), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )


def test_a_flush_that_failed_halfway_is_finished_before_newer_rows_without_duplicates(
    tmp_path: Path,
) -> None:
    """A batch's logs went in, its spans did not (the spans table was away): the next flush
    first finishes that batch with the same deduplication tokens, then stores what came after,
    so the logs already stored are not stored again."""
    hour = 3600.0  # the flusher inserts only when told to (store.flush)
    store = TelemetryStore(
        StoreOptions(
            data_dir=tmp_path, flush_interval_seconds=hour, busy_flush_interval_seconds=hour
        )
    )
    store.open()
    spans = _span(status_code="ok")
    client = store.clickhouse.client()
    try:
        asyncio.run(store.append([_logs(100, tag="first"), spans]))
        client.command("RENAME TABLE fullcycle.spans TO fullcycle.spans_away")
        with pytest.raises(Exception, match="spans"):
            store.flush()
        assert store.query("SELECT count() FROM fullcycle.logs") == [(100,)]
        client.command("RENAME TABLE fullcycle.spans_away TO fullcycle.spans")
        asyncio.run(store.append([_logs(50, tag="second")]))
        store.flush()

        assert store.query("SELECT count(), uniqExact(body) FROM fullcycle.logs") == [(150, 150)]
        assert store.query("SELECT count() FROM fullcycle.spans") == [(1,)]
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["arrow", "protobuf", "mixed"])
def test_a_batch_inserted_just_before_a_crash_is_not_duplicated(tmp_path: Path, kind: str) -> None:
    """`kind`: the write-ahead log's records (telemetry_programs/batch_in_flight.py)."""
    program = _run_program("insert_then_die.py", str(tmp_path), "1000", kind)
    assert program.wait(timeout=60) == 0
    restarted = TelemetryStore(StoreOptions(data_dir=tmp_path))
    restarted.open()
    try:
        assert restarted.query("SELECT count() FROM fullcycle.logs") == [(1000,)]
    finally:
        restarted.close()


@pytest.mark.parametrize("kind", ["arrow", "protobuf", "mixed"])
def test_a_batch_remembered_as_inserted_but_not_stored_is_inserted_again(
    tmp_path: Path, kind: str
) -> None:
    """ClickHouse's deduplication log says the batch arrived, the table does not hold it (a
    crash inside ClickHouse's insert): recovery counts the batch's rows and inserts them."""
    program = _run_program("remembered_but_not_stored.py", str(tmp_path), "1000", kind)
    assert program.wait(timeout=60) == 0
    restarted = TelemetryStore(StoreOptions(data_dir=tmp_path))
    restarted.open()
    try:
        assert restarted.query("SELECT count(), uniqExact(body) FROM fullcycle.logs") == [
            (1000, 1000)
        ]
        # The rollup got the rows too; its one extra line is the decoy, which a lightweight
        # delete of the table's row does not take out of the rollup.
        assert restarted.query("SELECT sum(lines) FROM fullcycle.logs_1m") == [(1001,)]
    finally:
        restarted.close()


@pytest.mark.parametrize("round_number", range(3))
def test_kill_9_at_a_random_moment_loses_nothing_acknowledged(
    tmp_path: Path, round_number: int
) -> None:
    program = _run_program("append_until_killed.py", str(tmp_path))
    assert program.stdout is not None
    assert program.stdout.readline().strip() == "ready"
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(program.stdout or []), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while len(lines) <= 10 and time.monotonic() < deadline:  # it has written for a while
        time.sleep(0.05)
    time.sleep(random.Random(round_number).uniform(0.0, 1.5))
    program.send_signal(signal.SIGKILL)
    program.wait(timeout=30)
    reader.join(timeout=30)
    acknowledged = {line.strip() for line in lines if line.strip()}
    assert len(acknowledged) > 10, "the program should have written for a while"

    restarted = TelemetryStore(StoreOptions(data_dir=tmp_path))
    restarted.open()
    try:
        stored = dict(
            restarted.query("SELECT attributes['batch'], count() FROM fullcycle.logs GROUP BY 1")
        )
    finally:
        restarted.close()
    missing = acknowledged - set(stored)
    assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"
    assert all(count == 200 for count in stored.values()), "a batch was stored twice or torn"


def test_a_second_store_on_the_same_data_dir_is_refused(store: TelemetryStore) -> None:
    second = TelemetryStore(StoreOptions(data_dir=store.options.data_dir))
    with pytest.raises(DataDirInUse, match="another fullcycle process is using the data dir"):
        second.open()
    asyncio.run(store.append([_logs(3)]))  # the first store is unharmed
    store.flush()
    assert store.query("SELECT count() FROM fullcycle.logs") == [(3,)]


def test_a_table_made_by_an_earlier_version_gains_the_new_columns(tmp_path: Path) -> None:
    earlier = TelemetryStore(StoreOptions(data_dir=tmp_path))
    earlier.open()
    for column in ("events", "links"):  # spans had neither before they were stored
        earlier.query(f"ALTER TABLE fullcycle.spans DROP COLUMN {column}")
    earlier.close()

    store = TelemetryStore(StoreOptions(data_dir=tmp_path))
    store.open()
    try:
        spans = SpanBatch()
        spans.add(
            trace_id="5b8efff798038103d269b633813fc60c",
            span_id="eee19b7ec3c1b174",
            name="POST /checkout",
            service="shop",
            start_ns=NOW_NS,
            duration_ns=1_000,
            events=[{"timestamp": NOW_NS + 10, "name": "retry", "attributes": {"n": "2"}}],
        )
        asyncio.run(store.append([spans]))
        store.flush()
        [(events, links)] = store.query("SELECT events, links FROM fullcycle.spans")
    finally:
        store.close()
    assert [(event["name"], event["attributes"]) for event in events] == [("retry", {"n": "2"})]
    assert links == []


def test_an_index_changed_by_a_newer_version_is_rebuilt(tmp_path: Path) -> None:
    earlier = TelemetryStore(StoreOptions(data_dir=tmp_path))
    earlier.open()
    earlier.query("ALTER TABLE fullcycle.logs DROP INDEX body_text")
    earlier.query(
        "ALTER TABLE fullcycle.logs ADD INDEX body_text body"
        " TYPE text(tokenizer = splitByNonAlpha) GRANULARITY 1"
    )
    asyncio.run(earlier.append([_logs(5, tag="Timeout")]))
    earlier.close()

    store = TelemetryStore(StoreOptions(data_dir=tmp_path))
    store.open()
    try:
        indexes = store.query(
            "SELECT expr FROM system.data_skipping_indices"
            " WHERE database = 'fullcycle' AND table = 'logs' AND name = 'body_text'"
        )
        found = store.query(
            "SELECT count() FROM fullcycle.logs WHERE hasToken(lower(body), 'timeout')"
        )
    finally:
        store.close()
    assert indexes == [("lower(body)",)]
    assert found == [(5,)]

"""Moving acknowledged records from the write-ahead log into ClickHouse, in large batches.

The flusher reads from the checkpoint up to what the writer has made durable, groups the rows
by table, inserts each table's rows in one insert (many small parts are what ruins a MergeTree),
and then advances the checkpoint and deletes segments it no longer needs.

Exactly-once into the store: before inserting, the range about to be inserted is written into
the checkpoint as `pending_end`; every insert carries a deduplication token derived from that
range and the table. After a crash the same range is inserted again with the same tokens and
ClickHouse drops the blocks it already has, in the tables and in the rollups their
materialized views feed (`deduplicate_blocks_in_dependent_materialized_views`; without it a
view would count the repeated block again).

Deduplication alone is not enough: a plain MergeTree records a block in its deduplication log
just before it renames the block's part into place, so a process killed between the two leaves
a block that is remembered but not stored, and the re-insert would be dropped. Every row
therefore carries its batch's number (`wal_batch`), and recovery counts each table's rows of
the batch after re-inserting: a table that holds fewer than the log has gets them again
without deduplication (its partial rows deleted first).

The same holds within a process: a flush that failed part of the way (one table's insert
went in, another's did not) leaves its range pending, and the next flush finishes that range
before reading further.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa

from fullcycle.telemetry.connection import DATABASE, ClickHouse
from fullcycle.telemetry.payloads import PROTOBUF_LOGS, decode_parts
from fullcycle.telemetry.protobuf_logs import ProtobufLogsInserter, python_rows, record_rows
from fullcycle.telemetry.tables import LOGS, WAL_BATCH
from fullcycle.telemetry.wal import (
    Checkpoint,
    Position,
    read_checkpoint,
    read_records,
    remove_segments_before,
    write_checkpoint,
)

log = logging.getLogger("fullcycle.telemetry.flusher")


DEDUPLICATED = {
    "insert_deduplicate": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
}
NOT_DEDUPLICATED = {"insert_deduplicate": 0}
# How often a waiting flusher looks at the backlog (to insert as soon as a batch is full).
_BACKLOG_CHECK_SECONDS = 0.1


@dataclass(frozen=True)
class FlushBatch:
    """A range of the log and what it holds: Arrow tables by table name, and OTLP logs
    requests kept as protobuf (telemetry/protobuf_logs.py), rows of the logs table."""

    start: Position
    end: Position
    tables: dict[str, list[pa.Table]]
    protobuf_logs: list[memoryview] = field(default_factory=list)

    @property
    def table_names(self) -> list[str]:
        return sorted(set(self.tables) | ({LOGS.name} if self.protobuf_logs else set()))

    def rows(self, name: str) -> int:
        rows = sum(part.num_rows for part in self.tables.get(name, []))
        if name == LOGS.name:
            rows += sum(record_rows(record) for record in self.protobuf_logs)
        return rows

    @property
    def number(self) -> int:
        """The batch's `wal_batch` value, from where it starts in the log (segments are
        numbered from 1, so it is never 0, the value of rows stored before the column)."""
        return self.start.segment << 32 | self.start.offset


@dataclass(frozen=True)
class FlushPolicy:
    """When the flusher inserts, and how much at once.

    Every insert makes a part per table that ClickHouse merges with others later, rebuilding the
    logs' text indexes each time; under load, merging small parts costs more CPU than inserting
    them. So the flusher inserts every `interval_seconds` while little arrives, but once
    `busy_bytes` or more wait after that interval it keeps gathering, up to
    `busy_interval_seconds` in all or until `max_batch_bytes` wait: under load it makes fewer,
    larger parts, and rows are searchable within `busy_interval_seconds` (plus the insert).
    """

    interval_seconds: float
    busy_interval_seconds: float
    busy_bytes: int
    max_batch_bytes: int


class Flusher:
    """Inserts the log into the store in the background; calls `advanced` each time the
    checkpoint has moved on (the backlog shrank: backpressure.py lets held requests go)."""

    def __init__(
        self,
        directory: Path,
        clickhouse: ClickHouse,
        durable_position: Callable[[], Position],
        backlog_bytes: Callable[[], int],
        policy: FlushPolicy,
        cluster: str | None = None,
        advanced: Callable[[], None] = lambda: None,
    ) -> None:
        self.directory = directory
        self.clickhouse = clickhouse
        self.cluster = cluster
        self.durable_position = durable_position
        self.backlog_bytes = backlog_bytes
        self.policy = policy
        self.advanced = advanced
        self.checkpoint = read_checkpoint(directory)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.rows_flushed = 0
        self.protobuf_logs = ProtobufLogsInserter(clickhouse, directory / "protobuf-logs")

    def recover(self) -> int:
        """Finish the batch a previous process, or a flush that failed, was inserting; returns
        its rows."""
        pending_end = self.checkpoint.pending_end
        if pending_end is None:
            return 0
        log.info("re-inserting an interrupted batch", extra={"range": self._range_text()})
        start = self.checkpoint.flushed
        batch = replace(self._read(start, pending_end), end=pending_end)
        rows = self.insert(batch)
        self.insert_missing(batch)
        self.advance(pending_end)
        return rows

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wal-flusher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            self._wait_for_batch()
            try:
                with self._lock:
                    self._flush_one()
            except Exception:  # the store may be briefly unavailable: keep the log, retry later
                log.exception("flushing the write-ahead log into the store failed; will retry")

    def _wait_for_batch(self) -> None:
        """Return when the next insert is due by the policy, or when woken (by `wake`: the
        backlog is at its limit, or the store is closing)."""
        policy = self.policy
        started = time.monotonic()
        while True:
            waited = time.monotonic() - started
            backlog = self.backlog_bytes()
            if (
                backlog >= policy.max_batch_bytes
                or (waited >= policy.interval_seconds and backlog < policy.busy_bytes)
                or waited >= policy.busy_interval_seconds
            ):
                break
            if self._wake.wait(min(policy.interval_seconds, _BACKLOG_CHECK_SECONDS)):
                break
        self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def flush(self) -> int:
        """Insert everything durable that is not in the store yet; returns the rows inserted."""
        with self._lock:
            inserted = 0
            while (rows := self._flush_one()) is not None:
                inserted += rows
            return inserted

    def _flush_one(self) -> int | None:
        """Insert the next batch (what is durable, up to `max_batch_bytes`); returns its rows,
        or None when everything durable is in the store. A batch whose insert failed is
        finished first, with its own range and tokens: read again up to a later end, its tables
        that did get it would get it again under new tokens."""
        if self.checkpoint.pending_end is not None:
            return self.recover()
        batch = self.next_batch()
        if batch is None:
            return None
        rows = self.insert(batch)
        self.advance(batch.end)
        return rows

    def next_batch(self) -> FlushBatch | None:
        """Read the next batch to insert and record its range as pending in the checkpoint."""
        end = self.durable_position()
        start = self.checkpoint.flushed
        if end <= start:
            return None
        batch = self._read(start, end, self.policy.max_batch_bytes)
        self.checkpoint = Checkpoint(start, batch.end)
        write_checkpoint(self.directory, self.checkpoint)
        return batch

    def insert(self, batch: FlushBatch) -> int:
        """Insert the batch with deduplication tokens of its range (a repeat is dropped)."""
        rows = 0
        for name in batch.table_names:
            token = f"{name}@{batch.start}-{batch.end}"
            rows += self._insert_table(
                batch, name, {**DEDUPLICATED, "insert_deduplication_token": token}
            )
        self.rows_flushed += rows
        return rows

    def _insert_table(self, batch: FlushBatch, name: str, settings: dict[str, object]) -> int:
        """Insert the batch's rows of one table, in one insert; returns how many."""
        parts = batch.tables.get(name, [])
        if name == LOGS.name and batch.protobuf_logs:
            return self.protobuf_logs.insert(
                batch.protobuf_logs, parts, f"{DATABASE}.{name}", batch.number, settings
            )
        table = _numbered(pa.concat_tables(parts), batch.number)
        self.clickhouse.client().insert_arrow(f"{DATABASE}.{name}", table, settings=settings)
        return table.num_rows

    def insert_missing(self, batch: FlushBatch) -> None:
        """Insert again, without deduplication, each table's rows of the batch that the store
        does not hold (see the module's docstring)."""
        for name in batch.table_names:
            expected = batch.rows(name)
            stored = self._stored_rows(name, batch.number)
            if stored >= expected:
                continue
            log.warning(
                "the store lost rows of a batch it had deduplicated; inserting them again",
                extra={"table": name, "stored": stored, "expected": expected},
            )
            if stored:
                self._delete_rows(name, batch.number)
            self._insert_table(batch, name, dict(NOT_DEDUPLICATED))

    def _stored_rows(self, table: str, number: int) -> int:
        result = self.clickhouse.client().query(
            f"SELECT count() FROM {DATABASE}.{table} WHERE wal_batch = {{batch:UInt64}}",  # noqa: S608
            parameters={"batch": number},
        )
        return int(result.result_rows[0][0])

    def _delete_rows(self, table: str, number: int) -> None:
        target = (
            f"{DATABASE}.{table}_local ON CLUSTER '{self.cluster}'"
            if self.cluster
            else f"{DATABASE}.{table}"
        )
        self.clickhouse.client().command(
            f"DELETE FROM {target} WHERE wal_batch = {{batch:UInt64}}",  # noqa: S608
            parameters={"batch": number},
            settings={"mutations_sync": 2},
        )

    def _read(self, start: Position, end: Position, limit_bytes: int | None = None) -> FlushBatch:
        """The records from `start` until `end`, or (with `limit_bytes`) until about that many
        bytes are read (the batch ends where reading stopped). Protobuf logs records stay as
        they are for ClickHouse to decode, except for a ClickHouse server, which cannot read the
        flusher's file: they are decoded in Python here."""
        tables: dict[str, list[pa.Table]] = defaultdict(list)
        protobuf_logs: list[memoryview] = []
        size, reached = 0, start
        for position, payload in read_records(self.directory, start, end):
            for name, data in decode_parts(payload):
                if name == PROTOBUF_LOGS:
                    protobuf_logs.append(data)
                else:
                    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
                        tables[name].append(reader.read_all())
            size += len(payload)
            reached = position
            if limit_bytes is not None and size >= limit_bytes:
                break
        if protobuf_logs and not self.clickhouse.embedded:
            tables[LOGS.name] += [python_rows(record) for record in protobuf_logs]
            protobuf_logs = []
        if reached == start:  # durable position is in a later segment: skip the empty tail
            reached = end
        return FlushBatch(start, reached, tables, protobuf_logs)

    def advance(self, position: Position) -> None:
        """Everything before `position` is in the store: move the checkpoint, drop segments."""
        self.checkpoint = Checkpoint(position)
        write_checkpoint(self.directory, self.checkpoint)
        remove_segments_before(self.directory, position.segment)
        self.advanced()

    def _range_text(self) -> str:
        return f"{self.checkpoint.flushed}-{self.checkpoint.pending_end}"

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()


def _numbered(table: pa.Table, number: int) -> pa.Table:
    """`table` with the batch's number in every row's `wal_batch`."""
    column = pa.repeat(pa.scalar(number, WAL_BATCH.arrow_type), table.num_rows)
    return table.append_column(WAL_BATCH.name, column)

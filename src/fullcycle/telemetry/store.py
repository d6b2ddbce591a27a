"""The telemetry store: what the rest of fullcycle calls to write and read telemetry.

Writes (`append`) are acknowledged once they are in the fsynced write-ahead log; a background
flusher moves them into ClickHouse within about `flush_interval_seconds`, or under heavy load
`busy_flush_interval_seconds` (flusher.FlushPolicy). Reads (`query`) run
ClickHouse SQL with bound parameters against the same tables in either mode.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from starlette.concurrency import run_in_threadpool

from fullcycle.telemetry.backpressure import BacklogGate
from fullcycle.telemetry.batches import Batch
from fullcycle.telemetry.connection import DATABASE, ClickHouse
from fullcycle.telemetry.flusher import Flusher, FlushPolicy
from fullcycle.telemetry.group_commit import GroupCommitWriter, Overloaded
from fullcycle.telemetry.log_parts import LogParts
from fullcycle.telemetry.payloads import encode_batches
from fullcycle.telemetry.schema import Retention, ensure_schema
from fullcycle.telemetry.series_catalogue import SeriesCatalogue
from fullcycle.telemetry.tables import TABLES
from fullcycle.telemetry.wal import Position, SegmentWriter

log = logging.getLogger("fullcycle.telemetry")


@dataclass(frozen=True)
class TableStatistics:
    name: str
    rows: int
    bytes_on_disk: int
    retention_hours: int


@dataclass(frozen=True)
class StoreOptions:
    data_dir: Path
    clickhouse_url: str | None = None
    cluster: str | None = None
    retention: Retention = field(default_factory=Retention)
    durable: bool = True
    segment_bytes: int = 64 * 1024 * 1024
    flush_interval_seconds: float = 0.5
    busy_flush_interval_seconds: float = 2.0
    busy_flush_bytes: int = 4 * 1024 * 1024
    flush_batch_bytes: int = 64 * 1024 * 1024
    max_queued_bytes: int = 256 * 1024 * 1024
    max_backlog_bytes: int = 2 * 1024 * 1024 * 1024
    soft_backlog_bytes: int = 128 * 1024 * 1024
    max_hold_seconds: float = 5.0

    @property
    def longest_flush_wait_seconds(self) -> float:
        """The longest the flusher lets acknowledged rows wait before it inserts them."""
        return max(self.flush_interval_seconds, self.busy_flush_interval_seconds)


class DataDirInUse(RuntimeError):
    """Another process has this data dir's write-ahead log open."""


class TelemetryStore:
    def __init__(self, options: StoreOptions) -> None:
        self.options = options
        self.clickhouse = ClickHouse(options.clickhouse_url, options.data_dir / "telemetry")
        # Series look-ups' answers while the series stay the same (not over a cluster's shards).
        engine_path = options.data_dir / "telemetry" if self.clickhouse.embedded else None
        self.series_catalogue = SeriesCatalogue(
            self.clickhouse, enabled=options.cluster is None, engine_path=engine_path
        )
        # The logs' days for exact totals, kept while the embedded table's parts are the same.
        self.log_parts = LogParts(self.clickhouse, engine_path)
        self._wal_dir = options.data_dir / "wal"
        self._lock_file: IO[bytes] | None = None

    def _lock_wal(self) -> None:
        """One process per write-ahead log: a second one must not touch its segments."""
        self._wal_dir.mkdir(parents=True, exist_ok=True)
        handle = (self._wal_dir / "lock").open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            handle.close()
            raise DataDirInUse(
                f"another fullcycle process is using the data dir {self.options.data_dir}"
            ) from error
        self._lock_file = handle

    def open(self) -> None:
        """Lock the log, create or update the schema, finish an interrupted flush, start."""
        self._lock_wal()
        self._writer = GroupCommitWriter(
            SegmentWriter(self._wal_dir, self.options.segment_bytes),
            durable=self.options.durable,
            max_queued_bytes=self.options.max_queued_bytes,
        )
        self._gate = BacklogGate(
            lambda: self.backlog_bytes,
            lambda: self.flusher.wake(),
            soft_limit_bytes=self.options.soft_backlog_bytes,
            hard_limit_bytes=self.options.max_backlog_bytes,
            max_wait_seconds=self.options.max_hold_seconds,
        )
        self.flusher = Flusher(
            self._wal_dir,
            self.clickhouse,
            lambda: self._writer.durable_position,
            lambda: self.backlog_bytes,
            FlushPolicy(
                interval_seconds=self.options.flush_interval_seconds,
                busy_interval_seconds=self.options.longest_flush_wait_seconds,
                busy_bytes=self.options.busy_flush_bytes,
                max_batch_bytes=self.options.flush_batch_bytes,
            ),
            self.options.cluster,
            self._gate.backlog_shrank,
        )
        ensure_schema(self.clickhouse.client(), self.options.retention, self.options.cluster)
        self.flusher.recover()
        self.flusher.flush()
        self._writer.start()
        self.flusher.start()
        log.info("telemetry store open", extra={"engine": self.clickhouse.description})

    def close(self) -> None:
        """Stop taking writes, store everything acknowledged, release the engine."""
        self._gate.open()
        self._writer.stop()
        self.flusher.stop()
        self.clickhouse.close()
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file releases the lock
            self._lock_file = None

    @property
    def backlog_bytes(self) -> int:
        """Roughly how much acknowledged data waits in the log for the store."""
        durable, flushed = self._writer.durable_position, self.flusher.checkpoint.flushed
        segments = durable.segment - flushed.segment
        return segments * self.options.segment_bytes + durable.offset - flushed.offset

    async def append(self, batches: Sequence[Batch]) -> Position:
        """Make `batches` durable; returns once they survive a crash of this process.

        Raises Overloaded (for a 429/503 with Retry-After) when the log holds more than
        `max_backlog_bytes` that the store has not taken yet: memory and disk stay bounded.
        """
        payload = await run_in_threadpool(encode_batches, list(batches))
        return await self.append_encoded(payload)

    async def append_encoded(self, payload: bytes) -> Position:
        """`append` for batches already encoded with `payloads.encode_batches` (by an ingest
        worker process)."""
        self.check_capacity()
        return await self._writer.submit(payload)

    async def wait_for_room(self) -> None:
        """Wait, without using CPU, while more than `soft_backlog_bytes` of acknowledged data
        waits for the store (at most `max_hold_seconds`): the CPU goes to the store's inserts
        and the clients slow down to its pace (backpressure.py)."""
        await self._gate.wait_for_room()

    def ping(self) -> None:
        """Raises if the ClickHouse engine does not answer."""
        self.clickhouse.client().command("SELECT 1")

    def check_capacity(self) -> None:
        """Raise Overloaded (503) while the store is too far behind the log to take more."""
        if self.backlog_bytes > self.options.max_backlog_bytes:
            self.flusher.wake()
            raise Overloaded(
                "the telemetry store is behind; retry shortly", retry_after=5, status_code=503
            )

    def flush(self) -> int:
        """Insert all acknowledged rows into the store now (tests, shutdown, benchmarks)."""
        return self.flusher.flush()

    def table_statistics(self) -> list[TableStatistics]:
        """Rows, bytes on disk and retention of each telemetry table."""
        sizes = {
            name: (int(rows), int(size))
            for name, rows, size in self.query(
                "SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts"
                " WHERE database = {database:String} AND active GROUP BY table",
                {"database": DATABASE},
            )
        }
        return [
            TableStatistics(
                name=name,
                rows=sizes.get(name, (0, 0))[0],
                bytes_on_disk=sizes.get(name, (0, 0))[1],
                retention_hours=self.options.retention.hours(name),
            )
            for name in TABLES
        ]

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a ClickHouse SQL query; values only ever travel as bound `{name:Type}`
        parameters, never inside the SQL text."""
        result = self.clickhouse.client().query(sql, parameters=dict(parameters or {}))
        return [tuple(row) for row in result.result_rows]

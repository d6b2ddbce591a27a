"""A store made by an earlier version gains the indexes added to the logs table since."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fullcycle.logs import explorer
from fullcycle.logs.explorer import LogRequest
from fullcycle.logs.query import parse
from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.connection import DATABASE
from fullcycle.telemetry.log_queries import Window
from fullcycle.telemetry.store import StoreOptions, TelemetryStore

NOW = time.time_ns()
WINDOW = Window(NOW - 3600 * 1_000_000_000, NOW + 1_000_000_000)


def test_a_store_made_before_the_pair_index_gains_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    telemetry = TelemetryStore(StoreOptions(data_dir=data_dir, durable=False))
    telemetry.open()
    batch = LogBatch()
    batch.add(timestamp_ns=NOW, body="upstream: connection refused", service="s")
    asyncio.run(telemetry.append([batch]))
    telemetry.flush()
    telemetry.query(f"ALTER TABLE {DATABASE}.logs DROP INDEX body_pairs")
    telemetry.close()
    telemetry = TelemetryStore(StoreOptions(data_dir=data_dir, durable=False))
    telemetry.open()
    try:
        indexes = telemetry.query(
            "SELECT name FROM system.data_skipping_indices"
            f" WHERE database = '{DATABASE}' AND table = 'logs'"
        )
        assert ("body_pairs",) in indexes
        page = explorer.search(
            telemetry, LogRequest(parse('"connection refused"'), WINDOW), 10, None
        )
        assert [line.body for line in page.lines] == ["upstream: connection refused"]
    finally:
        telemetry.close()

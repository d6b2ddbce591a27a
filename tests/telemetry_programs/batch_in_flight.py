"""The moment both crash programs start from: `rows` log lines acknowledged, and the flusher's
next batch read from the log and marked pending in its checkpoint, not inserted yet."""

import asyncio
import time
from pathlib import Path

from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.flusher import FlushBatch
from fullcycle.telemetry.store import StoreOptions, TelemetryStore


def store_with_a_batch_in_flight(data_dir: Path, rows: int) -> tuple[TelemetryStore, FlushBatch]:
    store = TelemetryStore(StoreOptions(data_dir=data_dir, flush_interval_seconds=3600))
    store.open()
    batch = LogBatch()
    for row in range(rows):
        batch.add(timestamp_ns=time.time_ns(), body=f"row {row}", service="shop")
    asyncio.run(store.append([batch]))
    in_flight = store.flusher.next_batch()
    assert in_flight is not None
    return store, in_flight

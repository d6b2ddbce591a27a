"""Appends rows, then dies right after inserting a flush batch but before the checkpoint moves
on: the moment at which a restart must re-insert the batch without duplicating it."""

import asyncio
import os
import sys
import time
from pathlib import Path

from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.store import StoreOptions, TelemetryStore


def main(data_dir: Path, rows: int) -> None:
    store = TelemetryStore(StoreOptions(data_dir=data_dir, flush_interval_seconds=3600))
    store.open()
    batch = LogBatch()
    for row in range(rows):
        batch.add(timestamp_ns=time.time_ns(), body=f"row {row}", service="shop")
    asyncio.run(store.append([batch]))
    batch_in_flight = store.flusher.next_batch()
    assert batch_in_flight is not None
    store.flusher.insert(batch_in_flight)
    os._exit(0)  # die before the checkpoint says the batch is in the store


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))

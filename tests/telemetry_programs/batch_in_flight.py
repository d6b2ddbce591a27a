"""The moment both crash programs start from: `rows` log lines acknowledged, and the flusher's
next batch read from the log and marked pending in its checkpoint, not inserted yet.

`kind`: the lines as Arrow records ("arrow", what every version writes), as OTLP requests kept
as protobuf ("protobuf"), or half each ("mixed")."""

import asyncio
import time
from pathlib import Path

from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.flusher import FlushBatch
from fullcycle.telemetry.store import StoreOptions, TelemetryStore
from tests.telemetry_programs.protobuf_records import protobuf_record


def store_with_a_batch_in_flight(
    data_dir: Path, rows: int, kind: str = "arrow"
) -> tuple[TelemetryStore, FlushBatch]:
    store = TelemetryStore(StoreOptions(data_dir=data_dir, flush_interval_seconds=3600))
    store.open()
    bodies = [f"row {row}" for row in range(rows)]
    arrow = {"arrow": bodies, "protobuf": [], "mixed": bodies[: rows // 2]}[kind]
    protobuf = bodies[len(arrow) :]
    batch = LogBatch()
    for body in arrow:
        batch.add(timestamp_ns=time.time_ns(), body=body, service="shop")
    if arrow:
        asyncio.run(store.append([batch]))
    if protobuf:
        asyncio.run(store.append_encoded(protobuf_record(protobuf)))
    in_flight = store.flusher.next_batch()
    assert in_flight is not None
    return store, in_flight

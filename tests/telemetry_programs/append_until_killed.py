"""Appends log batches to a telemetry store forever, printing each acknowledged batch's id.
Writers 0 and 1 append OTLP requests kept as protobuf, 2 and 3 Arrow records.

Run by tests/test_telemetry_store.py, which kills it with SIGKILL at a random moment and then
checks that every id printed (= acknowledged) is in the store after a restart.
"""

import asyncio
import sys
import time
from pathlib import Path

from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.store import StoreOptions, TelemetryStore
from tests.telemetry_programs.protobuf_records import protobuf_record

ROWS_PER_BATCH = 200


async def append_forever(store: TelemetryStore, writer: int) -> None:
    number = 0
    while True:
        batch_id = f"w{writer}-b{number}"
        if writer < 2:
            bodies = [f"order accepted {batch_id} row {row}" for row in range(ROWS_PER_BATCH)]
            await store.append_encoded(protobuf_record(bodies, {"batch": batch_id}))
            print(batch_id, flush=True)
            number += 1
            continue
        batch = LogBatch()
        for row in range(ROWS_PER_BATCH):
            batch.add(
                timestamp_ns=time.time_ns(),
                body=f"order accepted {batch_id} row {row}",
                service="shop",
                attributes={"batch": batch_id, "row": str(row)},
            )
        await store.append([batch])
        print(batch_id, flush=True)
        number += 1


async def main(data_dir: Path) -> None:
    store = TelemetryStore(StoreOptions(data_dir=data_dir, flush_interval_seconds=0.05))
    store.open()
    print("ready", flush=True)
    await asyncio.gather(*(append_forever(store, writer) for writer in range(4)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))

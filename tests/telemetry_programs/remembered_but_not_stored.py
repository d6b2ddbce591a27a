"""Dies leaving the state a kill -9 leaves when it lands inside ClickHouse's insert, between
recording a block in the table's deduplication log and renaming its part into place: the
flush batch in flight is remembered as inserted, but none of its rows is in the table.

The state is made with ClickHouse's own operations: a one-row decoy block is inserted under
the batch's deduplication tokens (so the tokens are remembered), then the decoy row is deleted
(a lightweight delete keeps the deduplication log)."""

import os
import sys
import time
from pathlib import Path

from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.flusher import FlushBatch
from tests.telemetry_programs.batch_in_flight import store_with_a_batch_in_flight


def main(data_dir: Path, rows: int, kind: str) -> None:
    store, in_flight = store_with_a_batch_in_flight(data_dir, rows, kind)
    decoy = LogBatch()
    decoy.add(timestamp_ns=time.time_ns(), body="decoy", service="shop")
    store.flusher.insert(FlushBatch(in_flight.start, in_flight.end, {"logs": [decoy.to_arrow()]}))
    store.clickhouse.client().command(
        "DELETE FROM fullcycle.logs WHERE body = 'decoy'", settings={"mutations_sync": 2}
    )
    os._exit(0)  # die with the batch pending in the checkpoint


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "arrow")

"""Appends rows, then dies right after inserting a flush batch but before the checkpoint moves
on: the moment at which a restart must re-insert the batch without duplicating it."""

import os
import sys
from pathlib import Path

from tests.telemetry_programs.batch_in_flight import store_with_a_batch_in_flight


def main(data_dir: Path, rows: int, kind: str) -> None:
    store, in_flight = store_with_a_batch_in_flight(data_dir, rows, kind)
    store.flusher.insert(in_flight)
    os._exit(0)  # die before the checkpoint says the batch is in the store


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "arrow")

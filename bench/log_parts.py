"""What the size of the flusher's inserts costs ClickHouse, and what each index of the logs table
costs an insert: log records shaped like `bench/otlp_logs.py`'s (its request bodies, decoded by
fullcycle) inserted into a fresh embedded store.

    .venv/bin/python bench/log_parts.py                      # 1,000,000 rows per insert size
    .venv/bin/python bench/log_parts.py --rows 400000 --sizes 20000,100000

Part sizes: for each insert size, the same rows go into the logs table (with its rollup views) in
inserts of that many rows, in a fresh store each time, and the process's CPU (all threads:
ClickHouse's merges run inside it) is counted until ClickHouse has no merge running for 3 s
(or `--settle` seconds have passed). Index costs: with merges stopped, inserts of 20,000 rows into
copies of the logs table without one or all of its indexes (no rollup views on the copies).
The store is thrown away at the end.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
import benchlib
from otlp_logs import build_bodies

from fullcycle.ingest.otlp import decode_logs
from fullcycle.ingest.services import normalise_services
from fullcycle.telemetry.store import StoreOptions, TelemetryStore
from fullcycle.telemetry.tables import WAL_BATCH

INDEX_VARIANTS = (
    ("all indexes", ()),
    ("without body_pairs", ("body_pairs",)),
    ("without body_text", ("body_text",)),
    ("without any index", ("body_pairs", "body_text", "trace_id_bloom")),
)


def request_tables(token: str) -> list[pa.Table]:
    """The bench's 16 requests of 1,000 records, as the rows the flusher inserts."""
    tables = []
    for body in build_bodies(16, 1000, token):
        decoded = decode_logs(body, content_type="application/x-protobuf")
        normalise_services(decoded.batches, None)
        tables.append(decoded.batches[0].to_arrow())
    return tables


def rows_of(tables: list[pa.Table], first: int, count: int, number: int) -> pa.Table:
    """`count` rows from the requests, with the batch number the flusher would give them."""
    table = pa.concat_tables(
        [tables[(first + index) % len(tables)] for index in range(count // 1000)]
    )
    batch = pa.repeat(pa.scalar(number, WAL_BATCH.arrow_type), table.num_rows)
    return table.append_column(WAL_BATCH.name, batch)


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def open_store(directory: Path) -> TelemetryStore:
    store = TelemetryStore(StoreOptions(data_dir=directory, flush_interval_seconds=3600))
    store.open()
    return store


def merges_running(store: TelemetryStore) -> int:
    return int(store.query("SELECT count() FROM system.merges")[0][0])


def cost_of_part_size(
    root: Path, tables: list[pa.Table], rows: int, size: int, settle: float
) -> tuple[float, int]:
    """CPU microseconds per row of inserting `rows` in inserts of `size` rows and merging them,
    and the active parts left."""
    store = open_store(root / f"parts-{size}")
    try:
        client = store.clickhouse.client()
        started = process_cpu_seconds()
        for number in range(rows // size):
            table = rows_of(tables, number * size // 1000, size, number + 1)
            client.insert_arrow("fullcycle.logs", table, settings={"insert_deduplicate": 0})
        deadline = time.monotonic() + settle
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 3:
            time.sleep(0.5)
            if merges_running(store):
                quiet_since = time.monotonic()
        cpu = process_cpu_seconds() - started
        parts = store.query(
            "SELECT count() FROM system.parts"
            " WHERE database = 'fullcycle' AND table = 'logs' AND active"
        )[0][0]
        return 1e6 * cpu / rows, int(parts)
    finally:
        store.close()


def cost_of_indexes(root: Path, tables: list[pa.Table], rounds: int) -> dict[str, float]:
    """Median CPU microseconds per row of a 20,000-row insert into each variant of the table."""
    store = open_store(root / "indexes")
    try:
        client = store.clickhouse.client()
        for number, (_, dropped) in enumerate(INDEX_VARIANTS):
            client.command(f"CREATE TABLE fullcycle.variant_{number} AS fullcycle.logs")
            for index in dropped:
                client.command(f"ALTER TABLE fullcycle.variant_{number} DROP INDEX {index}")
        client.command("SYSTEM STOP MERGES")
        costs: dict[str, list[float]] = {name: [] for name, _ in INDEX_VARIANTS}
        for round_number in range(rounds):
            for number, (name, _) in enumerate(INDEX_VARIANTS):
                table = rows_of(tables, round_number * 20, 20_000, 1)
                started = process_cpu_seconds()
                client.insert_arrow(
                    f"fullcycle.variant_{number}", table, settings={"insert_deduplicate": 0}
                )
                costs[name].append(1e6 * (process_cpu_seconds() - started) / 20_000)
        return {name: sorted(values)[len(values) // 2] for name, values in costs.items()}
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per insert size")
    parser.add_argument("--sizes", default="20000,50000,100000,200000", help="rows per insert")
    parser.add_argument("--settle", type=float, default=60, help="longest wait for merges (s)")
    parser.add_argument("--rounds", type=int, default=5, help="inserts per index variant")
    args = parser.parse_args()
    print(f"machine: {benchlib.machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    tables = request_tables("fcbenchparts")
    with tempfile.TemporaryDirectory(prefix="fullcycle-bench-parts-") as directory:
        root = Path(directory)
        print(f"\nCPU per row of {args.rows:,} rows, inserted and merged, by insert size:")
        for size in (int(text) for text in args.sizes.split(",")):
            load = benchlib.load_average()
            per_row, parts = cost_of_part_size(root, tables, args.rows, size, args.settle)
            print(
                f"  {size:>9,} rows per insert: {per_row:6.2f} us/row "
                f"({parts} parts left; load average {load:.1f})"
            )
        load = benchlib.load_average()
        print(f"\nCPU per row of a 20,000-row insert, merges stopped (load average {load:.1f}):")
        for name, per_row in cost_of_indexes(root, tables, args.rounds).items():
            print(f"  {per_row:6.2f} us/row  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the rollups' materialized views cost at insert: batches of samples and of log lines of
the same size flushed into one embedded store, alternately with the views and with the views
dropped (in the same run and process), and the ratio of the medians.

    .venv/bin/python bench/rollup_insert.py                 # 5 rounds of 200,000 samples / lines
    .venv/bin/python bench/rollup_insert.py --rows 500000 --rounds 3
    .venv/bin/python bench/rollup_insert.py --view samples_5m_half_hours   # that view alone
                                                     # on and off, the others always on

The views are dropped at the end, so the store is thrown away (a temporary directory).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import machine

from fullcycle.telemetry.batches import Batch, LogBatch, SampleBatch
from fullcycle.telemetry.rollups import ROLLUPS, rollup_view_sql
from fullcycle.telemetry.store import StoreOptions, TelemetryStore

SERIES = 1000


def samples(rows: int, start_ms: int) -> SampleBatch:
    batch = SampleBatch()
    per_series = max(1, rows // SERIES)
    for series in range(SERIES):
        labels = {"job": "bench", "instance": f"i-{series}"}
        for index in range(per_series):
            batch.add(
                metric="requests_total",
                labels=labels,
                timestamp_ms=start_ms + index * 15_000,
                value=float(index * 3),
            )
    return batch


def lines(rows: int, start_ns: int, rng: random.Random) -> LogBatch:
    batch = LogBatch()
    for index in range(rows):
        service = f"svc-{rng.randrange(30)}"
        batch.add(
            timestamp_ns=start_ns + index * 8_640_000_000_000 // rows,
            body=f"GET /api/orders/{index} 200 {rng.randrange(900)}ms",
            service=service,
            host=f"{service}-{rng.randrange(4)}",
            severity_text="INFO",
            severity_number=9,
        )
    return batch


def flush_seconds(store: TelemetryStore, batch: Batch) -> float:
    asyncio.run(store.append([batch]))
    started = time.perf_counter()
    store.flush()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--view",
        choices=[rollup.table for rollup in ROLLUPS],
        help="turn only this rollup's view on and off (the others stay on)",
    )
    options = parser.parse_args()
    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="bench-rollup-insert-"))
    store = TelemetryStore(StoreOptions(data_dir=work, durable=False, flush_interval_seconds=3600))
    store.open()
    rng = random.Random(7)  # noqa: S311 - made-up log lines
    day_ms = (int(time.time()) // 86400 - 1) * 86400 * 1000
    timings: dict[tuple[str, bool], list[float]] = {}
    try:
        batches = [
            (samples(options.rows, day_ms + r * 3600_000), lines(options.rows, day_ms * 10**6, rng))
            for r in range(2 * options.rounds)
        ]
        client = store.clickhouse.client()
        for number, (sample_batch, log_batch) in enumerate(batches):
            views = number % 2 == 0
            toggled = [r for r in ROLLUPS if options.view in (None, r.table)]
            for rollup in toggled:
                if views:
                    client.command(rollup_view_sql(rollup, None))
                else:
                    client.command(f"DROP VIEW fullcycle.{rollup.view}")
            timings.setdefault(("samples", views), []).append(flush_seconds(store, sample_batch))
            timings.setdefault(("lines", views), []).append(flush_seconds(store, log_batch))
        for kind in ("samples", "lines"):
            with_views = statistics.median(timings[(kind, True)])
            without = statistics.median(timings[(kind, False)])
            print(
                f"{kind}: {options.rows:,} rows flushed in {with_views * 1000:.0f} ms with the"
                f" {options.view or 'rollup'} view(s), {without * 1000:.0f} ms without"
                f" (median of {options.rounds});"
                f" ratio {with_views / without:.2f}"
            )
    finally:
        store.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The expected band of a dashboard chart: learnt afresh, then refreshed as the dashboard does.

    .venv/bin/python bench/anomaly_band.py            # 14 days at 15 s, a 1-hour chart

A shop's revenue counter sampled every 15 s for 15 days until now is stored in a fresh
embedded store. Then the demo dashboard's revenue panel is asked for its band over the last
hour at 15-second steps (80,640 steps of 14-day history: `anomaly.band.band`, as the dashboard
and `/api/v1/anomaly/band` call it), `--runs` times in a row as an auto-refresh would: the
first request learns the history, each later one continues from the kept detectors
(`anomaly/band_memory.py`). The same request with a different `history` is a band of its own,
learnt afresh each time it is new: it is the baseline, asked with a new history each run. Each
line prints the median time and the ratio to the baseline. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fullcycle.anomaly.band import BandRequest, band
from fullcycle.anomaly.detector import MetricKind
from fullcycle.telemetry.batches import SampleBatch
from fullcycle.telemetry.store import StoreOptions, TelemetryStore

QUERY = "sum(increase(shop_revenue_eur_total[30s]))"
SCRAPE = timedelta(seconds=15)


def euros_per_scrape(moment: datetime) -> float:
    hour = moment.hour + moment.minute / 60
    return (5 + 62 * math.exp(-(((hour - 9.5) / 3.5) ** 2))) / 4


def store_revenue(store: TelemetryStore, start: datetime, end: datetime) -> int:
    rng = random.Random(7)  # noqa: S311 - test data
    total, moment, stored = 0.0, start, 0
    batch = SampleBatch()
    while moment <= end:
        total += euros_per_scrape(moment) * rng.uniform(0.6, 1.4)
        batch.add(
            metric="shop_revenue_eur_total",
            labels={"job": "shop", "instance": "shop-1"},
            timestamp_ms=int(moment.timestamp() * 1000),
            value=total,
            service="shop",
            type="counter",
        )
        moment += SCRAPE
        stored += 1
    asyncio.run(store.append([batch]))
    store.flush()
    return stored


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-band-") as directory:
        store = TelemetryStore(StoreOptions(data_dir=Path(directory)))
        store.open()
        try:
            end = datetime.now(UTC).replace(second=0, microsecond=0)
            samples = store_revenue(store, end - timedelta(days=15), end)
            print(f"stored {samples:,} samples (15 days at 15 s)")

            def request(history_minutes: int = 0) -> BandRequest:
                return BandRequest(
                    QUERY,
                    end - timedelta(hours=1),
                    end,
                    SCRAPE,
                    MetricKind.MONEY,
                    history=timedelta(days=14, minutes=history_minutes),
                )

            first = timed(lambda: band(store, request()))
            refreshed = [timed(lambda: band(store, request())) for _ in range(args.runs)]
            afresh = [timed(lambda n=n: band(store, request(n + 1))) for n in range(args.runs)]
            baseline = statistics.median(afresh)
            print(f"learnt afresh (baseline), median of {args.runs}: {baseline:8.1f} ms")
            print(f"first request of the band:          {first:8.1f} ms")
            kept = statistics.median(refreshed)
            print(
                f"refreshed, median of {args.runs}:            {kept:8.1f} ms"
                f" ({baseline / kept:.1f}x faster)"
            )
        finally:
            store.close()


if __name__ == "__main__":
    main()

"""A shop's revenue counter with a daily rhythm and an outage, as the anomaly tests ingest it."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from fullcycle.telemetry.batches import SampleBatch


def euros_per_minute(moment: datetime) -> float:
    """About 4,000 EUR from eight to nine, little at night."""
    hour = moment.hour + moment.minute / 60
    return 5 + 62 * math.exp(-(((hour - 9.5) / 3.5) ** 2))


def revenue_counter(
    start: datetime, end: datetime, outage: tuple[datetime, datetime], instance: str = "shop-1"
) -> SampleBatch:
    """`shop_revenue_eur_total` of `instance` sampled every minute; flat while the outage
    lasts."""
    rng = random.Random(7)
    batch = SampleBatch()
    total = 0.0
    moment = start
    while moment <= end:
        if not outage[0] <= moment < outage[1]:
            total += euros_per_minute(moment) * rng.uniform(0.8, 1.2)
        batch.add(
            metric="shop_revenue_eur_total",
            labels={"job": "shop", "instance": instance},
            timestamp_ms=int(moment.timestamp() * 1000),
            value=total,
            service="shop",
            type="counter",
        )
        moment += timedelta(minutes=1)
    return batch

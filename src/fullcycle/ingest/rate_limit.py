"""Per-token ingest rate limits: a token bucket of records per second for each caller.

A request is let through while the caller's bucket is not empty and takes its records from it,
going into debt if it is large (so a batch bigger than the burst still gets through once); while
the bucket is empty or in debt, requests are refused with 429 and a Retry-After that says when
it will have refilled. The exporters retry by themselves.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from fullcycle.telemetry.group_commit import Overloaded


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`records_per_second` per caller, with a burst of two seconds' worth; 0 turns it off."""

    def __init__(self, records_per_second: int) -> None:
        self.rate = records_per_second
        self.burst = 2 * records_per_second
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, caller: str, records: int) -> None:
        if self.rate <= 0 or records <= 0:
            return
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(caller, _Bucket(self.burst, now))
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens <= 0:
                wait = -bucket.tokens / self.rate
                raise Overloaded(
                    f"over this token's ingest limit of {self.rate} records/s",
                    retry_after=max(1, math.ceil(wait)),
                    status_code=429,
                )
            bucket.tokens -= records

"""Customers of the demo shop: checkouts (and some browsing) at the rhythm of rhythm.py.

Every request opens a new connection, as customers do, so that a release switch of the
`process` target's proxy (which routes per connection) reaches them at once. The generator
counts answers per release version and status, and connection errors: the scenario checks
that the shop answered throughout.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import httpx

from fullcycle.demo.rhythm import BROWSE_SHARE, checkouts_per_second, random_purchase

REQUEST_TIMEOUT_SECONDS = 5.0
CUSTOMERS = 8
"""Independent request loops, each an eighth of the rate: a slow answer (the faulty release
adds 0.2 s) delays one customer, not the whole rhythm."""
MAX_LAG_SECONDS = 1.0
"""A customer held up by slow answers skips the visits it missed rather than catching up in a
burst (which would draw a spike after every slow release)."""


class Traffic:
    def __init__(self, shop_url: str, speed: float, seed: int = 11) -> None:
        self.shop_url = shop_url
        self.speed = speed
        self.answers: Counter[tuple[str, int]] = Counter()
        self.connection_errors = 0
        self.started_at: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(seed + n,), name="demo-traffic", daemon=True)
            for n in range(CUSTOMERS)
        ]

    def start(self) -> None:
        self.started_at = time.time()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 1)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "answers": [
                    {"version": version, "status": status, "count": count}
                    for (version, status), count in sorted(self.answers.items())
                ],
                "connection_errors": self.connection_errors,
                "started_at": self.started_at,
            }

    def _run(self, seed: int) -> None:
        customer = random.Random(seed)  # noqa: S311 (made-up customers, not secrets)
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(
            timeout=REQUEST_TIMEOUT_SECONDS, limits=limits, trust_env=False
        ) as client:
            next_at = time.time()
            while not self._stop.is_set():
                rate = checkouts_per_second(next_at, self.speed) / (1 - BROWSE_SHARE) / CUSTOMERS
                next_at = max(next_at, time.time() - MAX_LAG_SECONDS) + customer.expovariate(rate)
                if self._stop.wait(max(0.0, next_at - time.time())):
                    return
                self._one_request(client, customer)

    def _one_request(self, client: httpx.Client, customer: random.Random) -> None:
        try:
            if customer.random() < BROWSE_SHARE:
                response = client.get(f"{self.shop_url}/products")
            else:
                purchase = random_purchase(customer)
                response = client.post(
                    f"{self.shop_url}/checkout",
                    json={"product": purchase.product, "quantity": purchase.quantity},
                )
        except httpx.HTTPError:
            with self._lock:
                self.connection_errors += 1
            return
        version = response.headers.get("x-shop-version", "?")
        with self._lock:
            self.answers[(version, response.status_code)] += 1

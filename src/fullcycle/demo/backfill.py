"""Weeks of shop history, sent through the real ingest endpoints before the live traffic
starts: the counters the shop exposes (revenue, purchases, requests) as Prometheus
remote_write, and the purchase log lines through the Loki push API. The anomaly detector then
has history to learn the daily and weekly rhythm from on its first evaluation.

The series have the labels that scraping the live shop gives (`job`, `instance`), so history
and live data are one series; the live process starts its counters at 0, which PromQL reads as
a counter reset.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cramjam
import numpy

from fullcycle.demo.api import DemoApi
from fullcycle.demo.rhythm import (
    BROWSE_SHARE,
    PRICES,
    PRODUCT_WEIGHTS,
    QUANTITY_WEIGHTS,
    checkouts_per_second,
    random_purchase,
)
from fullcycle.ingest.prometheus_proto import WriteRequest

SAMPLE_INTERVAL_SECONDS = 5
"""As often as the demo scrapes the live shop: increase() over half a minute sees six samples in
history as in live data, so the band learnt from history fits the live series."""
STEPS_PER_REQUEST = 5_000
LOG_LINES_PER_REQUEST = 10_000
PRODUCT_SHARES = [PRODUCT_WEIGHTS[product] for product in PRICES]
QUANTITIES = numpy.array(list(QUANTITY_WEIGHTS))
QUANTITY_SHARES = list(QUANTITY_WEIGHTS.values())
BROWSES_PER_CHECKOUT = BROWSE_SHARE / (1 - BROWSE_SHARE)
"""GET /products requests per checkout, for the requests panel: as many as the live customers
make."""


@dataclass
class Counters:
    """The shop's counters, as its /metrics would show them."""

    revenue: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PRICES, 0.0))
    purchases: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PRICES, 0.0))
    checkouts: float = 0.0
    browses: float = 0.0

    def series(self) -> Iterator[tuple[dict[str, str], float]]:
        for product in PRICES:
            yield (
                {"__name__": "shop_revenue_euros_total", "product": product},
                self.revenue[product],
            )
            yield {"__name__": "shop_purchases_total", "product": product}, self.purchases[product]
        yield (
            {"__name__": "shop_http_requests_total", "route": "/checkout", "status": "200"},
            self.checkouts,
        )
        yield (
            {"__name__": "shop_http_requests_total", "route": "/products", "status": "200"},
            self.browses,
        )


@dataclass(frozen=True)
class LogLine:
    timestamp_ns: int
    product: str
    text: str


class Backfill:
    """History from `start` to `end` (unix seconds) at the demo's speed."""

    def __init__(
        self,
        api: DemoApi,
        instance: str,
        speed: float,
        seed: int = 7,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.api = api
        self.instance = instance
        self.speed = speed
        self.random = random.Random(seed)  # noqa: S311 (made-up customers, not secrets)
        self.counts = numpy.random.default_rng(seed)
        self.progress = progress or (lambda done: None)

    def run(self, start: float, end: float, logs_from: float) -> int:
        """Send the history; the purchase log lines only from `logs_from` on (logs are bulkier
        than samples and are kept for less time). Returns the number of purchases."""
        counters = Counters()
        first = int(start) - int(start) % SAMPLE_INTERVAL_SECONDS
        steps = list(range(first, int(end), SAMPLE_INTERVAL_SECONDS))
        total = 0
        for offset in range(0, len(steps), STEPS_PER_REQUEST):
            chunk = steps[offset : offset + STEPS_PER_REQUEST]
            request = WriteRequest()
            series: dict[tuple[tuple[str, str], ...], object] = {}
            lines: list[LogLine] = []
            for moment in chunk:
                total += self._advance(counters, moment, lines if moment >= logs_from else None)
                for labels, value in counters.series():
                    key = tuple(sorted(labels.items()))
                    if key not in series:
                        added = request.timeseries.add()
                        for name, text in (*key, ("job", "shop"), ("instance", self.instance)):
                            added.labels.add(name=name, value=text)
                        series[key] = added
                    series[key].samples.add(timestamp=moment * 1000, value=value)  # type: ignore[attr-defined]
            self._write_samples(request)
            self._write_logs(lines)
            self.progress((offset + len(chunk)) / len(steps))
        return total

    def _advance(self, counters: Counters, moment: int, lines: list[LogLine] | None) -> int:
        expected = checkouts_per_second(moment, self.speed) * SAMPLE_INTERVAL_SECONDS
        count = int(self.counts.poisson(expected))
        if lines is None:
            self._count_purchases(counters, count)
        else:
            self._log_purchases(counters, moment, count, lines)
        counters.checkouts += count
        counters.browses += int(self.counts.poisson(expected * BROWSES_PER_CHECKOUT))
        return count

    def _count_purchases(self, counters: Counters, count: int) -> None:
        """Weeks of purchases without a Python step per purchase: how many of each product,
        and how many items of each, drawn as multinomials."""
        per_product = self.counts.multinomial(count, PRODUCT_SHARES)
        for product, bought in zip(PRICES, per_product, strict=True):
            if bought:
                items = int(self.counts.multinomial(bought, QUANTITY_SHARES) @ QUANTITIES)
                counters.purchases[product] += int(bought)
                counters.revenue[product] += PRICES[product] * items

    def _log_purchases(
        self, counters: Counters, moment: int, count: int, lines: list[LogLine]
    ) -> None:
        for index in range(count):
            purchase = random_purchase(self.random)
            counters.revenue[purchase.product] += purchase.amount
            counters.purchases[purchase.product] += 1
            at = moment + SAMPLE_INTERVAL_SECONDS * index / count
            text = (
                f"purchase of {purchase.quantity} {purchase.product} for {purchase.amount:.2f} EUR"
            )
            lines.append(LogLine(int(at * 1e9), purchase.product, text))

    def _write_samples(self, request: object) -> None:
        body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))  # type: ignore[attr-defined]
        self.api.call(
            "POST",
            "/api/v1/write",
            content=body,
            headers={"content-type": "application/x-protobuf", "content-encoding": "snappy"},
        )

    def _write_logs(self, lines: list[LogLine]) -> None:
        for offset in range(0, len(lines), LOG_LINES_PER_REQUEST):
            streams: dict[str, list[list[str]]] = {}
            for line in lines[offset : offset + LOG_LINES_PER_REQUEST]:
                streams.setdefault(line.product, []).append([str(line.timestamp_ns), line.text])
            body = {
                "streams": [
                    {
                        "stream": {
                            "service_name": "shop",
                            "level": "info",
                            "logger": "shop",
                            "product": product,
                        },
                        "values": values,
                    }
                    for product, values in streams.items()
                ]
            }
            self.api.post("/loki/api/v1/push", body)

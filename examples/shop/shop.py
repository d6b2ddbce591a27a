"""A small web shop, the sample service deployed by fullcycle's `process` target.

    PORT=8100 python shop.py

Routes: `GET /` (the version), `GET /products`, `POST /checkout` (a purchase: JSON
`{"product": "mug", "quantity": 2}`), `GET /healthz` (the process is up), `GET
/healthz/checkout` (a deep check: a synthetic checkout), `GET /metrics` (Prometheus).

Telemetry goes out with the OpenTelemetry SDK over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is
set (to a fullcycle server, with OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <ingest
token>"): a span per request, the counters and histograms below, and a log record per purchase.

A release is faulty when SHOP_FAULTY=1 or its version (SHOP_VERSION or FULLCYCLE_VERSION, set by
fullcycle's deploy) contains "faulty": checkouts fail and every response is slower.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

VERSION = os.environ.get("SHOP_VERSION") or os.environ.get("FULLCYCLE_VERSION") or "dev"
FAULTY = os.environ.get("SHOP_FAULTY", "") in ("1", "true") or "faulty" in VERSION
FAULTY_DELAY_SECONDS = float(os.environ.get("SHOP_FAULTY_DELAY_SECONDS", "0.2"))
PRICES = {"mug": 12.5, "shirt": 25.0, "sticker": 2.0, "hoodie": 49.0}

REQUESTS = Counter("shop_http_requests_total", "HTTP requests", ["route", "status"])
LATENCY = Histogram("shop_http_request_duration_seconds", "HTTP request duration", ["route"])
PURCHASES = Counter("shop_purchases_total", "Completed purchases", ["product"])
REVENUE = Counter("shop_revenue_euros_total", "Revenue of completed purchases", ["product"])
CHECKOUT_ERRORS = Counter("shop_checkout_errors_total", "Checkouts that failed")

log = logging.getLogger("shop")
log.setLevel(logging.INFO)  # purchases are INFO records, whatever the root logger's level


class Telemetry:
    """OpenTelemetry traces, metrics and logs over OTLP/HTTP, when an endpoint is configured."""

    def __init__(self) -> None:
        self.tracer: Any = None
        self.purchases: Any = None
        self.amounts: Any = None
        self.enabled = bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
        if self.enabled:
            self._start()

    def _start(self) -> None:
        from opentelemetry import metrics, trace
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "shop"),
                                    "service.version": VERSION})
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(tracer_provider)
        interval = int(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "5000"))
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(), export_interval_millis=interval
        )
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
        set_logger_provider(logger_provider)
        logging.getLogger().addHandler(LoggingHandler(logger_provider=logger_provider))
        self.tracer = trace.get_tracer("shop")
        meter = metrics.get_meter("shop")
        # Not "shop.purchases": that would arrive as shop_purchases_total, the name of the
        # scraped counter, and a dashboard's sum over both would count every purchase twice.
        self.purchases = meter.create_counter("shop.orders", description="Orders")
        self.amounts = meter.create_histogram("shop.purchase.amount", unit="EUR",
                                              description="Amount of each purchase")


telemetry = Telemetry()


class Instrumentation(BaseHTTPMiddleware):
    """Prometheus counters and histograms per route, a span per request, the faulty delay."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        route = request.url.path
        started = time.perf_counter()
        if FAULTY and route not in ("/healthz", "/metrics"):
            await asyncio.sleep(FAULTY_DELAY_SECONDS)
        if telemetry.tracer is not None:
            with telemetry.tracer.start_as_current_span(f"{request.method} {route}") as span:
                response = await call_next(request)
                span.set_attribute("http.response.status_code", response.status_code)
        else:
            response = await call_next(request)
        REQUESTS.labels(route, str(response.status_code)).inc()
        LATENCY.labels(route).observe(time.perf_counter() - started)
        response.headers["X-Shop-Version"] = VERSION
        return response


async def home(request: Request) -> Response:
    return JSONResponse(
        {"service": "shop", "version": VERSION, "faulty": FAULTY, "pid": os.getpid()}
    )


async def products(request: Request) -> Response:
    return JSONResponse([{"product": name, "price": price} for name, price in PRICES.items()])


def purchase(product: str, quantity: int) -> float:
    """The amount of a purchase; raises RuntimeError in a faulty release."""
    if FAULTY:
        CHECKOUT_ERRORS.inc()
        raise RuntimeError("payment backend timeout (faulty release)")
    amount = PRICES[product] * quantity
    PURCHASES.labels(product).inc()
    REVENUE.labels(product).inc(amount)
    if telemetry.purchases is not None:
        telemetry.purchases.add(1, {"product": product})
        telemetry.amounts.record(amount, {"product": product})
    log.info("purchase of %d %s for %.2f EUR", quantity, product, amount,
             extra={"product": product, "amount": amount})
    return amount


async def checkout(request: Request) -> Response:
    try:
        body = await request.json()
        product, quantity = str(body["product"]), int(body.get("quantity", 1))
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"detail": 'send {"product": NAME, "quantity": N}'}, 422)
    if product not in PRICES or not 1 <= quantity <= 100:
        return JSONResponse({"detail": f"unknown product {product!r} or bad quantity"}, 422)
    try:
        amount = purchase(product, quantity)
    except RuntimeError as error:
        log.error("checkout failed: %s", error, extra={"product": product})
        return JSONResponse({"detail": str(error)}, 500)
    return JSONResponse({"product": product, "quantity": quantity, "amount": amount})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": VERSION})


async def checkout_health(request: Request) -> Response:
    """A synthetic checkout, not counted as a purchase."""
    if FAULTY:
        return JSONResponse({"status": "failing", "check": "checkout", "version": VERSION}, 503)
    return JSONResponse({"status": "ok", "check": "checkout", "version": VERSION})


async def prometheus(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


app = Starlette(
    routes=[
        Route("/", home),
        Route("/products", products),
        Route("/checkout", checkout, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/healthz/checkout", checkout_health),
        Route("/metrics", prometheus),
    ],
    middleware=[Middleware(Instrumentation)],
)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    port = int(os.environ.get("PORT", "8100"))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning",
                timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()

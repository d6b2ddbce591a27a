"""The real OpenTelemetry Python SDK, with its OTLP/HTTP exporters pointed at fullcycle, sends
logs, metrics (counters and histograms) and traces that land in the store field by field."""

from __future__ import annotations

import logging
import math

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.conftest import ADMIN_TOKEN, LiveServer

RESOURCE = Resource.create(
    {
        "service.name": "checkout",
        "service.instance.id": "checkout-7f9c",
        "deployment.environment.name": "production",
        "host.name": "web-3",
    }
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _headers(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_sdk_logs_with_trace_context_are_stored(live_server: LiveServer) -> None:
    tracer_provider = TracerProvider(resource=RESOURCE)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(f"{live_server.url}/v1/traces", headers=_headers()))
    )
    logger_provider = LoggerProvider(resource=RESOURCE)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(f"{live_server.url}/v1/logs", headers=_headers()))
    )
    logger = logging.getLogger("checkout.payments")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=logger_provider))
    logger.setLevel(logging.INFO)
    tracer = tracer_provider.get_tracer("checkout")
    with tracer.start_as_current_span("POST /checkout") as span:
        logger.error("payment declined for order %s", "A-1001", extra={"order_id": "A-1001"})
        trace_id = format(span.get_span_context().trace_id, "032x")
    logger_provider.shutdown()
    tracer_provider.shutdown()

    rows = live_server.stored(
        "SELECT service, environment, host, severity_text, severity_number, body, trace_id,"
        " attributes['order_id'], scope FROM fullcycle.logs"
    )
    assert rows == [
        (
            "checkout",
            "production",
            "web-3",
            "ERROR",
            17,
            "payment declined for order A-1001",
            trace_id,
            "A-1001",
            "checkout.payments",
        )
    ]
    spans = live_server.stored("SELECT name, kind, service, trace_id FROM fullcycle.spans")
    assert spans == [("POST /checkout", "internal", "checkout", trace_id)]


def test_sdk_span_events_and_links_are_stored(live_server: LiveServer) -> None:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(f"{live_server.url}/v1/traces", headers=_headers()))
    )
    tracer = provider.get_tracer("checkout")
    with tracer.start_as_current_span("enqueue order") as producer:
        producer_context = producer.get_span_context()
    link = trace.Link(producer_context, {"messaging.operation": "receive"})
    with tracer.start_as_current_span("process order", links=[link]) as consumer:
        consumer.add_event("payment.retried", {"attempt": 2})
    provider.shutdown()

    [(events, links)] = live_server.stored(
        "SELECT events, links FROM fullcycle.spans WHERE name = 'process order'"
    )
    [event] = events
    assert (event["name"], event["attributes"]) == ("payment.retried", {"attempt": "2"})
    assert links == [
        {
            "trace_id": format(producer_context.trace_id, "032x"),
            "span_id": format(producer_context.span_id, "016x"),
            "attributes": {"messaging.operation": "receive"},
        }
    ]


def test_sdk_counters_and_histograms_become_prometheus_series(live_server: LiveServer) -> None:
    exporter = OTLPMetricExporter(f"{live_server.url}/v1/metrics", headers=_headers())
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("checkout")
    orders = meter.create_counter("orders.placed", unit="1")
    latency = meter.create_histogram(
        "http.server.request.duration",
        unit="s",
        explicit_bucket_boundaries_advisory=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
    )
    orders.add(3, {"payment.method": "card"})
    for seconds in (0.003, 0.02, 0.02, 0.7):
        latency.record(seconds, {"http.route": "/checkout"})
    provider.shutdown()

    counter = live_server.stored(
        "SELECT value, labels['payment_method'], labels['job'], labels['instance'], type"
        " FROM fullcycle.samples WHERE metric = 'orders_placed_total'"
    )
    assert counter == [(3.0, "card", "checkout", "checkout-7f9c", "counter")]
    buckets = dict(
        live_server.stored(
            "SELECT labels['le'], value FROM fullcycle.samples"
            " WHERE metric = 'http_server_request_duration_seconds_bucket'"
        )
    )
    assert buckets["+Inf"] == 4.0
    assert buckets["0.005"] == 1.0
    assert buckets["0.025"] == 3.0
    total = live_server.stored(
        "SELECT value FROM fullcycle.samples"
        " WHERE metric = 'http_server_request_duration_seconds_count'"
    )
    assert total == [(4.0,)]


def test_sdk_exponential_histogram_becomes_cumulative_buckets(live_server: LiveServer) -> None:
    exporter = OTLPMetricExporter(
        f"{live_server.url}/v1/metrics",
        headers=_headers(),
        preferred_aggregation={Histogram: ExponentialBucketHistogramAggregation()},
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    payload = provider.get_meter("checkout").create_histogram("payload.size", unit="By")
    for size in (100, 100, 1_000, 10_000):
        payload.record(size)
    provider.shutdown()

    buckets = live_server.stored(
        "SELECT toFloat64(labels['le']) AS le, value FROM fullcycle.samples"
        " WHERE metric = 'payload_size_bytes_bucket' ORDER BY le"
    )
    counts = [count for _, count in buckets]
    assert counts == sorted(counts), "cumulative counts never decrease"
    assert buckets[-1] == (math.inf, 4.0), "the +Inf bucket holds every observation"
    # With buckets 2^(1/8) apart, each observation lies in the first bucket whose bound is >= it.
    first_at_least = {
        size: next(c for le, c in buckets if le >= size) for size in (100, 1_000, 10_000)
    }
    assert first_at_least == {100: 2.0, 1_000: 3.0, 10_000: 4.0}
    assert all(le < 10_000 * 2 ** (1 / 8) for le, _ in buckets[:-2])


def test_unknown_service_is_registered_unowned(live_server: LiveServer) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "Fraud Check"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(f"{live_server.url}/v1/traces", headers=_headers()))
    )
    with provider.get_tracer("fraud").start_as_current_span("score"):
        pass
    provider.shutdown()
    service = httpx.get(f"{live_server.url}/api/v1/services/fraud-check", headers=_headers()).json()
    assert service["unowned"] is True
    assert live_server.stored("SELECT DISTINCT service FROM fullcycle.spans") == [("fraud-check",)]

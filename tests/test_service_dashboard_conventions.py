"""The automatic service dashboard shows, per panel, the first naming convention with data, and
does not query the conventions whose metrics the service has no series of."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest

from fullcycle.metrics import service_dashboard as dashboard
from fullcycle.metrics.panel_data import ChartPanel, TimeRange, timeseries
from fullcycle.telemetry import sample_queries
from fullcycle.telemetry.batches import SampleBatch
from fullcycle.telemetry.store import StoreOptions, TelemetryStore

END = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()) // 60 * 60, UTC)
WINDOW = TimeRange.ending(END, timedelta(hours=1))
BUCKETS = ("0.1", "0.5", "+Inf")


def _prometheus_service(batch: SampleBatch, job: str, at_ms: int, scrape: int) -> None:
    """What a Prometheus client library exposes, scraped with `job`."""
    labels = {"job": job, "instance": f"{job}-1:8080"}
    for code, per_scrape in (("200", 40), ("500", 2)):
        batch.add(
            metric="http_requests_total",
            labels={**labels, "code": code},
            timestamp_ms=at_ms,
            value=float(per_scrape * scrape),
        )
    for bound, share in zip(BUCKETS, (0.5, 0.9, 1.0), strict=True):
        batch.add(
            metric="http_request_duration_seconds_bucket",
            labels={**labels, "le": bound},
            timestamp_ms=at_ms,
            value=float(int(42 * share) * scrape),
        )
    batch.add(
        metric="process_cpu_seconds_total", labels=labels, timestamp_ms=at_ms, value=0.3 * scrape
    )
    batch.add(metric="process_resident_memory_bytes", labels=labels, timestamp_ms=at_ms, value=2e8)
    batch.add(metric="up", labels=labels, timestamp_ms=at_ms, value=1.0)


def _otel_service(batch: SampleBatch, job: str, at_ms: int, scrape: int) -> None:
    """OTel's HTTP server duration histogram, as OTLP ingest stores it."""
    labels = {"job": job, "http_response_status_code": "200"}
    for bound, share in zip(BUCKETS, (0.6, 0.9, 1.0), strict=True):
        batch.add(
            metric="http_server_request_duration_seconds_bucket",
            labels={**labels, "le": bound},
            timestamp_ms=at_ms,
            value=float(int(30 * share) * scrape),
        )
    batch.add(
        metric="http_server_request_duration_seconds_count",
        labels=labels,
        timestamp_ms=at_ms,
        value=float(30 * scrape),
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(StoreOptions(data_dir=tmp_path_factory.mktemp("conventions")))
    opened.open()
    batch = SampleBatch()
    end_ms = int(END.timestamp() * 1000)
    for scrape, at_ms in enumerate(range(end_ms - 70 * 60_000, end_ms + 1, 15_000)):
        _prometheus_service(batch, "shop", at_ms, scrape)
        _otel_service(batch, "checkout", at_ms, scrape)
    asyncio.run(opened.append([batch]))
    opened.flush()
    yield opened
    opened.close()


def _first_with_data(store: TelemetryStore, panel: dashboard.Panel) -> ChartPanel | None:
    """The panel as its definition says: the first alternative whose queries have data, every
    alternative queried in turn, each query alone."""
    for alternative in panel.alternatives:
        chart = ChartPanel(panel.title, panel.unit, [query.expr for query in alternative])
        for query in alternative:
            chart.series.extend(timeseries(store, [(query.expr, query.legend)], WINDOW))
        if chart.series:
            return chart
    return None


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The bound parameters of the sample reads made from now on (each still made by the
    store)."""
    made: list[dict] = []
    read = sample_queries._columns

    def counted(store: TelemetryStore, sql: str, parameters: dict) -> dict:
        made.append(parameters)
        return read(store, sql, parameters)

    monkeypatch.setattr(sample_queries, "_columns", counted)
    return made


@pytest.mark.parametrize("service", ["shop", "checkout"])
def test_each_panel_is_its_first_convention_with_data(service: str, store: TelemetryStore) -> None:
    expected = [_first_with_data(store, panel) for panel in dashboard.service_panels(service)]
    shown = dashboard.service_dashboard(store, service, WINDOW)["panels"]
    assert shown == [asdict(chart) for chart in expected if chart is not None]
    assert shown, "no panel: the data proves nothing"


def test_the_prometheus_service_shows_its_metrics(store: TelemetryStore) -> None:
    shown = dashboard.service_dashboard(store, "shop", WINDOW)["panels"]
    titles = [panel["title"] for panel in shown]
    assert titles == [
        "Requests per second",
        "Error ratio",
        "Latency",
        "CPU",
        "Memory",
        "Instances up",
    ]
    requests = next(panel for panel in shown if panel["title"] == "Requests per second")
    assert requests["queries"] == ['sum(rate(http_requests_total{job="shop"}[5m]))']


def test_conventions_the_service_has_no_metrics_of_are_not_queried(
    store: TelemetryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OTel metrics exist (for another service): the shop's dashboard still reads only its
    Prometheus metrics, one read per distinct selector of the panels it shows."""
    reads = _reads(monkeypatch)
    dashboard.service_dashboard(store, "shop", WINDOW)
    # requests 1, error ratio 1 (both operands from one read), latency 1 (p50, p95 and p99
    # share their bucket rates), CPU 1, memory 1, up 1
    assert len(reads) == 6
    metrics = {value for read in reads for value in read.values() if isinstance(value, str)}
    assert "http_requests_total" in metrics
    assert not [name for name in metrics if name.startswith("http_server")]

"""Scraping Prometheus endpoints: a real HTTP server exposing real prometheus_client metrics,
the real telemetry store and the real control-plane database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client import generate_latest as text_exposition
from prometheus_client.exposition import choose_encoder
from sqlalchemy import select, update

from fullcycle.catalog.models import ScrapeTarget
from fullcycle.catalog.schemas import ServiceIn
from fullcycle.catalog.scrape_targets import ScrapeTargetIn, create_target
from fullcycle.catalog.service import create_service, get_service
from fullcycle.ingest.exposition import parse_exposition
from fullcycle.ingest.scraper import (
    ACCEPT,
    Scraper,
    default_instance_id,
    instance_label,
    merge_labels,
    next_due,
)
from fullcycle.store import migrate
from fullcycle.store.database import Database
from fullcycle.telemetry.store import StoreOptions, TelemetryStore

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# --- a real metrics endpoint ------------------------------------------------------------------


def shop_registry() -> CollectorRegistry:
    """Every metric type, with labels, one clashing with a target label (`job`)."""
    registry = CollectorRegistry()
    requests = Counter("http_requests", "Requests served", ["method", "code"], registry=registry)
    requests.labels("get", "200").inc(3)
    requests.labels("post", "500").inc()
    Gauge("temperature", "Room temperature", unit="celsius", registry=registry).set(21.5)
    queue = Gauge("queue_depth", "Jobs waiting", ["job", "queue"], registry=registry)
    queue.labels("mailer", "high").set(7)
    latency = Histogram(
        "request_latency_seconds",
        "Latency",
        ["path"],
        buckets=[0.1, 0.5, 1.0],
        registry=registry,
    )
    for seconds in (0.05, 0.3, 0.3, 2.0):
        latency.labels("/orders").observe(seconds)
    payload = Summary("payload_bytes", "Payload size", registry=registry)
    payload.observe(100)
    payload.observe(300)
    return registry


Route = Callable[[dict[str, str]], tuple[int, str, bytes]]


@dataclass
class MetricsServer:
    """A threaded HTTP server on 127.0.0.1 whose paths answer what the test wants."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def instance(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"

    def hits(self, path: str) -> int:
        return sum(1 for requested, _ in self.requests if requested == path)

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {key.lower(): value for key, value in self.headers.items()}
                owner.requests.append((self.path, headers))
                route = owner.routes.get(self.path)
                if route is None:
                    status, content_type, body = 404, "text/plain", b"not found\n"
                else:
                    status, content_type, body = route(headers)
                # The scraper may have given up (timeout) and closed the connection.
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def text_only(registry: CollectorRegistry) -> Route:
    """The classic text format whatever the client accepts (an old exporter)."""
    return lambda headers: (200, TEXT_TYPE, text_exposition(registry))


def negotiated(registry: CollectorRegistry) -> Route:
    """What prometheus_client's own handler answers: OpenMetrics when the client asks for it."""

    def route(headers: dict[str, str]) -> tuple[int, str, bytes]:
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        return 200, content_type, encoder(registry)

    return route


def fixed(status: int, body: str, content_type: str = TEXT_TYPE) -> Route:
    return lambda headers: (status, content_type, body.encode())


def slow(seconds: float) -> Route:
    def route(headers: dict[str, str]) -> tuple[int, str, bytes]:
        time.sleep(seconds)
        return 200, TEXT_TYPE, b"late 1\n"

    return route


@pytest.fixture
def metrics_server() -> Iterator[MetricsServer]:
    server = MetricsServer()
    server.start()
    yield server
    server.stop()


def refused_url() -> str:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/metrics"


# --- the store and the database ----------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TelemetryStore]:
    telemetry = TelemetryStore(StoreOptions(data_dir=tmp_path / "telemetry"))
    telemetry.open()
    yield telemetry
    telemetry.close()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    migrate.upgrade(database_url)
    db = Database(database_url)
    yield db
    db.dispose()


def add_service(database: Database, name: str) -> None:
    with database.session() as db:
        create_service(db, ServiceIn(name=name, owners=["group:shop"]))


def add_target(database: Database, service: str, url: str, **fields: Any) -> int:
    with database.session() as db:
        found = get_service(db, service)
        assert found is not None
        target = create_target(db, found, ScrapeTargetIn(url=url, **fields))
        return target.id


def target_row(database: Database, target_id: int) -> ScrapeTarget:
    with database.session() as db:
        row = db.get(ScrapeTarget, target_id)
        assert row is not None
        db.expunge(row)
        return row


def make_due(database: Database) -> None:
    with database.session() as db:
        db.execute(update(ScrapeTarget).values(next_scrape_at=datetime.now(UTC)))


Row = tuple[str, dict[str, str], float, str, str, int]


def stored(store: TelemetryStore, service: str, metric: str | None = None) -> list[Row]:
    store.flush()
    rows = store.query(
        "SELECT metric, labels, value, type, unit, toUnixTimestamp64Milli(timestamp)"
        " FROM fullcycle.samples WHERE service = {service:String}"
        " AND ({metric:String} = '' OR metric = {metric:String})"
        " ORDER BY metric, toString(labels), timestamp",
        {"service": service, "metric": metric or ""},
    )
    return [(r[0], dict(r[1]), float(r[2]), r[3], r[4], int(r[5])) for r in rows]


def by_series(rows: list[Row]) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(metric, frozenset(labels.items())): value for metric, labels, value, *_ in rows}


def scrape(scraper: Scraper) -> int:
    return asyncio.run(scraper.scrape_due_once())


# --- scraping ---------------------------------------------------------------------------------


def test_text_format_samples_are_stored_as_prometheus_stores_them(
    database: Database, store: TelemetryStore, metrics_server: MetricsServer
) -> None:
    metrics_server.routes["/metrics"] = text_only(shop_registry())
    add_service(database, "orders")
    target_id = add_target(
        database, "orders", f"{metrics_server.base}/metrics", labels={"env": "prod"}
    )
    before = int(time.time() * 1000)

    assert scrape(Scraper(database, store, "scraper-1")) == 1

    rows = stored(store, "orders")
    series = by_series(rows)
    job = {"job": "orders", "instance": metrics_server.instance, "env": "prod"}

    def key(metric: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
        return metric, frozenset((job | labels).items())

    assert series[key("http_requests_total", method="get", code="200")] == 3
    assert series[key("http_requests_total", method="post", code="500")] == 1
    assert series[key("temperature_celsius")] == 21.5
    # the exposed `job` clashes with the target's: it is kept as exported_job
    assert series[key("queue_depth", exported_job="mailer", queue="high")] == 7
    buckets = {
        labels["le"]: value
        for metric, labels, value, *_ in rows
        if metric == "request_latency_seconds_bucket"
    }
    assert buckets == {"0.1": 1, "0.5": 3, "1.0": 3, "+Inf": 4}
    assert series[key("request_latency_seconds_count", path="/orders")] == 4
    assert series[key("request_latency_seconds_sum", path="/orders")] == pytest.approx(2.65)
    assert series[key("payload_bytes_count")] == 2
    assert series[key("payload_bytes_sum")] == 400
    assert not [row for row in rows if row[0].endswith("_created")]
    types = {metric: kind for metric, _, _, kind, *_ in rows}
    assert types["http_requests_total"] == "counter"
    assert types["request_latency_seconds_bucket"] == "histogram"
    assert types["payload_bytes_sum"] == "summary"
    assert types["queue_depth"] == "gauge"
    assert series[key("up")] == 1
    assert series[key("scrape_samples_scraped")] == 12
    assert 0 < series[key("scrape_duration_seconds")] < 5
    timestamps = {timestamp for *_, timestamp in rows}
    assert len(timestamps) == 1  # the scrape's start time, for every sample
    assert before <= timestamps.pop() <= int(time.time() * 1000)

    target = target_row(database, target_id)
    assert target.last_error == ""
    assert target.last_samples == 12
    assert target.last_scrape_at is not None
    assert target.last_duration_ms is not None and target.last_duration_ms > 0
    assert target.leased_by == "" and target.lease_until is None
    ((_path, headers),) = metrics_server.requests
    assert headers["accept"] == ACCEPT
    assert headers["x-prometheus-scrape-timeout-seconds"] == "10"


def test_openmetrics_is_negotiated_and_keeps_units(
    database: Database, store: TelemetryStore, metrics_server: MetricsServer
) -> None:
    metrics_server.routes["/metrics"] = negotiated(shop_registry())
    add_service(database, "orders")
    add_target(database, "orders", f"{metrics_server.base}/metrics")

    assert scrape(Scraper(database, store, "scraper-1")) == 1

    rows = stored(store, "orders")
    series = by_series(rows)
    target = {"job": "orders", "instance": metrics_server.instance}
    assert (
        series[
            ("http_requests_total", frozenset((target | {"method": "get", "code": "200"}).items()))
        ]
        == 3
    )
    units = {metric: unit for metric, _, _, _, unit, _ in rows}
    assert units["temperature_celsius"] == "celsius"
    assert units["http_requests_total"] == ""
    assert not [row for row in rows if row[0].endswith("_created")]
    assert {labels["le"] for metric, labels, *_ in rows if metric.endswith("_bucket")} == {
        "0.1",
        "0.5",
        "1.0",
        "+Inf",
    }
    assert series[("up", frozenset(target.items()))] == 1
    assert series[("scrape_samples_scraped", frozenset(target.items()))] == 12


def test_exposed_timestamps_are_kept(
    database: Database, store: TelemetryStore, metrics_server: MetricsServer
) -> None:
    exposed_ms = int(time.time() * 1000) - 60_123
    metrics_server.routes["/metrics"] = fixed(
        200, f'batch_last_run{{job="nightly"}} 1 {exposed_ms}\nbatch_running 0\n'
    )
    add_service(database, "batch")
    add_target(database, "batch", f"{metrics_server.base}/metrics")

    scrape(Scraper(database, store, "scraper-1"))

    ((_metric, labels, _value, kind, _, timestamp),) = stored(store, "batch", "batch_last_run")
    assert timestamp == exposed_ms
    assert labels["exported_job"] == "nightly" and labels["job"] == "batch"
    assert kind == ""  # untyped
    ((*_, scraped_at),) = stored(store, "batch", "batch_running")
    assert scraped_at > exposed_ms + 60_000


def test_a_refused_connection_is_up_zero_with_the_error(
    database: Database, store: TelemetryStore
) -> None:
    add_service(database, "orders")
    url = refused_url()
    target_id = add_target(database, "orders", url)

    assert scrape(Scraper(database, store, "scraper-1")) == 1

    instance = url.removeprefix("http://").removesuffix("/metrics")
    labels = {"job": "orders", "instance": instance}
    rows = stored(store, "orders")
    assert [(metric, row_labels, value) for metric, row_labels, value, *_ in rows] == [
        ("scrape_duration_seconds", labels, rows[0][2]),
        ("scrape_samples_scraped", labels, 0.0),
        ("up", labels, 0.0),
    ]
    target = target_row(database, target_id)
    assert target.last_error.startswith(f"cannot connect to {instance}")
    assert target.last_samples == 0
    assert target.last_scrape_at is not None
    assert target.lease_until is None


def test_failures_are_recorded_and_do_not_stop_the_others(
    database: Database, store: TelemetryStore, metrics_server: MetricsServer
) -> None:
    metrics_server.routes |= {
        "/ok": text_only(shop_registry()),
        "/error": fixed(500, "boom"),
        "/garbage": fixed(200, "fine 1\nthis is { not metrics\n"),
        "/bad-openmetrics": fixed(200, "a 1\n", "application/openmetrics-text; version=1.0.0"),
        "/slow": slow(10),
    }
    add_service(database, "orders")
    ids = {
        path: add_target(
            database,
            "orders",
            f"{metrics_server.base}{path}",
            interval_seconds=5,
            timeout_seconds=1,
        )
        for path in metrics_server.routes
    }

    started = time.monotonic()
    assert scrape(Scraper(database, store, "scraper-1")) == 5
    assert time.monotonic() - started < 8  # the slow one was cut off at its 1 s timeout

    errors = {path: target_row(database, target_id).last_error for path, target_id in ids.items()}
    assert errors["/ok"] == ""
    assert errors["/error"] == "server returned HTTP status 500 Internal Server Error"
    assert errors["/garbage"].startswith("bad exposition: Prometheus text format: line 2:")
    assert "this is { not metrics" in errors["/garbage"]
    assert "# EOF" in errors["/bad-openmetrics"]
    assert errors["/slow"] == "timed out after 1 s"
    assert sorted(value for _, _, value, *_ in stored(store, "orders", "up")) == [0, 0, 0, 0, 1]


def race(scraper: Scraper, barrier: threading.Barrier, counts: list[int]) -> None:
    barrier.wait()
    counts.append(scrape(scraper))


def test_scrapers_sharing_one_database_scrape_each_due_target_once(
    database: Database, database_url: str, store: TelemetryStore, metrics_server: MetricsServer
) -> None:
    """Three processes' worth of scrapers (each with its own engine) race for the same targets,
    a few at a time."""
    add_service(database, "orders")
    paths = [f"/metrics/{number}" for number in range(12)]
    for path in paths:
        metrics_server.routes[path] = fixed(200, f'jobs_done{{worker="{path}"}} 1\n')
        add_target(database, "orders", f"{metrics_server.base}{path}")
    engines = [database, Database(database_url), Database(database_url)]
    scrapers = [
        Scraper(engine, store, f"process-{number}", max_in_flight=3)
        for number, engine in enumerate(engines)
    ]
    rounds = 3
    try:
        for round_number in range(rounds):
            if round_number:
                make_due(database)
            barrier = threading.Barrier(len(scrapers))
            counts: list[int] = []
            threads = [
                threading.Thread(target=race, args=(scraper, barrier, counts))
                for scraper in scrapers
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert sum(counts) == len(paths), counts
    finally:
        for engine in engines[1:]:
            engine.dispose()

    assert [metrics_server.hits(path) for path in paths] == [rounds] * len(paths)
    assert len(stored(store, "orders", "jobs_done")) == rounds * len(paths)
    assert len(stored(store, "orders", "up")) == rounds * len(paths)
    # nothing is due any more: a second pass scrapes nothing
    assert scrape(scrapers[0]) == 0


def test_a_live_lease_is_respected_and_an_expired_one_taken_over(
    database: Database, store: TelemetryStore, metrics_server: MetricsServer
) -> None:
    metrics_server.routes["/metrics"] = fixed(200, "x 1\n")
    add_service(database, "orders")
    target_id = add_target(database, "orders", f"{metrics_server.base}/metrics")
    now = datetime.now(UTC)
    with database.session() as db:
        db.execute(
            update(ScrapeTarget).values(leased_by="crashed", lease_until=now + timedelta(hours=1))
        )
    scraper = Scraper(database, store, "scraper-1")

    assert scrape(scraper) == 0

    with database.session() as db:
        db.execute(update(ScrapeTarget).values(lease_until=now - timedelta(seconds=1)))
    assert scrape(scraper) == 1
    target = target_row(database, target_id)
    assert target.leased_by == "" and target.last_error == ""


def test_the_schedule_does_not_drift_and_skips_missed_scrapes(
    database: Database, store: TelemetryStore, metrics_server: MetricsServer
) -> None:
    metrics_server.routes["/metrics"] = fixed(200, "x 1\n")
    add_service(database, "orders")
    on_time = add_target(database, "orders", f"{metrics_server.base}/a", interval_seconds=30)
    behind = add_target(database, "orders", f"{metrics_server.base}/b", interval_seconds=30)
    now = datetime.now(UTC).replace(microsecond=0)
    due = {on_time: now - timedelta(seconds=2), behind: now - timedelta(seconds=95)}
    with database.session() as db:
        for target_id, due_at in due.items():
            db.execute(
                update(ScrapeTarget)
                .where(ScrapeTarget.id == target_id)
                .values(next_scrape_at=due_at)
            )

    assert scrape(Scraper(database, store, "scraper-1")) == 2

    assert target_row(database, on_time).next_scrape_at == due[on_time] + timedelta(seconds=30)
    assert target_row(database, behind).next_scrape_at == due[behind] + timedelta(seconds=120)


def test_next_due_keeps_the_phase() -> None:
    due = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert next_due(due, 30, due + timedelta(seconds=3)) == due + timedelta(seconds=30)
    assert next_due(due, 30, due + timedelta(seconds=30)) == due + timedelta(seconds=60)
    assert next_due(due, 30, due + timedelta(minutes=10, seconds=1)) == due + timedelta(
        minutes=10, seconds=30
    )


def test_background_loop_scrapes_until_stopped(
    database: Database, store: TelemetryStore, metrics_server: MetricsServer
) -> None:
    metrics_server.routes["/metrics"] = text_only(shop_registry())
    add_service(database, "orders")
    good = add_target(database, "orders", f"{metrics_server.base}/metrics")
    bad = add_target(database, "orders", refused_url())

    async def run() -> None:
        scraper = Scraper(database, store, "scraper-1", tick_seconds=0.1)
        await scraper.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                rows = [target_row(database, good), target_row(database, bad)]
                if all(row.last_scrape_at is not None for row in rows):
                    return
                await asyncio.sleep(0.1)
            raise AssertionError("the background scraper did not scrape both targets")
        finally:
            await scraper.stop()

    asyncio.run(run())

    ups = sorted(value for _, _, value, *_ in stored(store, "orders", "up"))
    assert ups == [0, 1]
    assert metrics_server.hits("/metrics") == 1  # not scraped again before its interval


def test_deleted_service_takes_its_targets_along(
    database: Database, store: TelemetryStore, metrics_server: MetricsServer
) -> None:
    add_service(database, "orders")
    add_target(database, "orders", f"{metrics_server.base}/metrics")
    with database.session() as db:
        service = get_service(db, "orders")
        assert service is not None
        db.delete(service)

    with database.session() as db:
        assert list(db.scalars(select(ScrapeTarget))) == []
    assert scrape(Scraper(database, store, "scraper-1")) == 0


# --- parsing and labels ------------------------------------------------------------------------


def test_content_type_chooses_the_parser() -> None:
    body = "# TYPE a counter\na_total 1\n# EOF\n"
    (sample,) = parse_exposition(body, "application/openmetrics-text; version=1.0.0", 5)
    assert (sample.metric, sample.type, sample.timestamp_ms) == ("a_total", "counter", 5)
    with pytest.raises(ValueError, match="Prometheus text format"):
        parse_exposition(body.replace("a_total 1", "a_total one"), "text/plain", 5)


def test_a_parse_error_names_the_line() -> None:
    body = '# TYPE ok gauge\nok 1\nbroken{le="1"} two\n'
    with pytest.raises(ValueError, match=r"line 3: .*'broken\{le=\"1\"\} two'"):
        parse_exposition(body, "text/plain; version=0.0.4", 0)


def test_clashing_labels_are_exported_like_prometheus_does() -> None:
    target = {"job": "orders", "instance": "10.0.0.1:9100"}
    exposed = {"job": "batch", "exported_job": "older", "instance": "", "path": "/"}
    assert merge_labels(exposed, target) == {
        "job": "orders",
        "instance": "10.0.0.1:9100",
        "exported_job": "older",
        "exported_exported_job": "batch",
        "path": "/",
    }


def test_instance_is_host_and_port_and_process_names_differ() -> None:
    assert instance_label("http://10.0.0.5:9100/metrics") == "10.0.0.5:9100"
    assert instance_label("https://orders.internal/metrics?x=1") == "orders.internal:443"
    assert instance_label("http://[::1]/metrics") == "[::1]:80"
    first, second = default_instance_id(), default_instance_id()
    assert first != second and len(first) <= 100

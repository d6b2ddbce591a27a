"""Rules evaluated over really ingested data (remote_write samples, NDJSON log lines), with a
clock the test moves: pending → firing → resolved as Prometheus does, notifications to a real
local HTTP receiver in Alertmanager's webhook format, retries with backoff, and a restart of
the server while an alert fires sending nothing twice."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cramjam
import httpx
import pytest
from fastapi.testclient import TestClient

from fullcycle.alerting.dispatch import NotificationDispatcher
from fullcycle.alerting.evaluation import store_log_counter
from fullcycle.alerting.evaluator import RuleEvaluator
from fullcycle.app import create_app
from fullcycle.deploy.metric_queries import EngineQueries
from fullcycle.ingest.prometheus_proto import WriteRequest
from fullcycle.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.test_alert_rules import add_service

FIXTURES = Path("/work/shared/fixtures/real-clients")
# Data an hour ahead of the real time (taken when the suite is collected), so that rules
# applied now are due when the test's clock reaches the data, however long earlier tests ran.
T0 = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=1)
METRIC_RULES = """\
groups:
  - name: shop
    service: shop
    interval: 15s
    rules:
      - alert: QueueTooDeep
        expr: queue_depth{job="shop"} > 100
        for: 1m
        labels:
          team: shop
        annotations:
          summary: "queue of {{ $labels.instance }} at {{ $value }}"
"""
LOG_RULES = """\
groups:
  - name: shop-logs
    service: shop
    interval: 30s
    rules:
      - alert: PaymentErrors
        kind: log
        query: 'level:error payment'
        window: 5m
        threshold: 3
        labels:
          severity: critical
        annotations:
          summary: "{{ $value }} payment errors in 5 minutes"
"""


class Receiver:
    """A real HTTP server taking webhook notifications; it can refuse the first few."""

    def __init__(self, refuse_first: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.refuse_left = refuse_first
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.refuse_left > 0:
                    receiver.refuse_left -= 1
                    self.send_response(503)
                else:
                    receiver.bodies.append(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = T0 + timedelta(minutes=minutes)


@pytest.fixture
def quiet_settings(settings: Settings) -> Settings:
    """No background work: the test evaluates and sends itself, at its clock's time."""
    return dataclasses.replace(settings, background_work=False)


@pytest.fixture
def quiet(quiet_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(quiet_settings)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        yield client


class Alerting:
    """The evaluator and dispatcher of one app, run at the clock's time."""

    def __init__(self, client: TestClient, clock: Clock, instance: str = "test") -> None:
        state = client.app.state  # type: ignore[attr-defined]
        store = state.telemetry
        self.store = store
        self.evaluator = RuleEvaluator(
            state.database,
            instance,
            metrics=EngineQueries(store),
            count_logs=store_log_counter(store),
            clock=clock,
        )
        self.dispatcher = NotificationDispatcher(
            state.database, instance, "http://fullcycle.test", clock=clock
        )

    def tick(self) -> None:
        self.store.flush()
        self.evaluator.evaluate_due_once()
        asyncio.run(self._send())

    async def _send(self) -> None:
        async with httpx.AsyncClient(trust_env=False) as client:
            await self.dispatcher.send_due_once(client)


def write_samples(client: TestClient, values: list[tuple[float, float]]) -> None:
    """queue_depth of shop/instance a, (minutes after T0, value) pairs, via remote_write."""
    post_samples(client, values)
    client.app.state.telemetry.flush()  # type: ignore[attr-defined]


def post_samples(client: httpx.Client, values: list[tuple[float, float]]) -> None:
    request = WriteRequest()
    series = request.timeseries.add()
    for name, value in (("__name__", "queue_depth"), ("instance", "a"), ("job", "shop")):
        series.labels.add(name=name, value=value)
    for minutes, value in values:
        timestamp = int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)
        series.samples.add(timestamp=timestamp, value=value)
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    response = client.post(
        "/api/v1/write",
        content=body,
        headers={"content-type": "application/x-protobuf", "content-encoding": "snappy"},
    )
    assert response.status_code == 204, response.text


def queue_depths() -> list[tuple[float, float]]:
    """50 for 5 minutes, 500 for 10, then 50 again: a sample every 15 s."""
    return [(i / 4, 500.0 if 20 <= i < 60 else 50.0) for i in range(100)]


# Grouping that sends each change at once (tests of grouping itself: test_alert_grouping.py).
AT_ONCE = {"group_wait": "0s", "group_interval": "1s"}


def add_receiver(client: TestClient, url: str) -> None:
    response = client.post(
        "/api/v1/alert-receivers",
        json={"name": "hook", "kind": "webhook", "url": url, **AT_ONCE},
    )
    assert response.status_code == 201, response.text
    assert response.json()["target"].endswith("/…")
    assert "secret-token" not in json.dumps(client.get("/api/v1/alert-receivers").json())


def apply(client: TestClient, source: str) -> None:
    response = client.put("/api/v1/rules", json={"source": source, "name": "shop.yaml"})
    assert response.status_code == 200, response.text


def alerts(client: TestClient) -> list[dict[str, Any]]:
    return list(client.get("/api/v1/alerts").json())


def test_a_metric_rule_goes_pending_firing_resolved_and_notifies_in_alertmanager_format(
    quiet: TestClient,
) -> None:
    add_service(quiet)
    write_samples(quiet, queue_depths())
    apply(quiet, METRIC_RULES)
    clock = Clock(T0)
    alerting = Alerting(quiet, clock)
    with Receiver() as receiver:
        add_receiver(quiet, receiver.url)
        clock.at(4)
        alerting.tick()
        assert alerts(quiet) == []

        clock.at(5.5)
        alerting.tick()
        (pending,) = alerts(quiet)
        assert pending["state"] == "pending" and pending["value"] == 500
        assert receiver.bodies == []

        clock.at(6.75)  # active for 1m15s > for: 1m
        alerting.tick()
        (firing,) = alerts(quiet)
        assert firing["state"] == "firing"
        assert len(receiver.bodies) == 1
        clock.at(8)
        alerting.tick()
        assert len(receiver.bodies) == 1  # still firing: not notified again

        clock.at(21)  # 50 again (and the 500s are over 5 minutes old)
        alerting.tick()
        (resolved,) = alerts(quiet)
        assert resolved["state"] == "resolved"
        assert len(receiver.bodies) == 2

    fired, ended = receiver.bodies
    real = json.loads((FIXTURES / "alertmanager_webhook_resolved.json").read_text())
    assert set(fired) == set(real)
    assert set(fired["alerts"][0]) == set(real["alerts"][0])
    assert fired["version"] == "4" and fired["receiver"] == "hook"
    assert fired["status"] == "firing"
    labels = fired["alerts"][0]["labels"]
    assert labels == {
        "alertname": "QueueTooDeep",
        "instance": "a",
        "job": "shop",
        "service": "shop",
        "severity": "warning",
        "team": "shop",
    }
    annotations = fired["alerts"][0]["annotations"]
    assert annotations["summary"] == "queue of a at 500"
    assert annotations["runbook_url"] == "https://wiki/shop"  # the service's, by default
    assert fired["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert fired["alerts"][0]["generatorURL"] == f"http://fullcycle.test/alerts/{firing['id']}"
    assert fired["commonLabels"] == labels
    assert fired["groupKey"] == '{}:{alertname="QueueTooDeep",service="shop"}'
    assert ended["status"] == "resolved"
    assert ended["alerts"][0]["endsAt"].startswith((T0 + timedelta(minutes=21)).isoformat()[:16])
    assert ended["alerts"][0]["fingerprint"] == fired["alerts"][0]["fingerprint"]

    detail = quiet.get(f"/api/v1/alerts/{firing['id']}").json()
    assert [(n["event"], n["status"]) for n in detail["notifications"]] == [
        ("firing", "sent"),
        ("resolved", "sent"),
    ]
    assert "secret-token" not in json.dumps(detail)


def ingest_lines(client: TestClient, minutes: list[float], body: str, level: str) -> None:
    records = [
        {
            "timestamp": (T0 + timedelta(minutes=m)).isoformat().replace("+00:00", "Z"),
            "service": "shop",
            "level": level,
            "message": body,
        }
        for m in minutes
    ]
    response = client.post(
        "/api/v1/ingest/logs",
        content="\n".join(json.dumps(r) for r in records).encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    client.app.state.telemetry.flush()  # type: ignore[attr-defined]


def test_a_log_rule_counts_matching_lines_of_its_service_in_the_window(quiet: TestClient) -> None:
    add_service(quiet)
    ingest_lines(quiet, [1, 1.5, 2, 2.5, 3], "payment declined by bank", "error")
    ingest_lines(quiet, [1, 2, 3], "payment accepted", "info")
    apply(quiet, LOG_RULES)
    clock = Clock(T0)
    alerting = Alerting(quiet, clock)
    clock.at(2.2)  # three errors so far: not more than 3
    alerting.tick()
    assert alerts(quiet) == []
    clock.at(3.1)
    alerting.tick()
    (firing,) = alerts(quiet)
    assert firing["state"] == "firing" and firing["value"] == 5
    assert firing["severity"] == "critical"
    assert firing["annotations"]["summary"] == "5 payment errors in 5 minutes"
    clock.at(7.6)  # the window holds 2 errors now
    alerting.tick()
    assert alerts(quiet)[0]["state"] == "resolved"


def test_a_failing_receiver_is_retried_with_backoff_and_the_log_shows_each_try(
    quiet: TestClient,
) -> None:
    add_service(quiet)
    write_samples(quiet, queue_depths())
    apply(quiet, METRIC_RULES.replace("for: 1m", "for: 0s"))
    clock = Clock(T0 + timedelta(minutes=5.5))
    alerting = Alerting(quiet, clock)
    with Receiver(refuse_first=2) as receiver:
        add_receiver(quiet, receiver.url)
        alerting.tick()  # fires; the first try is refused
        assert receiver.bodies == []
        clock.now += timedelta(seconds=2)
        alerting.tick()  # not due yet (5 s backoff)
        clock.now += timedelta(seconds=4)
        alerting.tick()  # second try, refused: next in 10 s
        clock.now += timedelta(seconds=11)
        alerting.tick()
        assert len(receiver.bodies) == 1
    (alert,) = alerts(quiet)
    (delivery,) = quiet.get(f"/api/v1/alerts/{alert['id']}").json()["notifications"]
    assert delivery["status"] == "sent"
    outcomes = [(attempt["outcome"], attempt["error"]) for attempt in delivery["attempts"]]
    port = receiver.server.server_port
    assert outcomes == [
        ("failed", f"http://127.0.0.1:{port}/… answered 503"),
        ("failed", f"http://127.0.0.1:{port}/… answered 503"),
        ("sent", ""),
    ]


def test_a_restart_while_an_alert_fires_sends_nothing_twice(quiet_settings: Settings) -> None:
    clock = Clock(T0)
    with Receiver() as receiver:
        with TestClient(create_app(quiet_settings)) as first:
            first.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
            add_service(first)
            write_samples(first, queue_depths())
            apply(first, METRIC_RULES)
            add_receiver(first, receiver.url)
            alerting = Alerting(first, clock, instance="before-restart")
            for minutes in (5.5, 6.75, 7):
                clock.at(minutes)
                alerting.tick()
            assert len(receiver.bodies) == 1
        with TestClient(create_app(quiet_settings)) as second:
            second.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
            alerting = Alerting(second, clock, instance="after-restart")
            for minutes in (7.25, 8, 10):
                clock.at(minutes)
                alerting.tick()
            assert len(receiver.bodies) == 1
            assert [a["state"] for a in alerts(second)] == ["firing"]
            clock.at(21)
            alerting.tick()
        assert [body["status"] for body in receiver.bodies] == ["firing", "resolved"]


def test_two_processes_evaluate_each_rule_once(quiet: TestClient) -> None:
    add_service(quiet)
    write_samples(quiet, queue_depths())
    apply(quiet, METRIC_RULES.replace("for: 1m", "for: 0s"))
    clock = Clock(T0 + timedelta(minutes=5.5))
    one, two = Alerting(quiet, clock, "one"), Alerting(quiet, clock, "two")
    assert one.evaluator.evaluate_due_once() == 1
    assert two.evaluator.evaluate_due_once() == 0
    clock.now += timedelta(seconds=15)
    assert two.evaluator.evaluate_due_once() == 1
    assert one.evaluator.evaluate_due_once() == 0


def test_the_server_evaluates_and_notifies_in_the_background(admin: TestClient) -> None:
    """The rule evaluator and the dispatcher run as the server's background work."""
    add_service(admin)
    now_minutes = (datetime.now(UTC) - T0).total_seconds() / 60
    write_samples(admin, [(now_minutes - 0.2, 700.0)])
    with Receiver() as receiver:
        add_receiver(admin, receiver.url)
        apply(admin, METRIC_RULES.replace("for: 1m", "for: 0s").replace("15s", "1s"))
        deadline = time.monotonic() + 30
        while not receiver.bodies and time.monotonic() < deadline:
            time.sleep(0.2)
    assert [body["status"] for body in receiver.bodies] == ["firing"]
    assert receiver.bodies[0]["alerts"][0]["annotations"]["summary"] == "queue of a at 700"


def test_the_alert_pages_print_an_alert_s_times_like_every_other_page(quiet: TestClient) -> None:
    """The alert views' ISO text was printed as it is ("2026-11-27T16:57:47.890504+00:00") on
    the alerts list, the alert's page, its rule's page and its service's page."""
    add_service(quiet)
    write_samples(quiet, queue_depths())
    apply(quiet, METRIC_RULES)
    clock = Clock(T0)
    clock.at(5.5)
    Alerting(quiet, clock).tick()
    (alert,) = alerts(quiet)
    active_at = datetime.fromisoformat(alert["active_at"]).astimezone(UTC)
    shown = f'<time datetime="{active_at.isoformat()}"'

    for path in (
        "/alerts",
        f"/alerts/{alert['id']}",
        f"/rules/{alert['rule_id']}",
        "/services/shop",
    ):
        page = quiet.get(path)
        assert page.status_code == 200, path
        assert alert["active_at"] + "<" not in page.text, path
        assert shown in page.text and active_at.strftime("%Y-%m-%d %H:%M") in page.text, path

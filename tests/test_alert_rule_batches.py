"""Threshold rules on the same metric are evaluated with one query (alerting/shared_selectors.py):
each rule must raise exactly the alerts the PromQL engine gives for its expression alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta

import cramjam
import pytest
from fastapi.testclient import TestClient

from fullcycle.app import create_app
from fullcycle.deploy.metric_queries import EngineQueries, SeriesPoints
from fullcycle.ingest.prometheus_proto import WriteRequest
from fullcycle.metrics.engine import instant_query
from fullcycle.settings import Settings
from fullcycle.telemetry.store import TelemetryStore
from tests.conftest import ADMIN_TOKEN
from tests.test_alert_evaluation import T0, Alerting, Clock, apply
from tests.test_alert_rules import add_service

EXPRESSIONS = {
    "OnA": 'queue_depth{instance="a"} > 100',
    "NotOnA": 'queue_depth{instance!="a", job="shop"} > 100',
    "AnyShop": 'queue_depth{job="shop"} >= 80',
    "LowOnes": "queue_depth < 100",
    "NoSuchInstance": 'queue_depth{instance="z"} > 0',
    "ByRegex": 'queue_depth{instance=~"a|b"} > 10',  # evaluated alone
    "Exactly": 'queue_depth{zone=""} == 150',
}
DEPTHS = {("a", "eu"): 500.0, ("b", "us"): 150.0, ("c", ""): 80.0, ("d", "eu"): 20.0}


class CountingQueries(EngineQueries):
    """The real engine, noting each instant query."""

    def __init__(self, store: TelemetryStore) -> None:
        super().__init__(store)
        self.instant_queries: list[str] = []

    def instant(self, expr: str, at: datetime) -> list[SeriesPoints]:
        self.instant_queries.append(expr)
        return super().instant(expr, at)


@pytest.fixture
def quiet(settings: Settings) -> Iterator[TestClient]:
    """No background work: the test evaluates at its clock's time."""
    with TestClient(create_app(dataclasses.replace(settings, background_work=False))) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        yield client


def write_depths(client: TestClient) -> None:
    request = WriteRequest()
    for (instance, zone), value in DEPTHS.items():
        series = request.timeseries.add()
        labels = [("__name__", "queue_depth"), ("instance", instance), ("job", "shop")]
        for name, label in labels + ([("zone", zone)] if zone else []):
            series.labels.add(name=name, value=label)
        at_ms = int((T0 + timedelta(minutes=1)).timestamp() * 1000)
        series.samples.add(timestamp=at_ms, value=value)
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    headers = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}
    assert client.post("/api/v1/write", content=body, headers=headers).status_code == 204
    client.app.state.telemetry.flush()  # type: ignore[attr-defined]


def rule_file() -> str:
    lines = ["groups:", "  - name: depths", "    service: shop", "    interval: 15s", "    rules:"]
    for name, expr in EXPRESSIONS.items():
        lines += [f"      - alert: {name}", f"        expr: '{expr}'"]
    return "\n".join(lines) + "\n"


def test_rules_sharing_a_metric_raise_what_each_expression_gives_alone(quiet: TestClient) -> None:
    add_service(quiet)
    write_depths(quiet)
    apply(quiet, rule_file())
    clock = Clock(T0 + timedelta(minutes=2))
    alerting = Alerting(quiet, clock)
    queries = CountingQueries(alerting.store)
    alerting.evaluator.metrics = queries
    alerting.tick()
    assert queries.instant_queries == ['{__name__="queue_depth"}', EXPRESSIONS["ByRegex"]]

    raised: dict[str, set[tuple[str, float]]] = {name: set() for name in EXPRESSIONS}
    for alert in quiet.get("/api/v1/alerts", params={"limit": 1000}).json():
        raised[alert["name"]].add((alert["labels"]["instance"], alert["value"]))
    store = quiet.app.state.telemetry  # type: ignore[attr-defined]
    for name, expr in EXPRESSIONS.items():
        alone = instant_query(store, expr, clock.now)
        expected = {(s.labels["instance"], s.points[0][1]) for s in alone.series}
        assert raised[name] == expected, name
    assert raised["NotOnA"] == {("b", 150.0)}
    assert raised["Exactly"] == set()  # b has a zone
    assert raised["NoSuchInstance"] == set()
    rules = quiet.get("/api/v1/rules").json()
    assert all(rule["last_error"] == "" for rule in rules)

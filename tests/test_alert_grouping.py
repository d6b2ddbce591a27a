"""Grouping like Alertmanager, over really ingested samples, with a clock the test moves: the
alerts of one group go out in one notification after `group_wait`, changes at most every
`group_interval`, an unchanged firing group again after `repeat_interval`; resolutions ride
along. Two processes and a restart send each notification once."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import cramjam
from fastapi.testclient import TestClient

from fullcycle.app import create_app
from fullcycle.ingest.prometheus_proto import WriteRequest
from fullcycle.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.test_alert_evaluation import (
    FIXTURES,
    METRIC_RULES,
    T0,
    Alerting,
    Clock,
    Receiver,
    alerts,
    apply,
    quiet,
    quiet_settings,
)
from tests.test_alert_rules import add_service

__all__ = ["quiet", "quiet_settings"]  # fixtures

RULES = METRIC_RULES.replace("for: 1m", "for: 0s")
# instance: (minutes after T0 it starts being too deep, minutes it stops)
DEEP = {"a": (5.0, 60.0), "b": (5.25, 30.0), "c": (7.0, 60.0)}


def write_queue_depths(client: TestClient, deep: dict[str, tuple[float, float]]) -> None:
    """queue_depth of shop per instance every 15 s for 70 minutes, 500 while deep, else 50."""
    request = WriteRequest()
    for instance, (start, end) in deep.items():
        series = request.timeseries.add()
        for name, value in (("__name__", "queue_depth"), ("instance", instance), ("job", "shop")):
            series.labels.add(name=name, value=value)
        for step in range(70 * 4):
            minutes = step / 4
            timestamp = int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)
            series.samples.add(timestamp=timestamp, value=500.0 if start <= minutes < end else 50.0)
    response = client.post(
        "/api/v1/write",
        content=bytes(cramjam.snappy.compress_raw(request.SerializeToString())),
        headers={"content-type": "application/x-protobuf", "content-encoding": "snappy"},
    )
    assert response.status_code == 204, response.text
    client.app.state.telemetry.flush()  # type: ignore[attr-defined]


def add_hook(client: TestClient, url: str, **grouping: Any) -> dict[str, Any]:
    body = {"name": "hook", "kind": "webhook", "url": url, **grouping}
    response = client.post("/api/v1/alert-receivers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def types_of(document: dict[str, Any]) -> dict[str, str]:
    return {key: type(value).__name__ for key, value in document.items()}


class Timeline:
    """Ticks every 15 s (the rule's interval) and notes when each notification arrived."""

    def __init__(self, alerting: Alerting, clock: Clock, receiver: Receiver) -> None:
        self.alerting, self.clock, self.receiver = alerting, clock, receiver
        self.minutes = 4.0
        self.arrivals: list[tuple[float, dict[str, Any]]] = []

    def run_until(self, minutes: float) -> None:
        while self.minutes <= minutes:
            self.clock.at(self.minutes)
            before = len(self.receiver.bodies)
            self.alerting.tick()
            self.arrivals += [(self.minutes, body) for body in self.receiver.bodies[before:]]
            self.minutes += 0.25

    def summary(self) -> list[tuple[float, str, list[str], list[str]]]:
        """(minute, status, firing instances, resolved instances) of each notification."""
        return [
            (
                minutes,
                body["status"],
                [a["labels"]["instance"] for a in body["alerts"] if a["status"] == "firing"],
                [a["labels"]["instance"] for a in body["alerts"] if a["status"] == "resolved"],
            )
            for minutes, body in self.arrivals
        ]


def test_a_group_is_notified_after_group_wait_then_per_group_interval_and_repeat(
    quiet: TestClient,
) -> None:
    add_service(quiet)
    write_queue_depths(quiet, DEEP)
    apply(quiet, RULES)
    clock = Clock(T0)
    with Receiver() as receiver:
        hook = add_hook(quiet, receiver.url, repeat_interval="20m")
        assert (hook["group_by"], hook["group_wait"], hook["group_interval"]) == (
            ["alertname", "service"],
            "30s",
            "300s",
        )
        timeline = Timeline(Alerting(quiet, clock), clock, receiver)
        timeline.run_until(65)
    assert timeline.summary() == [
        (5.5, "firing", ["a", "b"], []),  # a at 5.0 opens the group, b joins while it waits
        (10.5, "firing", ["a", "b", "c"], []),  # c fired at 7: sent one group_interval later
        (30.5, "firing", ["a", "c"], ["b"]),  # b resolved at 30
        (50.5, "firing", ["a", "c"], []),  # unchanged for repeat_interval: repeated
        (60.5, "resolved", [], ["a", "c"]),
    ]
    first = timeline.arrivals[0][1]
    real = json.loads((FIXTURES / "alertmanager_webhook.raw.json").read_text())  # firing
    assert types_of(first) == types_of(real)
    assert types_of(first["alerts"][0]) == types_of(real["alerts"][0])
    assert first["status"] == real["status"] == "firing"
    assert first["groupLabels"] == {"alertname": "QueueTooDeep", "service": "shop"}
    assert first["groupKey"] == '{}:{alertname="QueueTooDeep",service="shop"}'
    assert first["commonLabels"] == {
        "alertname": "QueueTooDeep",
        "job": "shop",
        "service": "shop",
        "severity": "warning",
        "team": "shop",
    }
    assert "summary" not in first["commonAnnotations"]  # "queue of a …" differs per alert
    by_instance = {alert["labels"]["instance"]: alert for alert in alerts(quiet)}
    detail = quiet.get(f"/api/v1/alerts/{by_instance['b']['id']}").json()
    events = [(n["event"].split(":")[0], n["status"]) for n in detail["notifications"]]
    assert events == [("firing", "sent"), ("update", "sent"), ("resolved", "sent")]


def test_group_by_splits_alerts_into_separate_notifications(quiet: TestClient) -> None:
    add_service(quiet)
    write_queue_depths(quiet, {"a": (5.0, 60.0), "b": (5.0, 60.0)})
    apply(quiet, RULES)
    clock = Clock(T0)
    with Receiver() as receiver:
        add_hook(quiet, receiver.url, group_by=["alertname", "instance"], group_wait="1m")
        timeline = Timeline(Alerting(quiet, clock), clock, receiver)
        timeline.run_until(7)
    assert sorted(timeline.summary()) == [
        (6.0, "firing", ["a"], []),
        (6.0, "firing", ["b"], []),
    ]
    groups = sorted(json.dumps(body["groupLabels"]) for _, body in timeline.arrivals)
    assert groups == [
        '{"alertname": "QueueTooDeep", "instance": "a"}',
        '{"alertname": "QueueTooDeep", "instance": "b"}',
    ]


def test_an_acknowledged_alert_leaves_its_group_and_is_not_repeated(quiet: TestClient) -> None:
    add_service(quiet)
    write_queue_depths(quiet, {"a": (5.0, 60.0), "b": (5.0, 60.0)})
    apply(quiet, RULES)
    clock = Clock(T0)
    with Receiver() as receiver:
        add_hook(quiet, receiver.url, repeat_interval="10m")
        timeline = Timeline(Alerting(quiet, clock), clock, receiver)
        timeline.run_until(6)
        by_instance = {alert["labels"]["instance"]: alert for alert in alerts(quiet)}
        assert quiet.post(f"/api/v1/alerts/{by_instance['a']['id']}/ack").status_code == 200
        timeline.run_until(16)
    assert timeline.summary() == [
        (5.5, "firing", ["a", "b"], []),
        (15.5, "firing", ["b"], []),
    ]


def test_two_processes_and_a_restart_send_each_group_notification_once(
    quiet_settings: Settings,
) -> None:
    clock = Clock(T0)
    with Receiver() as receiver:
        with TestClient(create_app(quiet_settings)) as first:
            first.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
            add_service(first)
            write_queue_depths(first, DEEP)
            apply(first, RULES)
            add_hook(first, receiver.url)
            one, two = Alerting(first, clock, "one"), Alerting(first, clock, "two")
            for minutes in (5.0, 5.25):
                clock.at(minutes)
                one.tick()
                two.tick()
            assert receiver.bodies == []  # the group waits (group_wait 30s)
        with TestClient(create_app(quiet_settings)) as second:
            alerting = Alerting(second, clock, "after-restart")
            other = Alerting(second, clock, "another")
            for minutes in (5.5, 5.75, 7.0, 8.0):
                clock.at(minutes)
                alerting.tick()
                other.tick()
    assert [len(body["alerts"]) for body in receiver.bodies] == [2]


def test_bad_grouping_is_refused_naming_the_field(quiet: TestClient) -> None:
    base = {"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}
    bad_label = quiet.post("/api/v1/alert-receivers", json={**base, "group_by": ["a-b"]})
    assert bad_label.status_code == 422
    assert "group_by" in bad_label.text and "is not a label name" in bad_label.text
    bad_wait = quiet.post("/api/v1/alert-receivers", json={**base, "group_wait": "soon"})
    assert bad_wait.status_code == 422
    assert "group_wait" in bad_wait.text and "is not a duration" in bad_wait.text
    zero = quiet.post("/api/v1/alert-receivers", json={**base, "group_interval": "0s"})
    assert zero.status_code == 422 and "at least 1s" in zero.text
    assert quiet.get("/api/v1/alert-receivers").json() == []

"""Silences and inhibition as an operator sees them: a silenced alert fires without notifying
until the silence is expired; a firing critical alert of a service mutes its warnings;
silences longer than the maximum or with bad matchers are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.test_alert_evaluation import (
    METRIC_RULES,
    T0,
    Alerting,
    Clock,
    Receiver,
    add_receiver,
    alerts,
    apply,
    queue_depths,
    quiet,
    quiet_settings,
    write_samples,
)
from tests.test_alert_rules import add_service

__all__ = ["quiet", "quiet_settings"]  # fixtures

CRITICAL_AND_WARNING = """\
groups:
  - name: shop
    service: shop
    interval: 15s
    rules:
      - alert: QueueCritical
        expr: queue_depth{job="shop"} > 400
        labels:
          severity: critical
      - alert: QueueTooDeep
        expr: queue_depth{job="shop"} > 100
"""


def test_a_silenced_alert_is_notified_only_after_the_silence_is_expired(
    quiet: TestClient,
) -> None:
    add_service(quiet)
    write_samples(quiet, queue_depths())
    apply(quiet, METRIC_RULES.replace("for: 1m", "for: 0s"))
    created = quiet.post(
        "/api/v1/silences",
        json={
            "matchers": [{"name": "alertname", "op": "=~", "value": "Queue.*"}],
            "duration": "3h",  # the test's clock runs an hour ahead
            "comment": "migrating the queue",
        },
    )
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["state"] == "active" and silence["created_by"] == "admin"
    clock = Clock(T0 + timedelta(minutes=5.5))
    alerting = Alerting(quiet, clock)
    with Receiver() as receiver:
        add_receiver(quiet, receiver.url)
        alerting.tick()
        (alert,) = alerts(quiet)
        assert alert["state"] == "firing"
        assert alert["suppressed_by"] == f"silence {silence['id']}"
        assert receiver.bodies == []

        expired = quiet.delete(f"/api/v1/silences/{silence['id']}")
        assert expired.json()["state"] == "expired"
        clock.now += timedelta(seconds=15)
        alerting.tick()
        notification, notice = receiver.bodies  # the silence's end is announced too
        assert (notice["event"], notification["status"]) == ("expired", "firing")
        assert alerts(quiet)[0]["suppressed_by"] == ""


def test_a_firing_critical_alert_mutes_the_warnings_of_its_service(quiet: TestClient) -> None:
    add_service(quiet)
    write_samples(quiet, queue_depths())
    apply(quiet, CRITICAL_AND_WARNING)
    clock = Clock(T0 + timedelta(minutes=5.5))
    alerting = Alerting(quiet, clock)
    with Receiver() as receiver:
        add_receiver(quiet, receiver.url)
        alerting.tick()
    by_name = {alert["name"]: alert for alert in alerts(quiet)}
    assert by_name["QueueCritical"]["state"] == by_name["QueueTooDeep"]["state"] == "firing"
    critical_id = by_name["QueueCritical"]["id"]
    assert by_name["QueueTooDeep"]["suppressed_by"] == f"inhibited by alert {critical_id}"
    assert [body["alerts"][0]["labels"]["alertname"] for body in receiver.bodies] == [
        "QueueCritical"
    ]


def test_silences_longer_than_the_maximum_or_with_bad_matchers_are_refused(
    quiet: TestClient,
) -> None:
    matcher = {"name": "service", "value": "shop"}
    too_long = quiet.post("/api/v1/silences", json={"matchers": [matcher], "duration": "30d"})
    assert too_long.status_code == 422
    assert too_long.json()["detail"] == "a silence lasts at most 14 days"
    bad_regex = quiet.post(
        "/api/v1/silences",
        json={"matchers": [{"name": "a", "op": "=~", "value": "("}], "duration": "1h"},
    )
    assert bad_regex.status_code == 422
    assert "not a regular expression" in bad_regex.text
    neither = quiet.post("/api/v1/silences", json={"matchers": [matcher]})
    assert neither.json()["detail"] == "give either ends_at or duration"
    assert quiet.get("/api/v1/silences").json() == []


def test_the_services_receivers_and_the_person_on_call_hear_of_a_silence_and_its_end(
    quiet: TestClient,
) -> None:
    assert quiet.post("/api/v1/users", json={"name": "ana"}).status_code == 201
    assert quiet.post("/api/v1/teams", json={"name": "team-shop"}).status_code == 201
    add_service(quiet)
    add_service(quiet, "billing")
    schedule = {
        "name": "primary",
        "rotation": "weekly",
        "handoff": "09:00",
        "timezone": "UTC",
        "start_date": "2026-01-05",
        "participants": ["ana"],
    }
    assert quiet.post("/api/v1/teams/team-shop/oncall-schedules", json=schedule).status_code == 201
    with Receiver() as shop, Receiver() as billing, Receiver() as ana:
        for name, receiver, service in (("shop", shop, "shop"), ("billing", billing, "billing")):
            body = {"name": name, "kind": "webhook", "url": receiver.url, "service": service}
            assert quiet.post("/api/v1/alert-receivers", json=body).status_code == 201
        pager = {"name": "pager", "kind": "pagerduty", "secret": "R0123456789abcdefghijklmnop"}
        assert quiet.post("/api/v1/alert-receivers", json=pager).status_code == 201
        contact = {"label": "hook", "kind": "webhook", "address": ana.url}
        assert quiet.post("/api/v1/users/ana/contact-methods", json=contact).status_code == 201
        created = quiet.post(
            "/api/v1/silences",
            json={
                "matchers": [{"name": "service", "value": "shop"}],
                "duration": "2h",
                "comment": "moving the shop's queue",
            },
        ).json()
        clock = Clock(datetime.now(UTC))
        alerting = Alerting(quiet, clock)
        alerting.tick()
        clock.now += timedelta(hours=2, minutes=1)
        alerting.tick()
        alerting.tick()  # each event once
    for receiver in (shop, ana):
        assert [body["event"] for body in receiver.bodies] == ["created", "expired"]
    assert billing.bodies == []
    announced = shop.bodies[0]
    assert announced == {
        "version": "fullcycle.silence/1",
        "receiver": "shop",
        "event": "created",
        "silence": {
            "id": created["id"],
            "matchers": [{"name": "service", "op": "=", "value": "shop"}],
            "startsAt": created["starts_at"].replace("+00:00", "Z"),
            "endsAt": created["ends_at"].replace("+00:00", "Z"),
            "createdBy": "admin",
            "comment": "moving the shop's queue",
            "url": "http://fullcycle.test/alerts",
        },
        "externalURL": "http://fullcycle.test",
    }
    assert "alerts" not in announced  # never taken for an Alertmanager alert
    (listed,) = quiet.get("/api/v1/silences").json()
    assert sorted((n["receiver"], n["event"], n["status"]) for n in listed["notices"]) == [
        ("@ana/hook", "created", "sent"),
        ("@ana/hook", "expired", "sent"),
        ("shop", "created", "sent"),
        ("shop", "expired", "sent"),
    ]

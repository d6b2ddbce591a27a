"""Silences and inhibition as an operator sees them: a silenced alert fires without notifying
until the silence is expired; a firing critical alert of a service mutes its warnings;
silences longer than the maximum or with bad matchers are refused."""

from __future__ import annotations

from datetime import timedelta

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
        assert len(receiver.bodies) == 1
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

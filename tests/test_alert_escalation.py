"""Escalation with a clock the test moves (no sleeps): an alert nobody acknowledges reaches
the next level after its delay, the policy repeats, and acknowledging stops it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.test_alert_evaluation import (
    AT_ONCE,
    METRIC_RULES,
    T0,
    Alerting,
    Clock,
    Receiver,
    alerts,
    apply,
    quiet,
    quiet_settings,
    write_samples,
)

__all__ = ["quiet", "quiet_settings"]  # fixtures


def test_unacknowledged_alerts_escalate_level_by_level_until_acknowledged(
    quiet: TestClient,
) -> None:
    assert quiet.post("/api/v1/teams", json={"name": "team-shop"}).status_code == 201
    service = {"name": "shop", "owners": ["team-shop"]}
    assert quiet.post("/api/v1/services", json=service).status_code == 201
    write_samples(quiet, [(i / 4, 500.0 if i >= 20 else 50.0) for i in range(200)])
    apply(quiet, METRIC_RULES.replace("for: 1m", "for: 0s").replace("15s", "30s"))
    with Receiver() as primary, Receiver() as lead, Receiver() as everyone:
        for name, receiver in (("primary", primary), ("lead", lead), ("everyone", everyone)):
            body = {"name": name, "kind": "webhook", "url": receiver.url, **AT_ONCE}
            assert quiet.post("/api/v1/alert-receivers", json=body).status_code == 201
        policy = {
            "levels": [
                {"after_minutes": 5, "receivers": ["lead"]},
                {"after_minutes": 10, "receivers": ["everyone"]},
            ],
            "repeat": 1,
        }
        response = quiet.put("/api/v1/teams/team-shop/escalation-policy", json=policy)
        assert response.status_code == 200, response.text
        clock = Clock(T0)
        alerting = Alerting(quiet, clock)

        def at(minutes: float) -> tuple[int, int, int]:
            clock.at(minutes)
            alerting.tick()
            return len(primary.bodies), len(lead.bodies), len(everyone.bodies)

        assert at(5.5) == (1, 0, 0)  # fires: the on-call receiver only
        assert at(10) == (1, 0, 0)
        assert at(10.5) == (1, 1, 0)  # 5 minutes unacknowledged: the lead
        assert at(15.5) == (1, 1, 1)  # 10 minutes: everyone
        assert at(20.5) == (1, 2, 1)  # the second round begins
        (alert,) = alerts(quiet)
        assert quiet.post(f"/api/v1/alerts/{alert['id']}/ack").status_code == 200
        assert at(26) == (1, 2, 1)  # acknowledged: no more escalation
    assert lead.bodies[0]["status"] == "firing"
    assert lead.bodies[0]["alerts"][0]["labels"]["alertname"] == "QueueTooDeep"


def test_an_escalation_policy_naming_unknown_receivers_is_refused(quiet: TestClient) -> None:
    assert quiet.post("/api/v1/teams", json={"name": "team-shop"}).status_code == 201
    policy = {"levels": [{"after_minutes": 5, "receivers": ["nobody"]}]}
    response = quiet.put("/api/v1/teams/team-shop/escalation-policy", json=policy)
    assert response.status_code == 422 and "no receiver named nobody" in response.text

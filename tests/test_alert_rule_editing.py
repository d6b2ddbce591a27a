"""Editing one rule through the API (GET/PUT/DELETE /api/v1/rules/{id}): the rule comes back in
rule-file form, an edit is validated field by field and changes nothing when refused, the file's
next apply wins over an edit, and reading is not enough to change."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from fullcycle.anomaly.detector import Detector, MetricKind
from fullcycle.anomaly.models import AnomalyDetectorState
from tests.conftest import token_for
from tests.test_alert_rules import RULES, add_service

ANOMALY_RULES = """\
groups:
  - name: shop-business
    service: shop
    interval: 1m
    rules:
      - alert: RevenueBelowExpected
        kind: anomaly
        expr: sum(increase(shop_revenue_eur_total[5m]))
        metric_kind: money
        direction: below
        step: 5m
"""


def applied(admin: TestClient, source: str = RULES, name: str = "shop.rules.yaml") -> None:
    response = admin.put("/api/v1/rules", json={"source": source, "name": name})
    assert response.status_code == 200, response.text


def rule_named(admin: TestClient, name: str) -> dict[str, Any]:
    (rule,) = [r for r in admin.get("/api/v1/rules").json() if r["name"] == name]
    return dict(admin.get(f"/api/v1/rules/{rule['id']}").json())


def test_a_rule_comes_back_in_rule_file_form_and_an_edit_takes(admin: TestClient) -> None:
    add_service(admin)
    applied(admin)
    rule = rule_named(admin, "HighErrorRate")
    assert rule["rule"] == {
        "alert": "HighErrorRate",
        "kind": "metric",
        "expr": 'sum by (job) (rate(http_errors_total{job="shop"}[5m])) > 0.1',
        "for": "2m",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "shop errors at {{ $value }} per second",
            "description": "{{ $labels.job }} is failing",
        },
        "interval": "15s",
    }
    edited = {**rule["rule"], "expr": "sum(rate(http_errors_total[5m])) > 0.5", "for": "5m"}
    response = admin.put(f"/api/v1/rules/{rule['id']}", json=edited)
    assert response.status_code == 200, response.text
    again = rule_named(admin, "HighErrorRate")
    assert again["expr"] == "sum(rate(http_errors_total[5m])) > 0.5"
    assert again["for_seconds"] == 300
    assert again["rule"] == edited
    events = admin.get("/api/v1/audit", params={"action": "rule.edit"}).json()
    assert [e["target"] for e in events] == [str(rule["id"])]


def test_a_bad_edit_names_each_field_and_changes_nothing(admin: TestClient) -> None:
    add_service(admin)
    applied(admin)
    rule = rule_named(admin, "HighErrorRate")
    bad = {**rule["rule"], "expr": "sum(rate(x[5m]) > 1", "for": "soon", "colour": "red"}
    response = admin.put(f"/api/v1/rules/{rule['id']}", json=bad)
    assert response.status_code == 422
    fields = {p["field"]: p["message"] for p in response.json()["problems"]}
    assert fields["expr"].startswith("not valid PromQL")
    assert "'soon' is not a duration" in fields["for"]
    assert fields["colour"] == "unknown field"
    taken = {**rule["rule"], "alert": "ErrorLogs"}
    response = admin.put(f"/api/v1/rules/{rule['id']}", json=taken)
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "alert"
    assert rule_named(admin, "HighErrorRate")["rule"] == rule["rule"]
    assert admin.put("/api/v1/rules/99999", json=rule["rule"]).status_code == 404


def test_the_next_apply_of_its_file_wins_over_an_edit(admin: TestClient) -> None:
    add_service(admin)
    applied(admin)
    rule = rule_named(admin, "ErrorLogs")
    assert rule["source"] == "shop.rules.yaml"
    edited = {**rule["rule"], "threshold": 50}
    assert admin.put(f"/api/v1/rules/{rule['id']}", json=edited).status_code == 200
    assert rule_named(admin, "ErrorLogs")["threshold"] == 50
    applied(admin)
    assert rule_named(admin, "ErrorLogs")["threshold"] == 10


def test_deleting_a_rule_and_who_may(admin: TestClient) -> None:
    add_service(admin)
    applied(admin)
    rule = rule_named(admin, "NoOrders")
    reader = token_for(admin, "reader", ["read"])
    headers = {"Authorization": f"Bearer {reader}"}
    assert admin.get(f"/api/v1/rules/{rule['id']}", headers=headers).status_code == 200
    url = f"/api/v1/rules/{rule['id']}"
    assert admin.put(url, json=rule["rule"], headers=headers).status_code == 403
    assert admin.delete(f"/api/v1/rules/{rule['id']}", headers=headers).status_code == 403
    assert admin.delete(f"/api/v1/rules/{rule['id']}").status_code == 204
    assert admin.get(f"/api/v1/rules/{rule['id']}").status_code == 404
    assert "NoOrders" not in [r["name"] for r in admin.get("/api/v1/rules").json()]


def test_editing_what_an_anomaly_rule_watches_makes_its_detectors_learn_again(
    admin: TestClient,
) -> None:
    add_service(admin)
    applied(admin, ANOMALY_RULES, "business.yaml")
    rule = rule_named(admin, "RevenueBelowExpected")
    assert rule["rule"]["step"] == "5m" and rule["rule"]["history"] == "14d"
    database = admin.app.state.database  # type: ignore[attr-defined]
    with database.session() as db:
        state = Detector(MetricKind.MONEY).state().decode()
        db.add(
            AnomalyDetectorState(
                rule_id=rule["id"], fingerprint="f", labels={}, state=state, last_timestamp=1.0
            )
        )
    applied(admin, ANOMALY_RULES, "business.yaml")  # unchanged: the detector stays
    with database.session() as db:
        assert len(db.scalars(select(AnomalyDetectorState)).all()) == 1
    edited = {**rule["rule"], "sensitivity": "high"}
    assert admin.put(f"/api/v1/rules/{rule['id']}", json=edited).status_code == 200
    with database.session() as db:
        assert db.scalars(select(AnomalyDetectorState)).all() == []

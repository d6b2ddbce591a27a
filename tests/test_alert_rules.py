"""Rule files as a user writes them: Prometheus rule files plus fullcycle's log and absence
kinds, checked with the line and field of every problem, applied through the API (created,
updated, removed), listed; bad files change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fullcycle.alerting.rules.file import RuleFileError, parse_rule_file
from fullcycle.alerting.rules.spec import duration_seconds
from tests.conftest import token_for

RULES = """\
groups:
  - name: shop-availability
    service: shop
    interval: 15s
    rules:
      - alert: HighErrorRate
        expr: sum by (job) (rate(http_errors_total{job="shop"}[5m])) > 0.1
        for: 2m
        labels:
          severity: critical
        annotations:
          summary: "shop errors at {{ $value }} per second"
          description: "{{ $labels.job }} is failing"
      - alert: ErrorLogs
        kind: log
        query: 'level:error'
        window: 5m
        threshold: 10
      - alert: NoOrders
        kind: absence
        query: 'order placed'
        window: 1h
"""


def add_service(admin: TestClient, name: str = "shop") -> None:
    response = admin.post(
        "/api/v1/services",
        json={"name": name, "owners": ["team-shop"], "runbook_url": f"https://wiki/{name}"},
    )
    assert response.status_code == 201, response.text


def problems_of(source: str) -> list[str]:
    with pytest.raises(RuleFileError) as caught:
        parse_rule_file(source)
    return [str(problem) for problem in caught.value.problems]


def test_a_prometheus_rule_file_with_our_kinds_parses() -> None:
    spec = parse_rule_file(RULES)
    group = spec.groups[0]
    assert group.interval == 15
    assert [rule.alert for rule in group.rules] == ["HighErrorRate", "ErrorLogs", "NoOrders"]
    assert group.rules[0].for_ == 120
    assert group.rules[0].severity == "critical"
    assert group.rules[1].kind == "log" and group.rules[1].window == 300
    assert group.rules[2].window == 3600


def test_a_real_prometheus_rule_file_is_accepted_with_a_service_label() -> None:
    source = """\
groups:
- name: example
  rules:
  - alert: HighRequestLatency
    expr: job:request_latency_seconds:mean5m{job="myjob"} > 0.5
    for: 10m
    labels:
      severity: warning
      service: myjob
    annotations:
      summary: High request latency
"""
    spec = parse_rule_file(source)
    assert spec.groups[0].service_of(spec.groups[0].rules[0]) == "myjob"


def test_every_problem_names_its_line_and_field() -> None:
    source = """\
groups:
  - name: shop
    service: shop
    rules:
      - alert: Bad
        expr: rate(x[5m] >
      - alert: Typo
        kind: log
        query: 'level:error'
        threshhold: 3
      - alert: Wrong
        expr: up == 0
        for: soon
        labels:
          severity: urgent
"""
    assert problems_of(source) == [
        "line 6: groups[0].rules[0].expr: not valid PromQL: unclosed left parenthesis",
        "line 10: groups[0].rules[1].threshhold: unknown field",
        "line 13: groups[0].rules[2].for: 'soon' is not a duration; expected e.g. 30s, 5m, 1h30m",
        "line 14: groups[0].rules[2].labels: severity must be one of critical, warning, info, "
        "not 'urgent'",
    ]


def test_rules_without_a_service_or_with_broken_yaml_are_refused() -> None:
    no_service = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n"
    assert problems_of(no_service) == [
        "line 2: groups[0]: rule 'A' belongs to no service: set `service` on the group or the "
        "rule, or a `service` label"
    ]
    assert problems_of("groups: [")[0].startswith("line 1: not valid YAML")
    assert problems_of("- a list") == ["line 1: expected a mapping with `groups`"]
    log_without_query = (
        "groups:\n  - name: g\n    service: s\n    rules:\n      - alert: A\n        kind: log\n"
    )
    assert problems_of(log_without_query) == [
        "line 5: groups[0].rules[0]: a log rule needs `query`"
    ]


def test_durations_are_prometheus_durations() -> None:
    assert duration_seconds("1h30m") == 5400
    assert duration_seconds("90s") == 90
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds("5 minutes")


def test_check_validates_without_applying(admin: TestClient) -> None:
    response = admin.post("/api/v1/rules/check", json={"source": RULES})
    assert response.json() == {"valid": True, "problems": [], "rules": 3}
    bad = admin.post("/api/v1/rules/check", json={"source": RULES.replace("15s", "often")})
    assert bad.json()["valid"] is False
    assert bad.json()["problems"][0]["line"] == 4
    assert bad.json()["problems"][0]["field"] == "groups[0].interval"
    assert admin.get("/api/v1/rules").json() == []


def test_apply_creates_updates_and_removes_the_rules_of_a_file(admin: TestClient) -> None:
    add_service(admin)
    first = admin.put("/api/v1/rules", json={"source": RULES, "name": "shop.rules.yaml"})
    assert first.status_code == 200, first.text
    assert first.json()["created"] == ["shop/HighErrorRate", "shop/ErrorLogs", "shop/NoOrders"]
    rules = admin.get("/api/v1/rules", params={"service": "shop"}).json()
    assert {rule["name"]: rule["kind"] for rule in rules} == {
        "ErrorLogs": "log",
        "HighErrorRate": "metric",
        "NoOrders": "absence",
    }
    high = next(rule for rule in rules if rule["name"] == "HighErrorRate")
    assert high["for_seconds"] == 120 and high["interval_seconds"] == 15
    assert high["severity"] == "critical"

    shorter = RULES.split("      - alert: NoOrders")[0]
    second = admin.put("/api/v1/rules", json={"source": shorter, "name": "shop.rules.yaml"})
    assert second.json() == {
        "created": [],
        "updated": ["shop/HighErrorRate", "shop/ErrorLogs"],
        "removed": ["shop/NoOrders"],
    }
    assert len(admin.get("/api/v1/rules").json()) == 2
    events = admin.get("/api/v1/audit", params={"action": "rules.apply"}).json()
    assert events


def test_apply_refuses_unknown_services_and_names_taken_by_another_file(
    admin: TestClient,
) -> None:
    unknown = admin.put("/api/v1/rules", json={"source": RULES})
    assert unknown.status_code == 422
    assert unknown.json()["problems"][0] == {
        "line": None,
        "field": "groups[0].rules[0]",
        "message": "no service 'shop'",
    }
    add_service(admin)
    assert admin.put("/api/v1/rules", json={"source": RULES, "name": "a.yaml"}).status_code == 200
    taken = admin.put("/api/v1/rules", json={"source": RULES, "name": "b.yaml"})
    assert taken.status_code == 422
    assert "already has a rule 'HighErrorRate' (from a.yaml)" in taken.json()["detail"]
    assert {rule["source"] for rule in admin.get("/api/v1/rules").json()} == {"a.yaml"}


def test_applying_rules_needs_the_deploy_scope(admin: TestClient) -> None:
    add_service(admin)
    reader = token_for(admin, "reader", ["read"])
    response = admin.put(
        "/api/v1/rules",
        json={"source": RULES},
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert response.status_code == 403
    assert admin.get("/api/v1/rules").json() == []


def test_example_rule_file_in_the_docs_is_valid() -> None:
    example = Path(__file__).parent.parent / "examples" / "alerting" / "shop.rules.yaml"
    assert parse_rule_file(example.read_text()).groups

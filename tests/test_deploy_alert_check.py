"""The verify stage's alert check: a critical alert of the service that started firing after
the deploy fails verification; older ones, other services' and warnings do not."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from fullcycle.alerting.models import Alert, AlertRule
from fullcycle.alerting.records import critical_alerts_fired_since
from fullcycle.deploy.pipeline_spec import Verify
from fullcycle.deploy.verification import Verifier
from fullcycle.store.database import Database, utcnow

DEPLOYED_AT = utcnow()


def firing(database: Database, service: str, name: str, severity: str, minutes: int) -> None:
    """An alert of a rule, firing since `minutes` after the deploy (negative: before it)."""
    with database.session() as session:
        rule = AlertRule(
            service=service,
            name=name,
            kind="metric",
            definition={"expr": "vector(1)"},
            severity=severity,
        )
        session.add(rule)
        session.flush()
        fired_at = DEPLOYED_AT + timedelta(minutes=minutes)
        session.add(
            Alert(
                rule_id=rule.id,
                service=service,
                fingerprint=f"{rule.id:016x}",
                labels={"alertname": name, "severity": severity, "service": service},
                state="firing",
                active_at=fired_at,
                fired_at=fired_at,
                last_seen_at=fired_at,
            )
        )
        session.commit()


def test_only_new_critical_alerts_of_the_service_count(admin: TestClient) -> None:
    database: Database = admin.app.state.database  # type: ignore[attr-defined]
    firing(database, "shop", "ShopDown", "critical", minutes=1)
    firing(database, "shop", "ShopSlow", "warning", minutes=1)
    firing(database, "shop", "ShopWasDown", "critical", minutes=-5)
    firing(database, "billing", "BillingDown", "critical", minutes=1)

    with database.session() as session:
        assert critical_alerts_fired_since(session, "shop", DEPLOYED_AT) == ["ShopDown"]
        assert critical_alerts_fired_since(session, "payments", DEPLOYED_AT) == []


def test_a_new_critical_alert_fails_the_verify_stage(admin: TestClient) -> None:
    database: Database = admin.app.state.database  # type: ignore[attr-defined]
    firing(database, "shop", "CheckoutErrors", "critical", minutes=1)
    lines: list[str] = []

    def new_alerts(service: str) -> Callable[[datetime], list[str]]:
        def since(moment: datetime) -> list[str]:
            with database.session() as session:
                return critical_alerts_fired_since(session, service, moment)

        return since

    failing = Verifier(Verify(bake=0), None, DEPLOYED_AT, lines.append, new_alerts("shop"))
    passing = Verifier(Verify(bake=0), None, DEPLOYED_AT, lines.append, new_alerts("billing"))

    assert asyncio.run(failing.run()).passed is False
    assert "alerts: failed - critical alert firing since the deploy: CheckoutErrors" in lines
    assert asyncio.run(passing.run()).passed is True

"""Alerts as the API and the pages show them: listing, one alert with its delivery log and
suspect deploy, acknowledging and resolving."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.evaluator import resolve
from fullcycle.alerting.models import Alert, AlertRule, Notification, Receiver
from fullcycle.alerting.notify.message import masked
from fullcycle.deploy.models import Deploy

SUSPECT_WINDOW = timedelta(hours=2)
STATES = ("pending", "firing", "resolved")


class AlertRefused(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def list_alerts(db: Session, state: str | None, service: str | None, limit: int) -> list[Alert]:
    query = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if state:
        query = query.where(Alert.state == state)
    if service:
        query = query.where(Alert.service == service)
    return list(db.scalars(query))


def get_alert(db: Session, alert_id: int) -> Alert:
    alert = db.get(Alert, alert_id)
    if alert is None:
        raise AlertRefused(404, f"there is no alert {alert_id}")
    return alert


def acknowledge(db: Session, alert_id: int, actor: str, now: datetime) -> Alert:
    alert = get_alert(db, alert_id)
    if alert.state != "firing":
        raise AlertRefused(
            409, f"alert {alert_id} is {alert.state}; only firing alerts are acknowledged"
        )
    if not alert.acknowledged_at:
        alert.acknowledged_by = actor
        alert.acknowledged_at = now
    return alert


def resolve_by_hand(db: Session, alert_id: int, actor: str, now: datetime) -> Alert:
    alert = get_alert(db, alert_id)
    if alert.state == "resolved":
        raise AlertRefused(409, f"alert {alert_id} is resolved already")
    resolve(db, alert, now, by=actor)
    return alert


def critical_alerts_fired_since(db: Session, service: str, since: datetime) -> list[str]:
    """The names of the service's critical alerts that started firing at or after `since` and
    still fire (what a deploy's verification must not see)."""
    alerts = db.scalars(
        select(Alert).where(
            Alert.service == service, Alert.state == "firing", Alert.fired_at >= since
        )
    )
    return sorted(
        {
            alert.labels.get("alertname", f"alert {alert.id}")
            for alert in alerts
            if alert.labels.get("severity") == "critical"
        }
    )


def suspect_deploy(db: Session, alert: Alert) -> Deploy | None:
    """The last deploy of the alert's service that went live shortly before the alert began."""
    return db.scalar(
        select(Deploy)
        .where(
            Deploy.service == alert.service,
            Deploy.live_at.is_not(None),
            Deploy.live_at <= alert.active_at,
            Deploy.live_at >= alert.active_at - SUSPECT_WINDOW,
        )
        .order_by(Deploy.live_at.desc())
        .limit(1)
    )


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def alert_view(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "service": alert.service,
        "name": alert.labels.get("alertname", ""),
        "severity": alert.labels.get("severity", ""),
        "state": alert.state,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "value": alert.value,
        "fingerprint": alert.fingerprint,
        "active_at": _time(alert.active_at),
        "fired_at": _time(alert.fired_at),
        "resolved_at": _time(alert.resolved_at),
        "resolved_by": alert.resolved_by,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": _time(alert.acknowledged_at),
        "suppressed_by": alert.suppressed_by,
    }


def deliveries(db: Session, alert_id: int) -> list[dict[str, Any]]:
    rows = db.execute(
        select(Notification, Receiver)
        .join(Receiver, Receiver.id == Notification.receiver_id)
        .where(Notification.alert_id == alert_id)
        .order_by(Notification.id)
    )
    return [
        {
            "receiver": receiver.name,
            "kind": receiver.kind,
            "target": masked(receiver.url),
            "event": notification.event,
            "status": notification.status,
            "attempts": notification.attempt_log,
            "sent_at": _time(notification.sent_at),
        }
        for notification, receiver in rows
    ]


def alert_detail(db: Session, alert: Alert) -> dict[str, Any]:
    deploy = suspect_deploy(db, alert)
    rule = db.get(AlertRule, alert.rule_id)
    return {
        **alert_view(alert),
        "rule": rule.name if rule else "",
        "notifications": deliveries(db, alert.id),
        "suspect_deploy": None
        if deploy is None
        else {
            "id": deploy.id,
            "version": deploy.version,
            "actor": deploy.actor,
            "live_at": _time(deploy.live_at),
            "url": f"/deploys/{deploy.id}",
        },
    }

"""Escalation: an alert nobody acknowledges reaches more people as time passes.

Each level of the policy of a team owning the alert's service names receivers and a delay
after the alert began firing. Level notifications are queued like any other (event
`escalation:<round>:<level>`, unique per alert and receiver), so each goes out once however
often, and by however many processes, this runs. Acknowledging or resolving stops it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.models import Alert, EscalationPolicy, Notification, Receiver
from fullcycle.catalog.models import Service, ServiceOwner


def due_steps(
    policy: EscalationPolicy, fired_at: datetime, now: datetime
) -> list[tuple[str, list[str]]]:
    """(event, receiver names) of every level whose time has come."""
    if not policy.levels:
        return []
    round_length = timedelta(minutes=max(level["after_minutes"] for level in policy.levels))
    steps = []
    for round_number in range(policy.repeat + 1):
        round_start = fired_at + round_length * round_number
        for index, level in enumerate(policy.levels):
            if now >= round_start + timedelta(minutes=level["after_minutes"]):
                steps.append((f"escalation:{round_number}:{index}", list(level["receivers"])))
    return steps


def escalation_receivers(db: Session) -> set[str]:
    """Receivers named in an escalation policy are notified only through it."""
    return {
        name
        for levels in db.scalars(select(EscalationPolicy.levels))
        for level in levels
        for name in level["receivers"]
    }


def policies_for(db: Session, service: str) -> list[EscalationPolicy]:
    refs = db.scalars(
        select(ServiceOwner.ref)
        .join(Service, Service.id == ServiceOwner.service_id)
        .where(Service.name == service)
    ).all()
    teams = [ref.removeprefix("group:").split("/")[-1] for ref in refs]
    return list(db.scalars(select(EscalationPolicy).where(EscalationPolicy.team.in_(teams))))


def escalate(db: Session, alert: Alert, now: datetime) -> None:
    """Queue the escalation notifications due for a firing, unacknowledged, unmuted alert."""
    if alert.state != "firing" or alert.acknowledged_at or alert.suppressed_by:
        return
    assert alert.fired_at is not None
    for policy in policies_for(db, alert.service):
        for event, names in due_steps(policy, alert.fired_at, now):
            receivers = db.scalars(select(Receiver.id).where(Receiver.name.in_(names))).all()
            queued = set(
                db.scalars(
                    select(Notification.receiver_id).where(
                        Notification.alert_id == alert.id, Notification.event == event
                    )
                )
            )
            for receiver_id in receivers:
                if receiver_id not in queued:
                    db.add(
                        Notification(
                            alert_id=alert.id,
                            receiver_id=receiver_id,
                            event=event,
                            next_attempt_at=now,
                        )
                    )

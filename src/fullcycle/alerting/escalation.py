"""Escalation: an alert nobody acknowledges reaches more people as time passes.

Each level of the policy of a team owning the alert's service names its targets and a delay
after the alert began firing: receivers, the person on call in schedules, named people, the
whole team. People are reached through their own contact methods (alerting/oncall_people.py),
resolved when the level is reached: whoever is on call then, after rotations and overrides.
Level notifications are queued like any other (event `escalation:<policy>:<round>:<level>`,
unique per alert and receiver), so each goes out once however often, and by however many
processes, this runs. Acknowledging or resolving stops it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.models import Alert, EscalationPolicy, Notification, Receiver
from fullcycle.alerting.oncall_people import contact_receivers, level_people, personal_receivers
from fullcycle.catalog.models import Service, ServiceOwner


def due_steps(
    policy: EscalationPolicy, fired_at: datetime, now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """(event, level) of every level whose time has come."""
    if not policy.levels:
        return []
    round_length = timedelta(minutes=max(level["after_minutes"] for level in policy.levels))
    steps = []
    for round_number in range(policy.repeat + 1):
        round_start = fired_at + round_length * round_number
        for index, level in enumerate(policy.levels):
            if now >= round_start + timedelta(minutes=level["after_minutes"]):
                steps.append((f"escalation:{policy.id}:{round_number}:{index}", level))
    return steps


def escalation_receivers(db: Session) -> set[str]:
    """Receivers notified only through escalation: those named in a policy, and people's own
    contact methods."""
    named = {
        name
        for levels in db.scalars(select(EscalationPolicy.levels))
        for level in levels
        for name in level.get("receivers", [])
    }
    return named | personal_receivers(db)


def policies_for(db: Session, service: str) -> list[EscalationPolicy]:
    refs = db.scalars(
        select(ServiceOwner.ref)
        .join(Service, Service.id == ServiceOwner.service_id)
        .where(Service.name == service)
    ).all()
    teams = [ref.removeprefix("group:").split("/")[-1] for ref in refs]
    return list(db.scalars(select(EscalationPolicy).where(EscalationPolicy.team.in_(teams))))


def level_receivers(db: Session, team: str, level: dict[str, Any], now: datetime) -> list[int]:
    """The receivers a level reaches now: its named receivers and its people's contacts."""
    named = list(
        db.scalars(
            select(Receiver.id).where(
                Receiver.name.in_(level.get("receivers", [])), Receiver.user == ""
            )
        )
    )
    return named + contact_receivers(db, level_people(db, team, level, now))


def escalate(db: Session, alert: Alert, now: datetime) -> None:
    """Queue the escalation notifications due for a firing, unacknowledged, unmuted alert."""
    if alert.state != "firing" or alert.acknowledged_at or alert.suppressed_by:
        return
    assert alert.fired_at is not None
    for policy in policies_for(db, alert.service):
        for event, level in due_steps(policy, alert.fired_at, now):
            reached = select(Notification.id).where(
                Notification.alert_id == alert.id, Notification.event == event
            )
            if db.scalar(reached.limit(1)) is not None:
                continue  # this step went out (to whoever was on call then)
            for receiver_id in dict.fromkeys(level_receivers(db, policy.team, level, now)):
                db.add(
                    Notification(
                        alert_id=alert.id,
                        receiver_id=receiver_id,
                        event=event,
                        next_attempt_at=now,
                    )
                )

"""Grouping notifications per receiver, as Alertmanager groups alerts per route.

The evaluator queues one notification row per alert, receiver and event (it fired, it
resolved, an escalation level was reached). The dispatcher puts each new row in its receiver's
group: the alerts with the same values of the receiver's `group_by` labels. A group is looked
at (`flush`) `group_wait` after its first row arrived, then every `group_interval` while it has
alerts: it is notified when rows are waiting (something changed), or when it still fires
unchanged `repeat_interval` after its last notification. One notification carries every alert
of the group that fires (neither silenced nor acknowledged) and those whose resolution is new.

Every step is a conditional write (insert-or-nothing, update-where-still-idle) or runs under
the group's lease, so several processes and restarts never notify a group twice for one
change."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import ColumnElement, and_, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fullcycle.alerting.models import DEFAULT_GROUP_BY, Alert, AlertGroup, Notification, Receiver
from fullcycle.alerting.rules.spec import duration_seconds

MAX_ASSIGN = 1000
ALL_LABELS = "..."
LABEL_NAME = r"^([A-Za-z_][A-Za-z0-9_]*|\.\.\.)$"


class GroupingIn(BaseModel):
    """A receiver's grouping, as in an Alertmanager route (with its defaults)."""

    model_config = ConfigDict(extra="forbid")

    group_by: list[str] = Field(
        default_factory=lambda: list(DEFAULT_GROUP_BY), min_length=1, max_length=30
    )
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"

    @field_validator("group_by")
    @classmethod
    def label_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not re.fullmatch(LABEL_NAME, name):
                raise ValueError(f"{name!r} is not a label name (or `...` for all labels)")
        return names

    @field_validator("group_wait", "group_interval", "repeat_interval")
    @classmethod
    def duration(cls, text: str) -> str:
        duration_seconds(text)
        return text

    def apply_to(self, receiver: Receiver) -> None:
        """Set the receiver's grouping; the intervals must be at least a second."""
        interval = duration_seconds(self.group_interval)
        repeat = duration_seconds(self.repeat_interval)
        if interval < 1 or repeat < 1:
            raise ValueError("group_interval and repeat_interval must be at least 1s")
        receiver.group_by = list(self.group_by)
        receiver.group_wait_seconds = duration_seconds(self.group_wait)
        receiver.group_interval_seconds = interval
        receiver.repeat_interval_seconds = repeat


def grouping_view(receiver: Receiver) -> dict[str, object]:
    return {
        "group_by": receiver.group_by,
        "group_wait": f"{receiver.group_wait_seconds}s",
        "group_interval": f"{receiver.group_interval_seconds}s",
        "repeat_interval": f"{receiver.repeat_interval_seconds}s",
    }


def group_labels(group_by: list[str], labels: dict[str, str]) -> dict[str, str]:
    """The alert's values of the grouping labels (`...` groups by all labels)."""
    if ALL_LABELS in group_by:
        return dict(labels)
    return {name: labels[name] for name in group_by if name in labels}


def labels_key(labels: dict[str, str]) -> str:
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _in_group(group: AlertGroup) -> ColumnElement[bool]:
    return and_(Notification.receiver_id == group.receiver_id, Notification.group_key == group.key)


def assign_new_notifications(db: Session) -> None:
    """Put queued rows that have no group yet into their receiver's group (made if new)."""
    rows = db.execute(
        select(Notification, Receiver, Alert.labels)
        .join(Receiver, Receiver.id == Notification.receiver_id)
        .join(Alert, Alert.id == Notification.alert_id)
        .where(Notification.status == "pending", Notification.group_key == "")
        .order_by(Notification.id)
        .limit(MAX_ASSIGN)
        .with_for_update(of=Notification, skip_locked=True)  # another process assigns those
    ).all()
    for notification, receiver, labels in rows:
        grouped = group_labels(receiver.group_by, labels)
        notification.group_key = labels_key(grouped)
        _insert_group(db, receiver.id, notification.group_key, grouped)


def _insert_group(db: Session, receiver_id: int, key: str, labels: dict[str, str]) -> None:
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(AlertGroup).values(receiver_id=receiver_id, key=key, labels=labels)
    db.execute(statement.on_conflict_do_nothing())


def wake_idle_groups(db: Session) -> None:
    """A group with nothing to do waits for no time; when rows arrive for it, its first
    look is `group_wait` after the earliest of them was queued."""
    waiting = db.execute(
        select(AlertGroup.id, Receiver.group_wait_seconds, func.min(Notification.next_attempt_at))
        .join(Receiver, Receiver.id == AlertGroup.receiver_id)
        .join(
            Notification,
            and_(
                Notification.receiver_id == AlertGroup.receiver_id,
                Notification.group_key == AlertGroup.key,
            ),
        )
        .where(AlertGroup.next_flush_at.is_(None), Notification.status == "pending")
        .group_by(AlertGroup.id, Receiver.group_wait_seconds)
    ).all()
    for group_id, wait_seconds, queued_at in waiting:
        db.execute(
            update(AlertGroup)
            .where(AlertGroup.id == group_id, AlertGroup.next_flush_at.is_(None))
            .values(next_flush_at=queued_at + timedelta(seconds=wait_seconds))
        )


@dataclass
class Flush:
    """What one look at a group sends: its firing alerts and its new resolutions, and the
    rows whose delivery log records it (none: nothing to send)."""

    firing: list[tuple[Alert, Notification]]
    resolved: list[tuple[Alert, Notification]]
    duplicates: list[Notification]  # more rows of an alert already in `firing`
    still_firing: bool  # whether the group has alerts firing (sent or not)

    @property
    def rows(self) -> list[Notification]:
        return [row for _, row in self.firing + self.resolved] + self.duplicates


def _notifiable(alert: Alert) -> bool:
    return alert.state == "firing" and not alert.suppressed_by and alert.acknowledged_at is None


def _why_dropped(alert: Alert) -> str:
    if alert.state != "firing":
        return "resolved before it was sent"
    if alert.acknowledged_at is not None:
        return f"acknowledged by {alert.acknowledged_by} before it was sent"
    return f"muted ({alert.suppressed_by}) before it was sent"


def _told(db: Session, alert_id: int, receiver_id: int) -> bool:
    """Whether the receiver was sent this alert firing (a resolution goes only then)."""
    sent = select(Notification.id).where(
        Notification.alert_id == alert_id,
        Notification.receiver_id == receiver_id,
        Notification.event != "resolved",
        Notification.status == "sent",
    )
    return db.scalar(select(exists(sent))) is True


def plan_flush(db: Session, group: AlertGroup, receiver: Receiver, now: datetime) -> Flush:
    """Decide what the group's notification holds now; rows of alerts that are no longer to
    be notified (acknowledged, silenced, resolved before they were sent) are dropped."""
    pending = list(
        db.scalars(
            select(Notification)
            .where(_in_group(group), Notification.status == "pending")
            .order_by(Notification.id)
        )
    )
    firing_alerts = list(
        db.scalars(
            select(Alert)
            .where(
                Alert.id.in_(
                    select(Notification.alert_id).where(
                        _in_group(group),
                        Notification.event != "resolved",
                    )
                ),
                Alert.state == "firing",
                Alert.suppressed_by == "",
                Alert.acknowledged_at.is_(None),
            )
            .order_by(Alert.id)
        )
    )
    waiting: dict[int, Notification] = {}
    duplicates: list[Notification] = []
    resolved: list[tuple[Alert, Notification]] = []
    for row in pending:
        alert = db.get_one(Alert, row.alert_id)
        if row.event == "resolved" and _told(db, alert.id, receiver.id):
            resolved.append((alert, row))
        elif row.event != "resolved" and _notifiable(alert):
            if alert.id in waiting:
                duplicates.append(row)
            else:
                waiting[alert.id] = row
        else:
            row.status = "dropped"
            dropped = {"at": now.isoformat(), "outcome": "dropped", "error": _why_dropped(alert)}
            row.attempt_log = [*row.attempt_log, dropped]
    repeat_due = group.last_sent_at is not None and now >= group.last_sent_at + timedelta(
        seconds=receiver.repeat_interval_seconds
    )
    if not waiting and not resolved and not (firing_alerts and repeat_due):
        return Flush([], [], [], bool(firing_alerts))
    event = f"{'update' if waiting or resolved else 'repeat'}:{int(now.timestamp())}"
    firing = []
    for alert in firing_alerts:
        if alert.id not in waiting:
            waiting[alert.id] = Notification(
                alert_id=alert.id,
                receiver_id=receiver.id,
                event=event,
                group_key=group.key,
                next_attempt_at=now,
            )
            db.add(waiting[alert.id])
        firing.append((alert, waiting[alert.id]))
    db.flush()
    firing.sort(key=_by_labels)
    resolved.sort(key=_by_labels)
    return Flush(firing, resolved, duplicates, bool(firing))


def _by_labels(pair: tuple[Alert, Notification]) -> list[tuple[str, str]]:
    """Alerts in a notification are ordered by their labels, as Alertmanager orders them."""
    return sorted(pair[0].labels.items())


def settle_idle(db: Session, group: AlertGroup, has_firing: bool, now: datetime, gap: int) -> None:
    """After a look that sent nothing: look again after `gap` seconds while alerts fire
    (for the repeat), else rest until rows arrive (unless some arrived meanwhile)."""
    if has_firing:
        group.next_flush_at = now + timedelta(seconds=gap)
        return
    waiting = select(Notification.id).where(
        _in_group(group),
        Notification.status == "pending",
    )
    db.execute(
        update(AlertGroup)
        .where(AlertGroup.id == group.id, ~exists(waiting))
        .values(next_flush_at=None)
    )

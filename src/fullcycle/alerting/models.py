"""Alerting tables. Rules name their service by name (like deploys), so that a rule file can be
applied before the service is renamed; alerts and notifications are history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from fullcycle.store.database import Base, UTCDateTime, utcnow


class AlertRule(Base):
    """One rule: a metric expression, a log query, an absence or an anomaly watch."""

    __tablename__ = "alert_rules"
    __table_args__ = (
        UniqueConstraint("service", "name"),
        Index("ix_alert_rules_next_eval_at", "next_eval_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(200))
    group_name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[str] = mapped_column(String(20))  # metric | log | absence
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    interval_seconds: Mapped[int] = mapped_column(Integer, default=60)
    for_seconds: Mapped[int] = mapped_column(Integer, default=0)
    severity: Mapped[str] = mapped_column(String(20), default="warning")
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    next_eval_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_eval_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    leased_by: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Alert(Base):
    """One alert of a rule: a set of labels from pending (or firing) until resolved. When the
    same labels fire again after resolving, that is a new alert."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("rule_id", "fingerprint", "active_at"),
        Index("ix_alerts_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(63))
    fingerprint: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    value: Mapped[float] = mapped_column(Float, default=0.0)
    state: Mapped[str] = mapped_column(String(20))  # pending | firing | resolved
    active_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str] = mapped_column(String(200), default="")
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolved_by: Mapped[str] = mapped_column(String(200), default="")
    suppressed_by: Mapped[str] = mapped_column(String(200), default="")


DEFAULT_GROUP_BY = ["alertname", "service"]


class Receiver(Base):
    """Where notifications go: a channel (`kind`), its target URL and options, and a secret
    (SMTP password, PagerDuty routing key). URLs and secrets are never shown back in full.
    `service` empty: alerts of every service. A receiver with a `user` is one of that person's
    contact methods, reached only through escalation policies.

    Alerts for a receiver are grouped by the values of its `group_by` labels (Alertmanager's
    route settings, with its defaults): a new group waits `group_wait` before its first
    notification, changes are sent at most every `group_interval`, and a group still firing
    unchanged is notified again after `repeat_interval`."""

    __tablename__ = "alert_receivers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)  # people's: @user/label
    kind: Mapped[str] = mapped_column(String(20))  # webhook | slack | email | pagerduty
    url: Mapped[str] = mapped_column(String(2000))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret: Mapped[str] = mapped_column(String(500), default="")
    service: Mapped[str] = mapped_column(String(63), default="")
    user: Mapped[str] = mapped_column(String(100), default="", index=True)
    group_by: Mapped[list[str]] = mapped_column(JSON, default=lambda: list(DEFAULT_GROUP_BY))
    group_wait_seconds: Mapped[int] = mapped_column(Integer, default=30)
    group_interval_seconds: Mapped[int] = mapped_column(Integer, default=5 * 60)
    repeat_interval_seconds: Mapped[int] = mapped_column(Integer, default=4 * 60 * 60)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertGroup(Base):
    """The alerts of one receiver with the same values of its `group_by` labels, and when the
    group is next looked at (`next_flush_at`; none while nothing of it fires or waits). A
    process takes a due group with a lease, as it takes rules."""

    __tablename__ = "alert_groups"
    __table_args__ = (
        UniqueConstraint("receiver_id", "key"),
        Index("ix_alert_groups_next_flush_at", "next_flush_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receiver_id: Mapped[int] = mapped_column(ForeignKey("alert_receivers.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(500))
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    next_flush_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    leased_by: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """One event of an alert (it fired, it resolved, it escalated, it was repeated) for one
    receiver, with its delivery log. Written in the same transaction as the alert's change of
    state; the unique constraint makes a second evaluation of the same change (another
    process, a restart) write none. The dispatcher puts it in its receiver's group
    (`group_key`) and sends it with the group's next notification."""

    __tablename__ = "alert_notifications"
    __table_args__ = (
        UniqueConstraint("alert_id", "receiver_id", "event"),
        Index("ix_alert_notifications_due", "status", "next_attempt_at"),
        Index("ix_alert_notifications_group", "receiver_id", "group_key", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    receiver_id: Mapped[int] = mapped_column(ForeignKey("alert_receivers.id", ondelete="CASCADE"))
    # firing | resolved | escalation:P:R:L | update:<epoch> | repeat:<epoch>
    event: Mapped[str] = mapped_column(String(40))
    group_key: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    leased_by: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ack_token_hash: Mapped[str] = mapped_column(String(64), default="", index=True)
    ack_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Silence(Base):
    """Mutes the notifications of alerts whose labels match every matcher, from start to end."""

    __tablename__ = "alert_silences"
    __table_args__ = (Index("ix_alert_silences_ends_at", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    matchers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The notices of its end are queued (once, by whichever process sees it first).
    expiry_queued: Mapped[bool] = mapped_column(Boolean, default=False)


class SilenceNotice(Base):
    """A short message to a receiver that a silence was created or has expired, with its own
    delivery log (sent like notifications, with the same retries, but never grouped)."""

    __tablename__ = "silence_notices"
    __table_args__ = (
        UniqueConstraint("silence_id", "receiver_id", "event"),
        Index("ix_silence_notices_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    silence_id: Mapped[int] = mapped_column(ForeignKey("alert_silences.id", ondelete="CASCADE"))
    receiver_id: Mapped[int] = mapped_column(ForeignKey("alert_receivers.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(20))  # created | expired
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    leased_by: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OncallSchedule(Base):
    """A team's rotation (alerting/oncall.py computes who is on call from it)."""

    __tablename__ = "oncall_schedules"
    __table_args__ = (UniqueConstraint("team", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(63))
    rotation: Mapped[str] = mapped_column(String(10))  # daily | weekly
    handoff: Mapped[str] = mapped_column(String(5))  # HH:MM local
    timezone: Mapped[str] = mapped_column(String(64))
    start_date: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD local
    participants: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OncallOverride(Base):
    __tablename__ = "oncall_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("oncall_schedules.id", ondelete="CASCADE"), index=True
    )
    user: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EscalationPolicy(Base):
    """A team's escalation: while an alert of a service the team owns fires unacknowledged,
    each level's targets are notified `after_minutes` after it began firing; the whole list
    repeats `repeat` more times (each round starting after the last level's delay). A level
    targets receivers, the person on call in schedules, named people and the whole team."""

    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team: Mapped[str] = mapped_column(String(63), unique=True)
    # [{after_minutes, receivers, schedules, users, team}]
    levels: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

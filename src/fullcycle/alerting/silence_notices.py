"""Telling people that a silence was created and that it has expired.

The notices go to the receivers of the services the silence names (a `service="…"` matcher;
a silence naming no service: the receivers of every service) and to whoever is on call now for
those services, through their own contact methods. PagerDuty receivers get none (the Events
API would open an incident). A notice is a row written with the silence (created) or by the
first process to see it ended (`Silence.expiry_queued`, set by a conditional UPDATE), unique
per silence, receiver and event; rows are sent like notifications, with the same retries and
delivery log, but never grouped."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from fullcycle.alerting.delivery import LEASE, receiver_target, record_attempt
from fullcycle.alerting.escalation import escalation_receivers
from fullcycle.alerting.models import OncallSchedule, Receiver, Silence, SilenceNotice
from fullcycle.alerting.notify import announce
from fullcycle.alerting.notify.message import DeliveryFailed, SilenceMessage, Target
from fullcycle.alerting.oncall_people import contact_receivers, on_call_now
from fullcycle.catalog.models import Service, ServiceOwner
from fullcycle.store.database import Database

log = logging.getLogger("fullcycle.alerting")

MAX_CLAIM = 100


def silenced_services(silence: Silence) -> list[str]:
    return [m["value"] for m in silence.matchers if m["name"] == "service" and m["op"] == "="]


def _owning_teams(db: Session, services: list[str]) -> list[str]:
    refs = db.scalars(
        select(ServiceOwner.ref)
        .join(Service, Service.id == ServiceOwner.service_id)
        .where(Service.name.in_(services))
    )
    return sorted({ref.removeprefix("group:").split("/")[-1] for ref in refs})


def notice_receivers(db: Session, silence: Silence, now: datetime) -> list[int]:
    """The services' receivers and the contact methods of the people on call for them."""
    services = silenced_services(silence)
    scope = Receiver.service == ""
    if services:
        scope = or_(scope, Receiver.service.in_(services))
    direct = list(
        db.scalars(
            select(Receiver.id).where(
                scope,
                Receiver.kind != "pagerduty",
                Receiver.name.not_in(escalation_receivers(db)),
            )
        )
    )
    people = set()
    for team in _owning_teams(db, services):
        for schedule in db.scalars(select(OncallSchedule.name).where(OncallSchedule.team == team)):
            person = on_call_now(db, team, schedule, now)
            if person is not None:
                people.add(person)
    return list(dict.fromkeys(direct + contact_receivers(db, people)))


def queue_notices(db: Session, silence: Silence, event: str, now: datetime) -> None:
    for receiver_id in notice_receivers(db, silence, now):
        db.add(
            SilenceNotice(
                silence_id=silence.id, receiver_id=receiver_id, event=event, next_attempt_at=now
            )
        )


def queue_expiry_notices(db: Session, now: datetime) -> None:
    """Queue the notices of silences that have ended, each silence once."""
    ended = db.scalars(
        select(Silence.id).where(Silence.ends_at <= now, Silence.expiry_queued.is_(False))
    ).all()
    for silence_id in ended:
        taken = db.execute(
            update(Silence)
            .where(Silence.id == silence_id, Silence.expiry_queued.is_(False))
            .values(expiry_queued=True)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            queue_notices(db, db.get_one(Silence, silence_id), "expired", now)


def notices_view(db: Session, silence_id: int) -> list[dict[str, Any]]:
    rows = db.execute(
        select(SilenceNotice, Receiver.name)
        .join(Receiver, Receiver.id == SilenceNotice.receiver_id)
        .where(SilenceNotice.silence_id == silence_id)
        .order_by(SilenceNotice.id)
    )
    return [
        {"receiver": name, "event": n.event, "status": n.status, "attempts": n.attempt_log}
        for n, name in rows
    ]


@dataclass(frozen=True)
class NoticeDelivery:
    notice_id: int
    kind: str
    target: Target
    message: SilenceMessage


def claim_notices(
    database: Database, instance_id: str, base_url: str, relay: Target | None, now: datetime
) -> list[NoticeDelivery]:
    """Queue the notices of silences that ended, then lease the notices due now."""
    with database.session() as db:
        queue_expiry_notices(db, now)
    free = or_(SilenceNotice.lease_until.is_(None), SilenceNotice.lease_until < now)
    due = (SilenceNotice.status == "pending") & (SilenceNotice.next_attempt_at <= now) & free
    deliveries = []
    with database.session() as db:
        candidates = db.scalars(select(SilenceNotice.id).where(due).limit(MAX_CLAIM)).all()
        for notice_id in candidates:
            taken = db.execute(
                update(SilenceNotice)
                .where(SilenceNotice.id == notice_id, due)
                .values(leased_by=instance_id, lease_until=now + LEASE)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                notice = db.get_one(SilenceNotice, notice_id)
                receiver = db.get_one(Receiver, notice.receiver_id)
                message = _message(
                    db.get_one(Silence, notice.silence_id), notice, receiver, base_url
                )
                target = receiver_target(receiver, relay)
                deliveries.append(NoticeDelivery(notice_id, receiver.kind, target, message))
    return deliveries


def _message(
    silence: Silence, notice: SilenceNotice, receiver: Receiver, base_url: str
) -> SilenceMessage:
    return SilenceMessage(
        receiver=receiver.name,
        event=notice.event,
        silence_id=silence.id,
        matchers=list(silence.matchers),
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        created_by=silence.created_by,
        comment=silence.comment,
        url=f"{base_url}/alerts",
        external_url=base_url,
    )


async def send_notice(client: httpx.AsyncClient, delivery: NoticeDelivery) -> str:
    """'' when sent, else why not."""
    try:
        await announce(client, delivery.kind, delivery.target, delivery.message)
    except DeliveryFailed as failure:
        return str(failure)
    except Exception as failure:
        log.exception("silence notice %s failed unexpectedly", delivery.notice_id)
        return f"sending failed: {type(failure).__name__}"
    return ""


def record_notices(
    database: Database,
    instance_id: str,
    deliveries: list[NoticeDelivery],
    errors: list[str],
    now: datetime,
) -> None:
    with database.session() as db:
        for delivery, error in zip(deliveries, errors, strict=True):
            notice = db.get(SilenceNotice, delivery.notice_id)
            if notice is not None and notice.leased_by == instance_id:
                record_attempt(notice, error, now)

"""Sending queued notifications in the background, grouped, each change once, with retries.

The evaluator queues a notification row when an alert fires, resolves or escalates. The
dispatcher puts new rows into their receiver's groups (alerting/grouping.py), then takes due
groups with a conditional UPDATE setting a lease (as the scraper takes targets), sends one
notification per group and records the attempt in the delivery log of every row it carried:
sent, or failed and due again after a backoff that doubles (RETRY_BASE, at most RETRY_MAX)
until MAX_ATTEMPTS. A process dying between sending and recording leaves the lease to run out
and the group is sent again: delivery is at least once, and a receiver may see one repeat only
in that case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fullcycle.alerting.ack_links import issue
from fullcycle.alerting.delivery import (
    LEASE,
    MAX_ATTEMPTS,
    backoff,
    receiver_target,
)
from fullcycle.alerting.evaluator import Clock
from fullcycle.alerting.grouping import (
    Flush,
    assign_new_notifications,
    plan_flush,
    settle_idle,
    wake_idle_groups,
)
from fullcycle.alerting.models import Alert, AlertGroup, Notification, Receiver
from fullcycle.alerting.notify import notify
from fullcycle.alerting.notify.message import AlertItem, DeliveryFailed, Message, Target
from fullcycle.alerting.records import suspect_deploy
from fullcycle.alerting.silence_notices import claim_notices, record_notices, send_notice
from fullcycle.catalog.models import Service, ServiceOwner
from fullcycle.store.database import Database, utcnow

log = logging.getLogger("fullcycle.alerting")

MAX_CLAIM = 100
SEND_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Delivery:
    """One notification of one group: the rows it carries, where and what it sends."""

    group_id: int
    notification_ids: list[int]
    kind: str
    target: Target
    message: Message


def alert_links(base_url: str, alert: Alert) -> dict[str, str]:
    """The alert's page, the service's dashboard, and its logs for the alert's window."""
    start = alert.active_at - timedelta(minutes=15)
    end = alert.resolved_at or alert.last_seen_at
    window = {
        "from": start.isoformat().replace("+00:00", "Z"),
        "to": (end + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
    }
    logs = urlencode({"q": f'service:"{alert.service}"', **window})
    return {
        "alert": f"{base_url}/alerts/{alert.id}",
        "dashboard": f"{base_url}/services/{quote(alert.service)}/dashboard?{urlencode(window)}",
        "logs": f"{base_url}/logs?{logs}",
    }


class NotificationDispatcher:
    def __init__(
        self,
        database: Database,
        instance_id: str,
        base_url: str,
        *,
        clock: Clock = utcnow,
        tick_seconds: float = 1.0,
        mail_relay: Target | None = None,
    ) -> None:
        """`mail_relay` sends the e-mail of people's own contact methods (their receivers
        name an address, not a server)."""
        self.database = database
        self.instance_id = instance_id
        self.base_url = base_url.rstrip("/")
        self.mail_relay = mail_relay
        self.clock = clock
        self.tick_seconds = tick_seconds
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        if self._loop_task is not None:
            return
        self._stopping = asyncio.Event()
        self._loop_task = asyncio.create_task(self._run(), name="notification-dispatcher")

    async def stop(self) -> None:
        if self._loop_task is None:
            return
        self._stopping.set()
        await asyncio.gather(self._loop_task, return_exceptions=True)
        self._loop_task = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=SEND_TIMEOUT_SECONDS, trust_env=False) as client:
            while not self._stopping.is_set():
                try:
                    await self.send_due_once(client)
                except Exception:
                    log.exception("dispatcher: sending due notifications failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.tick_seconds)

    async def send_due_once(self, client: httpx.AsyncClient) -> int:
        """Group new notifications, send every group due now and the silence notices due;
        returns how many groups were sent."""
        now = self.clock()
        deliveries = await run_in_threadpool(self._claim, now)
        outcomes = await asyncio.gather(*(self._send(client, d) for d in deliveries))
        for delivery, error in zip(deliveries, outcomes, strict=True):
            await run_in_threadpool(self._record, delivery, error, self.clock())
        await self._send_notices(client, now)
        return len(deliveries)

    async def _send_notices(self, client: httpx.AsyncClient, now: datetime) -> None:
        notices = await run_in_threadpool(
            claim_notices, self.database, self.instance_id, self.base_url, self.mail_relay, now
        )
        errors = await asyncio.gather(*(send_notice(client, notice) for notice in notices))
        await run_in_threadpool(
            record_notices, self.database, self.instance_id, notices, errors, self.clock()
        )

    async def _send(self, client: httpx.AsyncClient, delivery: Delivery) -> str:
        try:
            await notify(client, delivery.kind, delivery.target, delivery.message)
        except DeliveryFailed as failure:
            return str(failure)
        except Exception as failure:
            log.exception("notification of group %s failed unexpectedly", delivery.group_id)
            return f"sending failed: {type(failure).__name__}"
        return ""

    def _claim(self, now: datetime) -> list[Delivery]:
        with self.database.session() as db:
            assign_new_notifications(db)
            wake_idle_groups(db)
        free = or_(AlertGroup.lease_until.is_(None), AlertGroup.lease_until < now)
        due = (AlertGroup.next_flush_at <= now) & free
        deliveries = []
        with self.database.session() as db:
            candidates = db.scalars(
                select(AlertGroup.id).where(due).order_by(AlertGroup.next_flush_at).limit(MAX_CLAIM)
            ).all()
            for group_id in candidates:
                taken = db.execute(
                    update(AlertGroup)
                    .where(AlertGroup.id == group_id, due)
                    .values(leased_by=self.instance_id, lease_until=now + LEASE)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    delivery = self._look_at(db, db.get_one(AlertGroup, group_id), now)
                    if delivery is not None:
                        deliveries.append(delivery)
        return deliveries

    def _look_at(self, db: Session, group: AlertGroup, now: datetime) -> Delivery | None:
        """The group's notification now, or None (then the group is let go until later)."""
        receiver = db.get_one(Receiver, group.receiver_id)
        flush = plan_flush(db, group, receiver, now)
        if not flush.rows:
            settle_idle(db, group, flush.still_firing, now, receiver.group_interval_seconds)
            group.leased_by = ""
            group.lease_until = None
            return None
        message = self._message(db, receiver, group, flush, now)
        return Delivery(
            group.id,
            [row.id for row in flush.rows],
            receiver.kind,
            receiver_target(receiver, self.mail_relay),
            message,
        )

    def _message(
        self, db: Session, receiver: Receiver, group: AlertGroup, flush: Flush, now: datetime
    ) -> Message:
        items = [self._item(db, alert, "firing", row, now) for alert, row in flush.firing]
        items += [self._item(db, alert, "resolved", row, now) for alert, row in flush.resolved]
        status = "firing" if flush.firing else "resolved"
        return Message(receiver.name, status, items, dict(group.labels), self.base_url)

    def _item(
        self, db: Session, alert: Alert, status: str, notification: Notification, now: datetime
    ) -> AlertItem:
        links = alert_links(self.base_url, alert)
        if status == "firing":
            token = issue(notification, now)
            links["acknowledge"] = f"{self.base_url}/alerts/{alert.id}/ack-link?token={token}"
        deploy = suspect_deploy(db, alert)
        if deploy is not None:
            links["suspect_deploy"] = f"{self.base_url}/deploys/{deploy.id}"
        owners = db.scalars(
            select(ServiceOwner.ref)
            .join(Service, Service.id == ServiceOwner.service_id)
            .where(Service.name == alert.service)
            .order_by(ServiceOwner.position)
        ).all()
        return AlertItem(
            status=status,
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            starts_at=alert.fired_at or alert.active_at,
            ends_at=alert.resolved_at if status == "resolved" else None,
            generator_url=links["alert"],
            fingerprint=alert.fingerprint,
            value=alert.value,
            links=links,
            owners=", ".join(owners),
        )

    def _record(self, delivery: Delivery, error: str, now: datetime) -> None:
        with self.database.session() as db:
            group = db.get(AlertGroup, delivery.group_id)
            if group is None or group.leased_by != self.instance_id:
                return
            receiver = db.get_one(Receiver, group.receiver_id)
            entry = {"at": now.isoformat(), "outcome": "sent" if not error else "failed"}
            rows = db.scalars(
                select(Notification).where(Notification.id.in_(delivery.notification_ids))
            ).all()
            group.attempts = 0 if not error else group.attempts + 1
            gave_up = group.attempts >= MAX_ATTEMPTS
            for notification in rows:
                notification.attempts += 1
                notification.attempt_log = [*notification.attempt_log, {**entry, "error": error}]
                if not error:
                    notification.status = "sent"
                    notification.sent_at = now
                elif gave_up:
                    notification.status = "failed"
            group.leased_by = ""
            group.lease_until = None
            if not error:
                group.last_sent_at = now
            if not error or gave_up:
                group.attempts = 0
                group.next_flush_at = now + timedelta(seconds=receiver.group_interval_seconds)
            else:
                group.next_flush_at = now + backoff(group.attempts)

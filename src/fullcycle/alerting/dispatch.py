"""Sending queued notifications in the background, each once, with retries.

The evaluator queues a notification row when an alert fires or resolves. A process takes due
rows with a conditional UPDATE setting a lease (as the scraper takes targets), sends them,
and records the attempt in the row's delivery log: sent, or failed and due again after a
backoff that doubles (RETRY_BASE, at most RETRY_MAX) until MAX_ATTEMPTS. A process dying
between sending and recording leaves the lease to run out and the notification is sent again:
delivery is at least once, and a receiver may see one repeat only in that case.
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
from fullcycle.alerting.evaluator import Clock
from fullcycle.alerting.models import Alert, Notification, Receiver
from fullcycle.alerting.notify import notify
from fullcycle.alerting.notify.message import AlertItem, DeliveryFailed, Message, Target
from fullcycle.alerting.records import suspect_deploy
from fullcycle.catalog.models import Service, ServiceOwner
from fullcycle.store.database import Database, utcnow

log = logging.getLogger("fullcycle.alerting")

LEASE = timedelta(seconds=60)
RETRY_BASE = timedelta(seconds=5)
RETRY_MAX = timedelta(minutes=10)
MAX_ATTEMPTS = 8
MAX_CLAIM = 100
SEND_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Delivery:
    notification_id: int
    kind: str
    target: Target
    message: Message


def backoff(attempts: int) -> timedelta:
    """The wait before the next attempt after `attempts` failed ones."""
    return min(RETRY_BASE * 2 ** (attempts - 1), RETRY_MAX)


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
    ) -> None:
        self.database = database
        self.instance_id = instance_id
        self.base_url = base_url.rstrip("/")
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
        """Send every notification due now; returns how many were attempted."""
        now = self.clock()
        deliveries = await run_in_threadpool(self._claim, now)
        outcomes = await asyncio.gather(*(self._send(client, d) for d in deliveries))
        for delivery, error in zip(deliveries, outcomes, strict=True):
            await run_in_threadpool(self._record, delivery.notification_id, error, self.clock())
        return len(deliveries)

    async def _send(self, client: httpx.AsyncClient, delivery: Delivery) -> str:
        try:
            await notify(client, delivery.kind, delivery.target, delivery.message)
        except DeliveryFailed as failure:
            return str(failure)
        except Exception as failure:
            log.exception("notification %s failed unexpectedly", delivery.notification_id)
            return f"sending failed: {type(failure).__name__}"
        return ""

    def _claim(self, now: datetime) -> list[Delivery]:
        free = or_(Notification.lease_until.is_(None), Notification.lease_until < now)
        due = (Notification.status == "pending") & (Notification.next_attempt_at <= now) & free
        deliveries = []
        with self.database.session() as db:
            candidates = db.scalars(
                select(Notification.id)
                .where(due)
                .order_by(Notification.next_attempt_at)
                .limit(MAX_CLAIM)
            ).all()
            for notification_id in candidates:
                taken = db.execute(
                    update(Notification)
                    .where(Notification.id == notification_id, due)
                    .values(leased_by=self.instance_id, lease_until=now + LEASE)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    notification = db.get_one(Notification, notification_id)
                    receiver = db.get_one(Receiver, notification.receiver_id)
                    alert = db.get_one(Alert, notification.alert_id)
                    message = self._message(db, receiver, alert, notification, now)
                    target = Target(receiver.url, dict(receiver.options), receiver.secret)
                    deliveries.append(Delivery(notification_id, receiver.kind, target, message))
        return deliveries

    def _message(
        self,
        db: Session,
        receiver: Receiver,
        alert: Alert,
        notification: Notification,
        now: datetime,
    ) -> Message:
        status = "resolved" if notification.event == "resolved" else "firing"  # or escalation
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
        item = AlertItem(
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
        group = {"alertname": alert.labels.get("alertname", ""), "service": alert.service}
        return Message(receiver.name, status, [item], group, self.base_url)

    def _record(self, notification_id: int, error: str, now: datetime) -> None:
        with self.database.session() as db:
            notification = db.get(Notification, notification_id)
            if notification is None or notification.leased_by != self.instance_id:
                return
            notification.attempts += 1
            entry = {"at": now.isoformat(), "outcome": "sent" if not error else "failed"}
            notification.attempt_log = [*notification.attempt_log, {**entry, "error": error}]
            notification.leased_by = ""
            notification.lease_until = None
            if not error:
                notification.status = "sent"
                notification.sent_at = now
            elif notification.attempts >= MAX_ATTEMPTS:
                notification.status = "failed"
            else:
                notification.next_attempt_at = now + backoff(notification.attempts)

"""Acknowledge links inside notifications: single-purpose (they only acknowledge their alert),
expiring (ACK_LINK_LIFETIME), and secret (a random token per notification, kept only as its
SHA-256). Opening the link shows a confirmation page; only its POST acknowledges, so that mail
scanners following links acknowledge nothing."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.models import Notification, Receiver

ACK_LINK_LIFETIME = timedelta(hours=24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(notification: Notification, now: datetime) -> str:
    """A new token for the notification's acknowledge link (the previous one stops working)."""
    token = secrets.token_urlsafe(24)
    notification.ack_token_hash = token_hash(token)
    notification.ack_expires_at = now + ACK_LINK_LIFETIME
    return token


def redeem(db: Session, alert_id: int, token: str, now: datetime) -> str | None:
    """The name of the receiver whose link this is, if the token is valid for this alert now."""
    if not token:
        return None
    row = db.execute(
        select(Notification, Receiver.name)
        .join(Receiver, Receiver.id == Notification.receiver_id)
        .where(Notification.ack_token_hash == token_hash(token), Notification.alert_id == alert_id)
    ).first()
    if row is None:
        return None
    notification, receiver = row
    if notification.ack_expires_at is None or notification.ack_expires_at <= now:
        return None
    return str(receiver)

"""What the two sending paths (grouped alert notifications, silence notices) share: the
lease a process holds while sending, retries with a doubling backoff, and where a receiver's
messages go (people's e-mail contact methods through the server's mail relay)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from fullcycle.alerting.models import Receiver
from fullcycle.alerting.notify.message import Target

LEASE = timedelta(seconds=60)
RETRY_BASE = timedelta(seconds=5)
RETRY_MAX = timedelta(minutes=10)
MAX_ATTEMPTS = 8


class Attempted(Protocol):
    """A row with a delivery log (a silence notice)."""

    status: str
    attempts: int
    attempt_log: list[dict[str, Any]]
    next_attempt_at: datetime
    leased_by: str
    lease_until: datetime | None


def backoff(attempts: int) -> timedelta:
    """The wait before the next attempt after `attempts` failed ones."""
    return min(RETRY_BASE * 2 ** (attempts - 1), RETRY_MAX)


def record_attempt(row: Attempted, error: str, now: datetime) -> None:
    """Log an attempt on the row: sent, or failed and due again after the backoff (failed
    for good after MAX_ATTEMPTS); the lease is let go."""
    row.attempts += 1
    outcome = "sent" if not error else "failed"
    row.attempt_log = [
        *row.attempt_log,
        {"at": now.isoformat(), "outcome": outcome, "error": error},
    ]
    row.leased_by = ""
    row.lease_until = None
    if not error:
        row.status = "sent"
    elif row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
    else:
        row.next_attempt_at = now + backoff(row.attempts)


def receiver_target(receiver: Receiver, mail_relay: Target | None) -> Target:
    """Where the receiver's messages go; a person's e-mail contact method names only an
    address, and goes through the mail relay."""
    if receiver.kind == "email" and not receiver.url and mail_relay is not None:
        return Target(mail_relay.url, {**mail_relay.options, **receiver.options}, mail_relay.secret)
    return Target(receiver.url, dict(receiver.options), receiver.secret)

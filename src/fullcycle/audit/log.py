"""Recording audit events. Call `record` in the same transaction as the write it describes."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.audit.models import AuditEvent
from fullcycle.auth.principal import Principal


def remote_address(request: Request) -> str:
    return request.client.host if request.client else ""


def record(
    db: Session,
    request: Request | None,
    actor: Principal | str,
    action: str,
    target: str = "",
    **details: Any,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor if isinstance(actor, str) else actor.actor,
        action=action,
        target=target,
        remote_addr=remote_address(request) if request is not None else "",
        details=details,
    )
    db.add(event)
    return event


def recent(
    db: Session, limit: int = 100, before_id: int | None = None, action: str | None = None
) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if action:
        query = query.where(AuditEvent.action.startswith(action))
    return list(db.scalars(query))

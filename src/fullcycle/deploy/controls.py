"""The controls people put on deploys (approvals, locks, freeze windows), each with its audit
event: one write path that the API (routes.py) and the web pages (web/pages/deploys.py) share.

Each function changes the session and records the audit event; the caller commits. A refusal is
a DeployRefused with the HTTP status to answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.audit.log import record
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.deploy.freeze import MAX_DURATION_MINUTES, parse_cron, zone
from fullcycle.deploy.models import Deploy, DeployLock, FreezeWindow, ensure_lock_row
from fullcycle.deploy.records import ApprovalIn, DeployRefused, approve
from fullcycle.store.database import utcnow


class FreezeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    service: Annotated[str, Field(max_length=63)] = ""
    environment: Annotated[str, Field(max_length=63)] = ""
    cron: Annotated[str, Field(min_length=1, max_length=100)]
    duration_minutes: Annotated[int, Field(ge=1, le=MAX_DURATION_MINUTES)]
    timezone: Annotated[str, Field(max_length=64)] = "UTC"


def approve_deploy(
    db: Session, request: Request, principal: Principal, deploy: Deploy, body: ApprovalIn
) -> None:
    approve(db, deploy, body, principal.user.name)
    record(
        db,
        request,
        principal,
        "deploy.approve",
        deploy.service,
        id=deploy.id,
        checklist=body.checklist,
        comment=body.comment,
    )


def take_lock(
    db: Session,
    request: Request,
    principal: Principal,
    service: str,
    environment: str,
    reason: str,
) -> DeployLock:
    """Lock a service's environment by hand (say, during an incident): no deploy starts."""
    lock = _lock_row(db, service, environment)
    if lock is None:
        ensure_lock_row(db, service, environment)
        lock = _lock_row(db, service, environment)
        assert lock is not None, "ensure_lock_row made the row or found another's"
    if lock.locked_reason:
        raise DeployRefused(
            409,
            f"{service}/{environment} is already locked by {lock.locked_by}: {lock.locked_reason}",
        )
    lock.locked_by, lock.locked_reason, lock.locked_at = principal.user.name, reason, utcnow()
    record(
        db, request, principal, "deploy_lock.take", service, environment=environment, reason=reason
    )
    return lock


def _lock_row(db: Session, service: str, environment: str) -> DeployLock | None:
    return db.scalar(
        select(DeployLock).where(
            DeployLock.service == service, DeployLock.environment == environment
        )
    )


def release_lock(
    db: Session, request: Request, principal: Principal, service: str, environment: str
) -> None:
    """The one who locked releases; anyone else needs `admin` (breaking it is audited)."""
    lock = db.scalar(
        select(DeployLock).where(
            DeployLock.service == service,
            DeployLock.environment == environment,
            DeployLock.locked_reason != "",
        )
    )
    if lock is None:
        raise DeployRefused(404, f"{service}/{environment} is not locked")
    own = lock.locked_by == principal.user.name
    if not own and not principal.has(Scope.ADMIN):
        raise DeployRefused(
            403, f"the lock is {lock.locked_by}'s: only they or an admin can release it"
        )
    record(
        db,
        request,
        principal,
        "deploy_lock.release" if own else "deploy_lock.break",
        service,
        environment=environment,
        locked_by=lock.locked_by,
        reason=lock.locked_reason,
    )
    lock.locked_by, lock.locked_reason, lock.locked_at = "", "", None


def create_freeze(
    db: Session, request: Request, principal: Principal, body: FreezeIn
) -> FreezeWindow:
    """A freeze window; a cron expression or time zone that does not parse is a 422 naming it."""
    for field, check in (
        ("cron", lambda: parse_cron(body.cron)),
        ("timezone", lambda: zone(body.timezone)),
    ):
        try:
            check()
        except ValueError as error:
            raise DeployRefused(422, f"{field}: {error}") from None
    window = FreezeWindow(**body.model_dump(), created_by=principal.actor)
    db.add(window)
    db.flush()
    record(
        db,
        request,
        principal,
        "freeze.create",
        body.service or "*",
        id=window.id,
        **body.model_dump(),
    )
    return window

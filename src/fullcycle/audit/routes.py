"""GET /api/v1/audit: the audit log, newest first, for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from fullcycle.audit.log import recent
from fullcycle.auth.dependencies import RequireAdmin, get_db

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    remote_addr: str
    details: dict[str, Any]

    model_config = {"from_attributes": True}


@router.get("", response_model=list[AuditEventOut], dependencies=[RequireAdmin])
def list_audit_events(
    limit: int = Query(100, ge=1, le=1000),
    before_id: int | None = Query(None, description="page: events older than this id"),
    action: str | None = Query(
        None, description="only actions starting with this, e.g. 'service.'"
    ),
    db: Session = Depends(get_db),
) -> list[AuditEventOut]:
    return [AuditEventOut.model_validate(e) for e in recent(db, limit, before_id, action)]

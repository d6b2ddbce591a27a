"""/audit: the audit log for admins, newest first, filtered by action prefix, paged by id."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from fullcycle.audit.log import recent
from fullcycle.audit.models import AuditEvent
from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import Principal
from fullcycle.web.pages.access import require_admin
from fullcycle.web.pages.flash import page

router = APIRouter()
PAGE_SIZE = 50


def detail_pairs(event: AuditEvent) -> list[tuple[str, str]]:
    """Details as (key, value) text; strings as they are, everything else as compact JSON."""
    return [
        (key, value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))
        for key, value in sorted(event.details.items())
    ]


@router.get("/audit")
def audit_page(
    request: Request,
    action: str = "",
    before_id: int | None = Query(None, ge=1),
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_admin(principal, "The audit log")
    prefix = action.strip()
    events = recent(db, PAGE_SIZE + 1, before_id, prefix or None)
    has_older = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    context = {
        "nav": "audit",
        "events": [(event, detail_pairs(event)) for event in events],
        "action": prefix,
        "before_id": before_id,
        "older_than": events[-1].id if has_older else None,
    }
    return page(request, "audit/list.html", context)

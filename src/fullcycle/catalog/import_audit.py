"""Audit events for a Backstage import: one per entity created or updated, and one summary."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from fullcycle.audit.log import record
from fullcycle.auth.principal import Principal
from fullcycle.catalog.schemas import ImportReport

# The audit log names entities by what fullcycle calls them ("service"), not by Backstage kind.
AUDIT_NOUN = {"component": "service", "group": "team"}


def record_import(
    db: Session, request: Request, principal: Principal, report: ImportReport
) -> None:
    for action, entities in (("create", report.created), ("update", report.updated)):
        for entity in entities:
            kind, _, name = entity.partition(":")
            noun = AUDIT_NOUN.get(kind, kind)
            record(
                db,
                request,
                principal,
                f"{noun}.{action}",
                name,
                via="catalog.import",
                source=report.source,
            )
    record(db, request, principal, "catalog.import", report.source, **report.counts())

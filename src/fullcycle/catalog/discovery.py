"""Services that announce themselves by sending telemetry before anyone catalogued them.

They are registered without an owner, so the catalog flags them as unowned until a person claims
them; their telemetry is never dropped for being unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.catalog.models import Service

DISCOVERED_ANNOTATION = "fullcycle.dev/discovered-from"
UNKNOWN_SERVICE = "unknown_service"
_NOT_ALLOWED = re.compile(r"[^a-z0-9._-]+")


def catalog_name(raw: str) -> str:
    """The catalog name for a service name as telemetry spells it ('Checkout API' ->
    'checkout-api'): lower case, allowed characters only, at most 63 long."""
    name = _NOT_ALLOWED.sub("-", raw.strip().lower()).strip("-._")[:63].rstrip("-._")
    return name or UNKNOWN_SERVICE


def existing_names(db: Session, names: Iterable[str]) -> set[str]:
    wanted = list(set(names))
    return set(db.scalars(select(Service.name).where(Service.name.in_(wanted))))


def register_discovered(db: Session, names: Iterable[str], source: str) -> list[str]:
    """Create an unowned catalog entry for each name not in the catalog; returns those created."""
    wanted = set(names)
    missing = sorted(wanted - existing_names(db, wanted))
    for name in missing:
        db.add(
            Service(
                name=name,
                title=name,
                description=f"Registered automatically when its first {source} telemetry arrived.",
                lifecycle="production",
                annotations={DISCOVERED_ANNOTATION: source},
                owners=[],
                dependencies=[],
            )
        )
    db.flush()
    return missing

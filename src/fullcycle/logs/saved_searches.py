"""Saved searches: named queries with their time range, shared with the team. Their query and
times are checked like any log request, so a saved search always opens."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.logs.explorer import LogRequestError, log_request
from fullcycle.logs.models import SavedSearch

MAX_NAME = 100


class SavedSearchError(ValueError):
    """Invalid input for a saved search; the message names the field."""


def list_saved_searches(db: Session) -> list[SavedSearch]:
    return list(db.scalars(select(SavedSearch).order_by(SavedSearch.name)))


def find_saved_search(db: Session, search_id: int) -> SavedSearch | None:
    return db.get(SavedSearch, search_id)


def create_saved_search(
    db: Session, name: str, query: str, range_from: str, range_to: str, created_by: str
) -> SavedSearch:
    """Add a saved search; SavedSearchError if the name is empty, too long or taken, or the
    query or range does not parse."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise SavedSearchError(f"name: must be 1 to {MAX_NAME} characters")
    range_from, range_to = range_from.strip() or "now-1h", range_to.strip() or "now"
    if len(range_from) > 64 or len(range_to) > 64:
        raise SavedSearchError("from: times are at most 64 characters")
    try:
        log_request(query, range_from, range_to)
    except LogRequestError as error:
        raise SavedSearchError(error.message) from None
    if db.scalar(select(SavedSearch).where(SavedSearch.name == name)) is not None:
        raise SavedSearchError(f"name: a saved search named {name!r} exists already")
    saved = SavedSearch(
        name=name, query=query, range_from=range_from, range_to=range_to, created_by=created_by
    )
    db.add(saved)
    db.flush()
    return saved

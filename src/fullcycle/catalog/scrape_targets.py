"""Scrape targets: the Prometheus endpoints of a catalog service that fullcycle scrapes.

The JSON shapes and the reads and writes behind the API (`scrape_routes`). Like the rest of the
catalog's service layer, the functions flush but never commit: the caller commits, together with
its audit event. The background scraping itself is in `fullcycle.ingest.scraper`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.catalog.models import ScrapeTarget, Service
from fullcycle.catalog.service import CatalogConflict, CatalogError
from fullcycle.store.database import utcnow

MIN_INTERVAL, MAX_INTERVAL, DEFAULT_INTERVAL = 5, 3600, 30
MIN_TIMEOUT, MAX_TIMEOUT, DEFAULT_TIMEOUT = 1, 60, 10
MAX_LABELS = 32
MAX_LABEL_VALUE = 1024
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Health = Literal["up", "down", "unknown"]


def check_url(value: str) -> str:
    """An http(s) URL with a host and no credentials (every reader of the catalog sees it)."""
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as error:
        raise ValueError(f"{value!r} is not a valid URL: {error}") from error
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{value!r} is not an http(s) URL")
    if not parts.hostname:
        raise ValueError(f"{value!r} has no host")
    if any(char.isspace() for char in value):
        raise ValueError(f"{value!r} contains white space")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "the URL must not contain credentials: every reader of the catalog would see them"
        )
    return value


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels, not {len(labels)}")
    for name, value in labels.items():
        if not LABEL_NAME.match(name):
            raise ValueError(
                f"{name!r} is not a Prometheus label name: use letters, digits and '_', "
                "not starting with a digit"
            )
        if name.startswith("__"):
            raise ValueError(f"label {name!r}: names starting with '__' are reserved")
        if len(value) > MAX_LABEL_VALUE:
            raise ValueError(f"label {name!r}: the value is longer than {MAX_LABEL_VALUE}")
    return labels


TargetUrl = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(check_url)]
Interval = Annotated[int, Field(ge=MIN_INTERVAL, le=MAX_INTERVAL)]
Timeout = Annotated[int, Field(ge=MIN_TIMEOUT, le=MAX_TIMEOUT)]
TargetLabels = Annotated[dict[str, str], AfterValidator(check_labels)]


def _timeout_within_interval(timeout: int | None, info: ValidationInfo) -> int | None:
    interval = info.data.get("interval_seconds")
    if timeout is not None and interval is not None and timeout > interval:
        raise ValueError(
            f"the timeout ({timeout} s) must not be longer than the interval ({interval} s)"
        )
    return timeout


class ScrapeTargetIn(BaseModel):
    """A new scrape target (POST)."""

    model_config = ConfigDict(extra="forbid")

    url: TargetUrl
    interval_seconds: Interval = DEFAULT_INTERVAL
    timeout_seconds: Timeout = DEFAULT_TIMEOUT
    labels: TargetLabels = {}

    _timeout = field_validator("timeout_seconds")(_timeout_within_interval)


class ScrapeTargetUpdate(BaseModel):
    """A change to a scrape target (PUT): fields left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    url: TargetUrl | None = None
    interval_seconds: Interval | None = None
    timeout_seconds: Timeout | None = None
    labels: TargetLabels | None = None

    _timeout = field_validator("timeout_seconds")(_timeout_within_interval)


class ScrapeTargetOut(BaseModel):
    id: int
    service: str
    url: str
    interval_seconds: int
    timeout_seconds: int
    labels: dict[str, str]
    health: Health
    last_scrape_at: datetime | None
    last_duration_ms: float | None
    last_error: str
    last_samples: int
    next_scrape_at: datetime


def health(target: ScrapeTarget) -> Health:
    """'unknown' before the first scrape, then 'down' when the last one failed, else 'up'."""
    if target.last_scrape_at is None:
        return "unknown"
    return "down" if target.last_error else "up"


def target_view(target: ScrapeTarget, service_name: str) -> ScrapeTargetOut:
    return ScrapeTargetOut(
        id=target.id,
        service=service_name,
        url=target.url,
        interval_seconds=target.interval_seconds,
        timeout_seconds=target.timeout_seconds,
        labels=dict(target.labels),
        health=health(target),
        last_scrape_at=target.last_scrape_at,
        last_duration_ms=target.last_duration_ms,
        last_error=target.last_error,
        last_samples=target.last_samples,
        next_scrape_at=target.next_scrape_at,
    )


def list_targets(db: Session, service: Service) -> list[ScrapeTarget]:
    query = (
        select(ScrapeTarget).where(ScrapeTarget.service_id == service.id).order_by(ScrapeTarget.id)
    )
    return list(db.scalars(query))


def get_target(db: Session, service: Service, target_id: int) -> ScrapeTarget | None:
    query = select(ScrapeTarget).where(
        ScrapeTarget.service_id == service.id, ScrapeTarget.id == target_id
    )
    return db.scalar(query)


def _check_url_free(db: Session, service: Service, url: str, except_id: int | None) -> None:
    query = select(ScrapeTarget.id).where(
        ScrapeTarget.service_id == service.id, ScrapeTarget.url == url
    )
    found = db.scalar(query)
    if found is not None and found != except_id:
        raise CatalogConflict(
            "url", f"service {service.name!r} already has a scrape target for {url} (id {found})"
        )


def create_target(db: Session, service: Service, data: ScrapeTargetIn) -> ScrapeTarget:
    """A new target, due at once: its first scrape runs within a second or so."""
    _check_url_free(db, service, data.url, None)
    target = ScrapeTarget(
        service_id=service.id,
        url=data.url,
        interval_seconds=data.interval_seconds,
        timeout_seconds=data.timeout_seconds,
        labels=dict(data.labels),
        next_scrape_at=utcnow(),
        leased_by="",
        lease_until=None,
        last_error="",
        last_samples=0,
    )
    db.add(target)
    db.flush()
    return target


def update_target(
    db: Session, service: Service, target: ScrapeTarget, data: ScrapeTargetUpdate
) -> list[str]:
    """Apply the fields sent; returns the names of those that changed.

    A new URL is scraped at once and its status starts over; a shorter interval takes effect
    at the next scrape at the latest.
    """
    sent = data.model_dump(include=set(data.model_fields_set), exclude_none=True)
    interval = sent.get("interval_seconds", target.interval_seconds)
    timeout = sent.get("timeout_seconds", target.timeout_seconds)
    if timeout > interval:
        field = "timeout_seconds" if "timeout_seconds" in sent else "interval_seconds"
        raise CatalogError(
            field, f"the timeout ({timeout} s) must not be longer than the interval ({interval} s)"
        )
    changed = [name for name, value in sent.items() if getattr(target, name) != value]
    if not changed:
        return []
    now = utcnow()
    if "url" in changed:
        _check_url_free(db, service, sent["url"], target.id)
        target.url = sent["url"]
        target.next_scrape_at = now
        target.leased_by, target.lease_until = "", None
        target.last_scrape_at, target.last_duration_ms = None, None
        target.last_error, target.last_samples = "", 0
    if "interval_seconds" in changed:
        target.interval_seconds = interval
        target.next_scrape_at = min(target.next_scrape_at, now + timedelta(seconds=interval))
    if "timeout_seconds" in changed:
        target.timeout_seconds = timeout
    if "labels" in changed:
        target.labels = dict(sent["labels"])
    db.flush()
    return sorted(changed)


def delete_target(db: Session, target: ScrapeTarget) -> None:
    db.delete(target)
    db.flush()


def target_views(targets: Sequence[ScrapeTarget], service_name: str) -> list[ScrapeTargetOut]:
    return [target_view(target, service_name) for target in targets]

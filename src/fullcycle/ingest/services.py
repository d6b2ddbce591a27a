"""Mapping the service names in incoming telemetry to catalog services.

Names are normalised to catalog names, services the catalog does not know yet are registered
(unowned), and a token limited to one service may send only that service's telemetry.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError

from fullcycle.audit.log import record
from fullcycle.catalog.discovery import catalog_name, existing_names, register_discovered
from fullcycle.store.database import Database
from fullcycle.telemetry.batches import Batch


class ServiceNotAllowed(Exception):
    """The token is limited to another service: 403."""


class KnownServices:
    """Catalog names confirmed recently, so that most requests need no database round trip.

    A confirmation holds for `ttl_seconds`: a service deleted from the catalog while its
    telemetry keeps arriving is registered again within that time, in every process.
    """

    def __init__(self, database: Database, ttl_seconds: float = 30.0) -> None:
        self.database = database
        self.ttl_seconds = ttl_seconds
        self._confirmed: dict[str, float] = {}
        self._lock = threading.Lock()
        self._registering = threading.Lock()

    def ensure(self, names: set[str], source: str) -> None:
        """Register the names the catalog does not have (called from worker threads).

        Concurrent requests naming the same new service register it once: in this process
        registration is serialised; another process registering it at the same moment makes
        our insert fail on the unique name, and then the service simply exists.
        """
        now = time.monotonic()
        unknown = self.unconfirmed(names, now)
        if not unknown:
            return
        with self._registering:
            try:
                found = self._register(unknown, source)
            except IntegrityError:
                with self.database.session() as db:
                    found = existing_names(db, unknown)
        with self._lock:
            self._confirmed.update(dict.fromkeys(found, now))

    def unconfirmed(self, names: set[str], now: float | None = None) -> set[str]:
        """The names not confirmed within the last `ttl_seconds` (no database access, so the
        event loop asks this before handing `ensure` to a thread)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return {
                name
                for name in names
                if now - self._confirmed.get(name, -math.inf) >= self.ttl_seconds
            }

    def _register(self, names: set[str], source: str) -> set[str]:
        with self.database.session() as db:
            created = register_discovered(db, names, source)
            for name in created:
                record(db, None, "fullcycle", "service.discover", name, source=source)
            db.flush()
            return existing_names(db, names)


def normalise_services(batches: Sequence[Batch], allowed: str | None) -> set[str]:
    """Rewrite each batch's service column to catalog names; returns the names present.

    Raises ServiceNotAllowed when `allowed` is set and another service appears.
    """
    present: set[str] = set()
    for batch in batches:
        column = batch.columns["service"]
        mapping = {raw: catalog_name(str(raw)) for raw in set(column)}
        if any(raw != name for raw, name in mapping.items()):
            batch.columns["service"] = [mapping[raw] for raw in column]
        present |= set(mapping.values())
    return check_allowed(present, allowed)


def check_allowed(present: set[str], allowed: str | None) -> set[str]:
    """`present` (catalog names), unless `allowed` is set and another service is among them:
    ServiceNotAllowed."""
    if allowed is not None and present - {allowed}:
        others = ", ".join(sorted(present - {allowed}))
        raise ServiceNotAllowed(
            f"this token may only send telemetry for service {allowed!r}; the request has {others}"
        )
    return present

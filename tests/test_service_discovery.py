"""Services that send telemetry before anyone catalogued them are registered once, unowned,
even when many requests (in one or several processes) bring the same new name at once."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from fullcycle.catalog.discovery import catalog_name
from fullcycle.catalog.models import Service
from fullcycle.ingest.services import KnownServices
from fullcycle.store import migrate
from fullcycle.store.database import Database


def test_catalog_names_from_telemetry_names() -> None:
    assert catalog_name("Fraud Check") == "fraud-check"
    assert catalog_name("  checkout_api.v2 ") == "checkout_api.v2"
    assert catalog_name("---") == "unknown_service"
    assert len(catalog_name("x" * 200)) == 63


def test_concurrent_discovery_registers_each_service_once(database_url: str) -> None:
    migrate.upgrade(database_url)
    database = Database(database_url)
    # Two registries over one database stand for two server processes.
    registries = [KnownServices(database), KnownServices(database)]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def ingest_request(registry: KnownServices) -> None:
        start.wait()
        try:
            registry.ensure({"payments", "ledger"}, "otlp")
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=ingest_request, args=(registries[n % 2],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.session() as db:
        names = db.execute(select(Service.name, func.count()).group_by(Service.name)).all()
        assert all(service.owners == [] for service in db.scalars(select(Service)))
    assert sorted(names) == [("ledger", 1), ("payments", 1)]
    database.dispose()

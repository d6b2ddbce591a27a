"""The background work of fullcycle (scraping today), in one place.

It runs in the server process by default and, at scale, in `fullcycle worker` processes
instead (`FULLCYCLE_BACKGROUND_WORK=false` on the servers). Every kind of work coordinates
through the control-plane database (leases), so any number of processes can run it at once and
each piece of work still runs once. A worker has no telemetry store of its own: it appends
through the server's API (telemetry/remote.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from fullcycle.ingest.scraper import Scraper, default_instance_id
from fullcycle.store.database import Database
from fullcycle.telemetry.sink import TelemetrySink


@dataclass
class BackgroundWork:
    scraper: Scraper

    @classmethod
    def create(cls, database: Database, telemetry: TelemetrySink) -> BackgroundWork:
        return cls(scraper=Scraper(database, telemetry, default_instance_id()))

    async def start(self) -> None:
        await self.scraper.start()

    async def stop(self) -> None:
        await self.scraper.stop()

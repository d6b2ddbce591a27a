"""Appending to a server's telemetry store through its API, for `fullcycle worker` processes.

One process owns a data dir's write-ahead log (and an embedded store); a worker runs background
work (scrapes, …) next to the server and hands the rows it makes to the server's
`POST /api/v1/ingest/batches`, which stores them like any ingest request. It retries while the
server answers 429/503 (or is briefly unreachable), for at most `give_up_after_seconds`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from fullcycle.telemetry.batches import Batch
from fullcycle.telemetry.payloads import encode_batches

BATCHES_PATH = "/api/v1/ingest/batches"
BATCHES_CONTENT_TYPE = "application/x-fullcycle-batches"
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class RemoteAppendFailed(RuntimeError):
    """The server refused the rows, or did not take them in time."""


@dataclass
class RemoteTelemetry:
    url: str
    token: str
    give_up_after_seconds: float = 60.0
    max_retry_wait_seconds: float = 5.0

    async def append(self, batches: Sequence[Batch]) -> None:
        payload = encode_batches(list(batches))
        if not payload:
            return
        deadline = time.monotonic() + self.give_up_after_seconds
        async with httpx.AsyncClient(base_url=self.url, timeout=30, trust_env=False) as client:
            while True:
                wait = await self._try(client, payload)
                if wait is None:
                    return
                if time.monotonic() + wait > deadline:
                    raise RemoteAppendFailed(
                        f"{self.url} did not take the rows within {self.give_up_after_seconds:g} s"
                    )
                await asyncio.sleep(wait)

    async def _try(self, client: httpx.AsyncClient, payload: bytes) -> float | None:
        """None once stored; else how long to wait before the next try."""
        try:
            response = await client.post(
                BATCHES_PATH,
                content=payload,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": BATCHES_CONTENT_TYPE,
                },
            )
        except httpx.TransportError:
            return 1.0
        if response.is_success:
            return None
        if response.status_code in RETRY_STATUSES:
            retry_after = response.headers.get("retry-after", "1")
            seconds = float(retry_after) if retry_after.isdigit() else 1.0
            return min(seconds, self.max_retry_wait_seconds)
        raise RemoteAppendFailed(
            f"{self.url}{BATCHES_PATH} answered {response.status_code}: {response.text[:300]}"
        )

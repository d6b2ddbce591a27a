"""The path every ingest request takes, whatever its protocol.

wait while the store is behind the log (backpressure.py) → read the body → in a worker
process (a small protobuf OTLP logs request, only checked, in the server): decompress, decode,
map services to catalog names and encode the write-ahead-log record (decode_pool.py) → register
new services in the catalog → append to the telemetry store (durable) → answer. Each
protocol's route supplies only its decoder and its response. Errors become 4xx answers through
the handlers in `errors`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from fullcycle.auth.principal import Principal
from fullcycle.ingest.callers import RecentTokens
from fullcycle.ingest.decode_pool import Body, DecodePool
from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.rate_limit import RateLimiter
from fullcycle.ingest.services import KnownServices
from fullcycle.telemetry.store import TelemetryStore


@dataclass
class Ingest:
    """What the ingest routes share; one per app, at `app.state.ingest`."""

    store: TelemetryStore
    known_services: KnownServices
    max_decompressed_bytes: int
    rate_limiter: RateLimiter
    decode_pool: DecodePool
    recent_tokens: RecentTokens = field(default_factory=RecentTokens)

    async def accept(
        self,
        request: Request,
        principal: Principal,
        decode: Callable[[bytes], Decoded],
        source: str,
        compressed_by_protocol: bool = False,
        checks_only: bool = False,
    ) -> Decoded:
        """Decode the request with `decode` and store it; returns once it is durable.

        `compressed_by_protocol`: the format carries its own compression (remote_write and Loki
        protobuf are always snappy), so Content-Encoding is not applied here.
        While the store is behind the log, the request waits before its body is read
        (`TelemetryStore.wait_for_room`).
        """
        await self.store.wait_for_room()
        data = await request.body()
        encoding = None if compressed_by_protocol else request.headers.get("content-encoding", "")
        body = Body(data, encoding, self.max_decompressed_bytes)
        allowed = principal.token.service if principal.token is not None else None
        prepared = await self.decode_pool.prepare(decode, body, allowed, in_process=checks_only)
        decoded = prepared.decoded
        # Refusals that are not the caller's rate do not use up its rate.
        self.store.check_capacity()
        self.rate_limiter.take(_caller_key(principal), decoded.accepted)
        if self.known_services.unconfirmed(prepared.services):
            await run_in_threadpool(self.known_services.ensure, prepared.services, source)
        if decoded.accepted:
            await self.store.append_encoded(prepared.record(data))
        return decoded


def _caller_key(principal: Principal) -> str:
    if principal.token is not None:
        return f"token:{principal.token.id}"
    return f"user:{principal.user.id}"


def ingest_of(request: Request) -> Ingest:
    ingest: Ingest = request.app.state.ingest
    return ingest

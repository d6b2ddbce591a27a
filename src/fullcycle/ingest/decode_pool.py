"""Decoding ingest requests in worker processes, so that ingest uses every core.

Decoding a request and encoding its rows as Arrow is Python work on every record; in the server
process it would share one GIL with HTTP, the write-ahead log and the flusher. Worker processes
take a request's body and hand back the finished write-ahead-log record, so the server process
only moves bytes. The workers are started with `spawn` (never `fork`: the server process runs
threads and an embedded ClickHouse engine): by `warm` when `fullcycle up` starts, so that the
first requests do not wait seconds for them, else on the first request.

A protobuf OTLP logs request without Content-Encoding of up to `IN_PROCESS_MAX_BYTES` is
prepared in the server process instead (`in_process`): it is only parsed and checked (about
1.2 µs a record), which costs less than pickling it to a worker and back (docs/benchmarks.md).

A decoder's refusals (DecodeError, BodyTooLarge, ServiceNotAllowed) travel back from the worker
as the same exceptions. A worker that dies (out of memory, killed) breaks the pool: that request
is answered 503 with Retry-After and the pool is started anew for the next one.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from fullcycle.catalog.discovery import catalog_name
from fullcycle.ingest.compression import decompress
from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.services import check_allowed, normalise_services
from fullcycle.telemetry import protobuf_logs
from fullcycle.telemetry.group_commit import Overloaded
from fullcycle.telemetry.payloads import PROTOBUF_LOGS, encode_batches, encode_part

# The largest request prepared in the server process: about 3,000 log records, 4 ms of the event
# loop (40 ms should it carry fields that make it decoded in Python).
IN_PROCESS_MAX_BYTES = 1 << 20


@dataclass
class PreparedWrite:
    """A decoded request ready for the write-ahead log: `decoded` without its batches (they are
    in `payload`), and the catalog names of the services it carries.

    `body_at`: where the request's body, as the server received it, belongs in `payload` (a
    protobuf OTLP logs request without Content-Encoding is kept as it arrived: the worker does
    not send its bytes back); None when `payload` is whole.
    """

    decoded: Decoded
    services: set[str]
    payload: bytes
    body_at: int | None = None

    def record(self, body: bytes) -> bytes:
        """The write-ahead-log record, given the body the server received."""
        if self.body_at is None:
            return self.payload
        return b"".join([self.payload[: self.body_at], body, self.payload[self.body_at :]])


@dataclass(frozen=True)
class Body:
    """A request body and how to undo its Content-Encoding (None: the format compresses
    itself, as remote_write and Loki protobuf do)."""

    data: bytes
    content_encoding: str | None
    max_decompressed_bytes: int


def prepare_write(
    decode: Callable[[bytes], Decoded],
    body: Body,
    allowed_service: str | None,
    in_worker: bool = True,
) -> PreparedWrite:
    """decompress → decode → map services to catalog names → encode the WAL record (a protobuf
    OTLP logs request is kept as it is, with its services: telemetry/protobuf_logs.py).
    `in_worker`: leave the body out of what travels back to the server, which has it."""
    data = body.data
    if body.content_encoding is not None:
        data = decompress(data, body.content_encoding, body.max_decompressed_bytes)
    decoded = decode(data)
    kept = decoded.protobuf_logs
    if kept is not None:
        names = [catalog_name(service) for service in kept.services]
        present = {catalog_name(service) for service in kept.services_with_records}
        services = check_allowed(present, allowed_service)
        record = protobuf_logs.encode_record(
            kept.request, kept.received_ns, names, decoded.accepted
        )
        decoded.protobuf_logs = None
        payload = encode_part(PROTOBUF_LOGS, record)
        if kept.request is not body.data or not in_worker:
            return PreparedWrite(decoded, services, payload)
        # The server has these bytes: leave them out of what travels back from the worker.
        at = payload.index(kept.request)
        return PreparedWrite(
            decoded, services, payload[:at] + payload[at + len(kept.request) :], at
        )
    services = normalise_services(decoded.batches, allowed_service)
    payload = encode_batches(decoded.batches)
    decoded.batches = []
    return PreparedWrite(decoded, services, payload)


# What a worker imports to decode any protocol's request; `warm` has them imported up front.
_DECODERS = tuple(
    f"fullcycle.ingest.{name}"
    for name in ("otlp", "loki", "remote_write", "elastic_bulk", "ndjson_logs", "table_batches")
)


def import_decoders() -> None:
    for module in _DECODERS:
        importlib.import_module(module)


def exit_with_parent(parent_pid: int) -> None:
    """Run in each worker: a watcher thread ends the worker once the server process is gone
    (killed with -9, a worker would otherwise live on, blocked on its empty queue)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@dataclass
class DecodePool:
    """`workers` processes (0: a thread of the server process) running `prepare_write`."""

    workers: int
    _executor: Executor | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def prepare(
        self,
        decode: Callable[[bytes], Decoded],
        body: Body,
        allowed_service: str | None,
        *,
        in_process: bool = False,
    ) -> PreparedWrite:
        """`in_process`: `decode` only checks (a protobuf OTLP logs request): run it here when
        the body is small and not compressed."""
        if in_process and not body.content_encoding and len(body.data) <= IN_PROCESS_MAX_BYTES:
            return prepare_write(decode, body, allowed_service, in_worker=False)
        executor = self._current()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                executor, prepare_write, decode, body, allowed_service
            )
        except BrokenProcessPool as error:
            self._replace(executor)
            raise Overloaded(
                "a decoding worker stopped; retry shortly", retry_after=1, status_code=503
            ) from error

    def warm(self) -> None:
        """Start the worker processes now, in the background, each importing the decoders.

        (The executor starts a process per task submitted while none is idle, so one task per
        worker starts them all.)"""
        executor = self._current()
        if isinstance(executor, ProcessPoolExecutor):
            for _ in range(self.workers):
                executor.submit(import_decoders)

    def _current(self) -> Executor:
        with self._lock:
            if self._executor is None:
                self._executor = self._new_executor()
            return self._executor

    def _new_executor(self) -> Executor:
        if self.workers == 0:
            return ThreadPoolExecutor(max_workers=4, thread_name_prefix="ingest-decode")
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        )

    def _replace(self, broken: Executor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

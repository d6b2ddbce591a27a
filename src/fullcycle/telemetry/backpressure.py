"""Backpressure: while the store is behind the log, ingest answers later instead of taking more.

Accepting a request (reading, checking, writing it into the write-ahead log) takes CPU that the
flusher's inserts into ClickHouse need. Under sustained load the server accepted far more than
the store took, the log grew until the hard limit (503), and what it had acknowledged was not
searchable for tens of seconds. So once more than a soft limit of acknowledged data waits for
the store, a new request waits before it is read, without using CPU (an asyncio future the
flusher resolves when it has moved the log on), and for a bounded time: clients that send one
request at a time (OTel SDK exporters, Prometheus, shippers) slow down to the store's pace.

Nothing about durability changes: a request that waited is then handled as any other (2xx only
once its data is fsynced in the log; the hard limit's 503 still applies). The wait happens
before the body is read, so a client that gives up meanwhile has sent nothing that is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class BacklogGate:
    """Holds new requests back while more than `soft_limit_bytes` wait for the store.

    `backlog_bytes` says how far the store is behind the log; `hurry` asks the flusher to
    insert now rather than at its next interval. The flusher calls `backlog_shrank` each time
    it has moved its checkpoint. Over `hard_limit_bytes` nothing is held: the request is
    refused (503) at once, as without backpressure.
    """

    backlog_bytes: Callable[[], int]
    hurry: Callable[[], None]
    soft_limit_bytes: int
    hard_limit_bytes: int
    max_wait_seconds: float
    _waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = field(
        default_factory=list
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _open: bool = False

    def _behind(self) -> bool:
        backlog = self.backlog_bytes()
        return not self._open and self.soft_limit_bytes < backlog <= self.hard_limit_bytes

    async def wait_for_room(self) -> None:
        """Return at once while the store keeps up; else when it has caught up to the soft
        limit, or after `max_wait_seconds` (the request is then taken as usual)."""
        if not self._behind():
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_seconds
        while self._behind() and (remaining := deadline - loop.time()) > 0:
            waiter = (loop, loop.create_future())
            with self._lock:
                self._waiters.append(waiter)
            if self._behind():  # else the flusher moved on while this registered
                self.hurry()
                with contextlib.suppress(TimeoutError):  # held long enough: go on
                    await asyncio.wait_for(waiter[1], remaining)
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def backlog_shrank(self) -> None:
        """Let the held requests go once the backlog is under the soft limit (called from the
        flusher's thread)."""
        if self._behind():
            return
        self._release_all()

    def open(self) -> None:
        """Hold nothing any more (the store is closing: held requests go on to be refused)."""
        self._open = True
        self._release_all()

    def _release_all(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_release, future)


def _release(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)

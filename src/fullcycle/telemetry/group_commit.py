"""Group commit: many requests' records written and fsynced together by one thread.

Request handlers hand their encoded records to `submit` and wait; the writer thread takes
everything queued, writes it, fsyncs once and then answers all of them. One fsync serves a whole
group, so throughput grows with load instead of being capped by the disk's fsync rate.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field

from fullcycle.telemetry.wal import Position, SegmentWriter


class Overloaded(Exception):
    """The write path is saturated; the client should retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int, status_code: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status_code = status_code


@dataclass
class _Pending:
    payload: bytes
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Position]


@dataclass
class GroupCommitWriter:
    writer: SegmentWriter
    durable: bool
    max_queued_bytes: int
    _queue: deque[_Pending] = field(default_factory=deque)
    _queued_bytes: int = 0
    _condition: threading.Condition = field(default_factory=threading.Condition)
    _stopping: bool = False
    _thread: threading.Thread | None = None
    durable_position: Position = field(init=False)

    def __post_init__(self) -> None:
        self.durable_position = self.writer.position

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wal-writer", daemon=True)
        self._thread.start()

    async def submit(self, payload: bytes) -> Position:
        """Returns once `payload` is on disk; raises Overloaded when too much is queued."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Position] = loop.create_future()
        with self._condition:
            if self._stopping:
                raise Overloaded("the server is shutting down", retry_after=5, status_code=503)
            if self._queued_bytes + len(payload) > self.max_queued_bytes and self._queue:
                raise Overloaded(
                    "too many writes are waiting for the disk", retry_after=1, status_code=429
                )
            self._queue.append(_Pending(payload, loop, future))
            self._queued_bytes += len(payload)
            self._condition.notify()
        return await future

    def _take_group(self) -> list[_Pending] | None:
        with self._condition:
            while not self._queue and not self._stopping:
                self._condition.wait()
            if not self._queue:
                return None
            group = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            return group

    def _run(self) -> None:
        while (group := self._take_group()) is not None:
            try:
                self.writer.write([pending.payload for pending in group])
                position = self.writer.sync(self.durable)
            except OSError as error:
                for pending in group:
                    pending.loop.call_soon_threadsafe(_fail, pending.future, error)
                continue
            self.durable_position = position
            for pending in group:
                pending.loop.call_soon_threadsafe(_succeed, pending.future, position)

    def stop(self) -> None:
        """Write what is queued, then stop and close the segment."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        if self._thread is not None:
            self._thread.join()
        self.writer.close()


def _succeed(future: asyncio.Future[Position], position: Position) -> None:
    if not future.done():
        future.set_result(position)


def _fail(future: asyncio.Future[Position], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)

"""Where background work puts the rows it makes: the store itself in the server process, the
server's API in a `fullcycle worker` (remote.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fullcycle.telemetry.batches import Batch


class TelemetrySink(Protocol):
    async def append(self, batches: Sequence[Batch]) -> object:
        """Returns once the rows are durable."""
        ...

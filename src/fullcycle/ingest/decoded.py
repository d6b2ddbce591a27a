"""What a decoder hands back to the route: the batches to store and the partial-success count."""

from __future__ import annotations

from dataclasses import dataclass

from fullcycle.telemetry.batches import Batch


@dataclass
class Decoded:
    """Batches built from one request.

    `rejected` and `message` carry records that could not be stored (OTLP partial success, or
    Elasticsearch bulk per-item errors); `accepted` counts the records that are in `batches`.
    """

    batches: list[Batch]
    accepted: int
    rejected: int = 0
    message: str = ""

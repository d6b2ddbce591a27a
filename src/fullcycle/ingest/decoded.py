"""What a decoder hands back to the route: the batches to store and the partial-success count."""

from __future__ import annotations

from dataclasses import dataclass

from fullcycle.telemetry.batches import Batch


@dataclass(frozen=True)
class ProtobufLogs:
    """An OTLP logs request kept as protobuf (otlp_logs.decode_logs_for_wal): its bytes, when it
    arrived, each resource's service name as sent, and the services that have records."""

    request: bytes
    received_ns: int
    services: list[str]
    services_with_records: set[str]


@dataclass
class Decoded:
    """Batches built from one request.

    `rejected` and `message` carry records that could not be stored (OTLP partial success, or
    Elasticsearch bulk per-item errors); `accepted` counts the records that are in `batches`,
    or in `protobuf_logs` (a protobuf OTLP logs request, stored as it is).
    """

    batches: list[Batch]
    accepted: int
    rejected: int = 0
    message: str = ""
    protobuf_logs: ProtobufLogs | None = None

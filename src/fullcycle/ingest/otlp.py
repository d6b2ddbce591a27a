"""OTLP/HTTP: decoders for the three signals and the Export*ServiceResponse the route answers with.

The decoders live in one module per signal; this is where the routes import them from.
"""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from fullcycle.ingest.otlp_common import JSON, encoding_of
from fullcycle.ingest.otlp_logs import decode_logs, decode_logs_for_wal
from fullcycle.ingest.otlp_metrics import decode_metrics
from fullcycle.ingest.otlp_traces import decode_traces

__all__ = [
    "decode_logs",
    "decode_logs_for_wal",
    "decode_metrics",
    "decode_traces",
    "encode_export_response",
]

# Per signal: the response message and its partial-success counter.
_RESPONSES: dict[str, tuple[type[Message], str]] = {
    "logs": (ExportLogsServiceResponse, "rejected_log_records"),
    "metrics": (ExportMetricsServiceResponse, "rejected_data_points"),
    "traces": (ExportTraceServiceResponse, "rejected_spans"),
}


def encode_export_response(signal: str, content_type: str, rejected: int, message: str) -> bytes:
    """The Export<Signal>ServiceResponse for `signal` ("logs", "metrics" or "traces").

    Encoded like the request (`content_type` is the request's), with `partial_success` only when
    records were rejected. In JSON the 64-bit counter is a string, as OTLP JSON has it.
    """
    response_class, rejected_field = _RESPONSES[signal]
    response = response_class()
    if rejected > 0:
        partial_success = getattr(response, "partial_success")  # noqa: B009
        setattr(partial_success, rejected_field, rejected)
        partial_success.error_message = message
    if encoding_of(content_type) == JSON:
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()

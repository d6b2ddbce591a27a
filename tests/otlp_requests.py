"""Protobuf OTLP request bodies as the OpenTelemetry SDK's exporters send them."""

from __future__ import annotations

import time

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource


def _attributes(values: dict[str, str]) -> list[KeyValue]:
    return [KeyValue(key=key, value=AnyValue(string_value=value)) for key, value in values.items()]


def protobuf_logs(service: str, records: list[tuple[str, dict[str, str]]]) -> bytes:
    """A logs request of `service`: one INFO record per (body, attributes), stamped now."""
    now = time.time_ns()
    log_records = [
        LogRecord(
            time_unix_nano=now,
            severity_number=9,
            severity_text="INFO",
            body=AnyValue(string_value=body),
            attributes=_attributes(attributes),
        )
        for body, attributes in records
    ]
    resource = Resource(attributes=_attributes({"service.name": service}))
    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=log_records)])
        ]
    )
    return request.SerializeToString()

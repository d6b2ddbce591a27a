"""OTLP logs (`POST /v1/logs`) into rows of the logs table."""

from __future__ import annotations

import time

from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from fullcycle.ingest.decoded import Decoded, ProtobufLogs
from fullcycle.ingest.errors import DecodeError
from fullcycle.ingest.otlp_common import (
    MAX_TIMESTAMP_NS,
    PROTOBUF,
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    ZERO_SPAN_ID,
    ZERO_TRACE_ID,
    IdFields,
    ResourceInfo,
    any_value_text,
    attribute_map,
    check_timestamp,
    encoding_of,
    hex_id,
    parse_request,
)
from fullcycle.telemetry.batches import LogBatch

LOG_ID_FIELDS = IdFields(
    children={
        "resourceLogs": IdFields(
            children={
                "scopeLogs": IdFields(children={"logRecords": IdFields(ids=("traceId", "spanId"))})
            }
        )
    }
)

_SEVERITY_RANGES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
# Severity text by number for records that send only the number: 1-4 TRACE ... 21-24 FATAL.
SEVERITY_TEXTS = ("", *(name for name in _SEVERITY_RANGES for _ in range(4)))
MAX_SEVERITY_NUMBER = len(SEVERITY_TEXTS) - 1


def decode_logs(body: bytes, content_type: str, *, received_ns: int | None = None) -> Decoded:
    """An ExportLogsServiceRequest (protobuf or OTLP JSON) as a LogBatch.

    A record without a time takes its observed time, and without either the receive time
    (`received_ns`, now by default), which also stands in for a missing observed time.
    """
    request = parse_request(body, content_type, ExportLogsServiceRequest, LOG_ID_FIELDS)
    return logs_from_request(request, time.time_ns() if received_ns is None else received_ns)


def decode_logs_for_wal(
    body: bytes, content_type: str, *, received_ns: int | None = None
) -> Decoded:
    """`decode_logs` for ingest: a protobuf request is only checked, and kept as it is.

    The request is parsed (upb, C speed) and every record passes the cheap test of
    `logs_from_request`; the answer is the one `decode_logs` gives (a record that fails the test
    is decoded by it, to name what is wrong). The rows are made from the kept bytes by
    ClickHouse at flush (telemetry/protobuf_logs.py). OTLP JSON is decoded by `decode_logs`.
    """
    received = time.time_ns() if received_ns is None else received_ns
    if encoding_of(content_type) != PROTOBUF:
        return decode_logs(body, content_type, received_ns=received)
    request = parse_request(body, content_type, ExportLogsServiceRequest, LOG_ID_FIELDS)
    if len(UnknownFieldSet(request)):
        # Fields fullcycle does not know at the top, where it appends its own for the flusher.
        return logs_from_request(request, received)
    services: list[str] = []
    with_records: set[str] = set()
    accepted = 0
    for resource_logs in request.resource_logs:
        service = ResourceInfo.of(resource_logs.resource).service
        services.append(service)
        for scope_logs in resource_logs.scope_logs:
            records = scope_logs.log_records
            for record in records:
                if (
                    record.time_unix_nano > MAX_TIMESTAMP_NS
                    or record.observed_time_unix_nano > MAX_TIMESTAMP_NS
                    or not 0 <= record.severity_number <= MAX_SEVERITY_NUMBER
                    or len(record.trace_id) not in _TRACE_ID_LENGTHS
                    or len(record.span_id) not in _SPAN_ID_LENGTHS
                ):
                    return logs_from_request(request, received)
            if records:
                accepted += len(records)
                with_records.add(service)
    logs = ProtobufLogs(body, received, services, with_records)
    return Decoded(batches=[], accepted=accepted, protobuf_logs=logs)


_TRACE_ID_LENGTHS = (0, TRACE_ID_BYTES)
_SPAN_ID_LENGTHS = (0, SPAN_ID_BYTES)


def logs_from_request(request: ExportLogsServiceRequest, received_ns: int) -> Decoded:
    """The rows of a parsed request; resource-wide columns are worked out once per resource.

    This loop is the hot path of log ingest: fields are read straight off the protobuf objects,
    and an ordinary record passes one cheap test; only an unusual one is checked field by field,
    to name what is wrong.
    """
    batch = LogBatch()
    # One bound `append` per column (LogBatch.add's keywords cost a fifth of this loop).
    (
        timestamps,
        observed_timestamps,
        services,
        environments,
        hosts,
        severity_texts_column,
        severity_numbers,
        bodies,
        trace_ids,
        span_ids,
        scopes,
        resource_attributes,
        attributes,
    ) = batch.column_appenders()
    severity_texts = SEVERITY_TEXTS
    for resource_index, resource_logs in enumerate(request.resource_logs):
        resource = ResourceInfo.of(resource_logs.resource)
        for scope_index, scope_logs in enumerate(resource_logs.scope_logs):
            scope = scope_logs.scope.name
            for record_index, record in enumerate(scope_logs.log_records):
                time_ns = record.time_unix_nano
                observed_ns = record.observed_time_unix_nano
                severity_number = record.severity_number
                trace = record.trace_id
                span = record.span_id
                if (
                    time_ns > MAX_TIMESTAMP_NS
                    or observed_ns > MAX_TIMESTAMP_NS
                    or not 0 <= severity_number <= MAX_SEVERITY_NUMBER
                    or len(trace) != TRACE_ID_BYTES
                    or len(span) != SPAN_ID_BYTES
                ):
                    path = (
                        f"resourceLogs[{resource_index}].scopeLogs[{scope_index}]"
                        f".logRecords[{record_index}]"
                    )
                    trace_id, span_id = _checked_fields(record, path)
                else:
                    trace_id = trace.hex() if trace != ZERO_TRACE_ID else ""
                    span_id = span.hex() if span != ZERO_SPAN_ID else ""
                body_value = record.body
                timestamps(time_ns or observed_ns or received_ns)
                observed_timestamps(observed_ns or received_ns)
                services(resource.service)
                environments(resource.environment)
                hosts(resource.host)
                severity_texts_column(record.severity_text or severity_texts[severity_number])
                severity_numbers(severity_number)
                bodies(body_value.string_value or any_value_text(body_value))
                trace_ids(trace_id)
                span_ids(span_id)
                scopes(scope)
                resource_attributes(resource.attributes)
                attributes(attribute_map(record.attributes))
    return Decoded(batches=[batch], accepted=len(batch))


def _checked_fields(record: LogRecord, path: str) -> tuple[str, str]:
    """The record's ids once its out-of-the-ordinary fields are checked (absent ids are fine)."""
    check_timestamp(record.time_unix_nano, f"{path}.timeUnixNano")
    check_timestamp(record.observed_time_unix_nano, f"{path}.observedTimeUnixNano")
    if not 0 <= record.severity_number <= MAX_SEVERITY_NUMBER:
        raise DecodeError(
            f"{path}.severityNumber: expected 0 to {MAX_SEVERITY_NUMBER}, "
            f"got {record.severity_number}"
        )
    return (
        hex_id(record.trace_id, TRACE_ID_BYTES, f"{path}.traceId"),
        hex_id(record.span_id, SPAN_ID_BYTES, f"{path}.spanId"),
    )

"""Write-ahead-log records of OTLP logs requests kept as protobuf, as the ingest path makes them
(`decode_logs_for_wal` → `prepare_write`), for the crash programs."""

import time
from functools import partial

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from fullcycle.ingest.decode_pool import Body, prepare_write
from fullcycle.ingest.otlp import decode_logs_for_wal


def protobuf_record(bodies: list[str], attributes: dict[str, str] | None = None) -> bytes:
    """A record of one request from service `shop` with a log record per body."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="shop"))
    )
    records = resource_logs.scope_logs.add().log_records
    for body in bodies:
        record = records.add(time_unix_nano=time.time_ns())
        record.body.string_value = body
        for key, value in {**(attributes or {}), "body": body}.items():
            record.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    decode = partial(decode_logs_for_wal, content_type="application/x-protobuf")
    data = request.SerializeToString()
    return prepare_write(decode, Body(data, None, 1 << 30), None).record(data)

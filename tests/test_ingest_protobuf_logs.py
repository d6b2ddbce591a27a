"""Protobuf OTLP logs kept in the write-ahead log and decoded by ClickHouse at flush store exactly
the rows the Python decoder stores for the same request, column by column; what ClickHouse cannot
render the same way is decoded in Python; requests are refused exactly as before. (Crashes with
both kinds of record in the log: tests/test_telemetry_store.py.)

Each case goes through both paths into one real store (the Python path as the ingest workers
ran it before: decode, catalog service names, Arrow record), and the rows of the two inserts
are compared.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import math
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource as SdkResource

from fullcycle.ingest.decode_pool import Body, prepare_write
from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.errors import DecodeError
from fullcycle.ingest.otlp import decode_logs, decode_logs_for_wal
from fullcycle.ingest.services import normalise_services
from fullcycle.telemetry import protobuf_logs
from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.payloads import PROTOBUF_LOGS, decode_parts, encode_batches, encode_part
from fullcycle.telemetry.store import StoreOptions, TelemetryStore
from fullcycle.telemetry.tables import LOGS

PROTOBUF = "application/x-protobuf"
# Recent times: rows older than the logs' retention would be dropped on insert.
TIME_NS = (time.time_ns() // 10**9 - 3600) * 10**9 + 250_000_123
RECEIVED_NS = TIME_NS + 60 * 10**9 + 456_789
FIXTURES = Path(__file__).parent / "fixtures" / "otlp"
SHARED_FIXTURES = Path(__file__).parents[2] / "shared" / "fixtures" / "real-clients"


def _text(value: str) -> AnyValue:
    return AnyValue(string_value=value)


def _attribute(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def _request(
    records: list[LogRecord],
    resource: list[KeyValue] | None = None,
    scope: str = "com.example.shop",
) -> bytes:
    attributes = resource if resource is not None else [_attribute("service.name", _text("shop"))]
    scope_logs = ScopeLogs(log_records=records)
    scope_logs.scope.name = scope
    resource_logs = ResourceLogs(resource=Resource(attributes=attributes), scope_logs=[scope_logs])
    return ExportLogsServiceRequest(resource_logs=[resource_logs]).SerializeToString()


def _record(**fields: Any) -> LogRecord:
    defaults: dict[str, Any] = {
        "time_unix_nano": TIME_NS,
        "observed_time_unix_nano": TIME_NS + 1_000,
        "severity_number": 9,
        "severity_text": "INFO",
        "body": _text("order 17 shipped"),
        "trace_id": bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
        "span_id": bytes.fromhex("b7ad6b7169203331"),
    }
    return LogRecord(**{**defaults, **fields})


# Values whose text ClickHouse renders as the Python decoder does.
NATIVE_VALUES = {
    "string": _text("GET"),
    "empty string": _text(""),
    "unicode": _text("Zürich → 東京 🚀"),
    "int": AnyValue(int_value=404),
    "int zero": AnyValue(int_value=0),
    "int negative": AnyValue(int_value=-(2**63)),
    "bool true": AnyValue(bool_value=True),
    "bool false": AnyValue(bool_value=False),
    "double": AnyValue(double_value=60.41817215137076),
    "double zero": AnyValue(double_value=0.0),
    "double negative zero": AnyValue(double_value=-0.0),
    "double whole": AnyValue(double_value=1.0),
    "double tenth": AnyValue(double_value=0.1),
    "double small": AnyValue(double_value=0.0001),
    "double large": AnyValue(double_value=9999999999999998.0),
    "double third": AnyValue(double_value=1 / 3),
    "bytes": AnyValue(bytes_value=b"\x00\xffbinary"),
    "bytes empty": AnyValue(bytes_value=b""),
    "no value": AnyValue(),
}
# Values the flusher leaves to the Python decoder.
PYTHON_VALUES = {
    "double exponent": AnyValue(double_value=1e20),
    "double tiny": AnyValue(double_value=1.5e-7),
    "double 1e16": AnyValue(double_value=1e16),
    "nan": AnyValue(double_value=math.nan),
    "inf": AnyValue(double_value=-math.inf),
    "array": AnyValue(
        array_value=ArrayValue(values=[_text("a"), AnyValue(int_value=2), AnyValue()])
    ),
    "kvlist": AnyValue(
        kvlist_value=KeyValueList(
            values=[
                _attribute("user", _text("u-1")),
                _attribute(
                    "geo",
                    AnyValue(kvlist_value=KeyValueList(values=[_attribute("city", _text("x"))])),
                ),
            ]
        )
    ),
}


def _sdk_request(tags: list[str] | None = None) -> bytes:
    """What the OTel SDK's OTLP exporters send for a few log calls (its own encoder); `tags`
    makes an array attribute."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(
        resource=SdkResource.create(
            {"service.name": "Fraud Check", "service.instance.id": "fc-1", "team": "risk"}
        )
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("tests.protobuf_logs")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.warning("card declined for order %s", "A-17", extra={"amount": 12.5, "n": 3})
        logger.debug("cache hit", extra={"ok": True, **({"tags": tags} if tags else {})})
        try:
            raise ValueError("bad amount")
        except ValueError:
            logger.exception("charge failed")
        logger.info("plain")
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    return encode_logs(exporter.get_finished_logs()).SerializeToString()


def _real_client_fixture() -> bytes:
    shared = SHARED_FIXTURES / "otlp_logs.bin"
    return (shared if shared.exists() else FIXTURES / "otlp_logs.bin").read_bytes()


def _bench_requests() -> bytes:
    """Three resources with many records each, as bench/otlp_logs.py sends them."""
    resource_logs = []
    for number, service in enumerate(("checkout", "Payments API", "frontend")):
        records = [
            _record(
                time_unix_nano=TIME_NS + index,
                body=_text(f"tok-{number} request {index} completed status=200"),
                attributes=[
                    _attribute("http.method", _text("GET")),
                    _attribute("http.status_code", AnyValue(int_value=200 + index % 3)),
                    _attribute("duration_ms", AnyValue(double_value=index / 7)),
                    _attribute("retry", AnyValue(bool_value=index % 2 == 0)),
                ],
            )
            for index in range(300)
        ]
        scope_logs = ScopeLogs(log_records=records)
        scope_logs.scope.name = f"com.example.{service}"
        resource = Resource(
            attributes=[
                _attribute("service.name", _text(service)),
                _attribute("deployment.environment", _text("production")),
                _attribute("host.name", _text(f"node-{number}")),
            ]
        )
        resource_logs.append(ResourceLogs(resource=resource, scope_logs=[scope_logs]))
    return ExportLogsServiceRequest(resource_logs=resource_logs).SerializeToString()


def _many_shapes() -> bytes:
    """Several resources and scopes, one without records, fields left out in every way."""
    request = ExportLogsServiceRequest()
    first = request.resource_logs.add()
    first.resource.attributes.extend(
        [
            _attribute("service.name", _text("Fraud Check")),
            _attribute("deployment.environment.name", _text("staging")),
            _attribute("deployment.environment", _text("ignored")),
            _attribute("service.instance.id", _text("fc-7")),
        ]
    )
    scope = first.scope_logs.add()
    scope.log_records.extend(
        [
            _record(time_unix_nano=0),
            _record(time_unix_nano=0, observed_time_unix_nano=0),
            _record(severity_text="", severity_number=17),
            _record(severity_text="notice", severity_number=0),
            _record(severity_text="", severity_number=0),
            _record(trace_id=bytes(16), span_id=bytes(8)),
            _record(trace_id=b"", span_id=b""),
            _record(body=AnyValue()),
        ]
    )
    first.scope_logs.add()  # a scope without records
    second = request.resource_logs.add()  # no service.name: unknown_service
    second.resource.attributes.append(_attribute("host.name", _text("h-2")))
    second.scope_logs.add().log_records.append(_record())
    third = request.resource_logs.add()  # a service with no records is not registered
    third.resource.attributes.append(_attribute("service.name", _text("idle")))
    fourth = request.resource_logs.add()
    fourth.resource.attributes.append(_attribute("service.name", AnyValue(int_value=42)))
    fourth.scope_logs.add().log_records.append(_record(body=AnyValue(int_value=7)))
    return request.SerializeToString()


def _values_request(values: dict[str, AnyValue]) -> bytes:
    records = [
        _record(body=value, attributes=[_attribute(name, value), _attribute("n", _text(name))])
        for name, value in values.items()
    ]
    resource = [
        _attribute("service.name", _text("shop")),
        *(_attribute(f"resource.{name}", value) for name, value in values.items()),
    ]
    return _request(records, resource)


NATIVE_CASES: dict[str, Callable[[], bytes]] = {
    "real client (OTel SDK 1.45.2 capture)": _real_client_fixture,
    "OTel SDK encoder": _sdk_request,
    "bench-like, three resources": _bench_requests,
    "many shapes": _many_shapes,
    "every value ClickHouse renders": partial(_values_request, NATIVE_VALUES),
    "empty request": lambda: b"",
}
PYTHON_CASES: dict[str, Callable[[], bytes]] = {
    **{
        f"{name} attribute": partial(
            _request, [_record(attributes=[_attribute("v", value), _attribute("k", _text("x"))])]
        )
        for name, value in PYTHON_VALUES.items()
    },
    **{
        f"{name} body": partial(_request, [_record(body=value)])
        for name, value in PYTHON_VALUES.items()
    },
    "resource kvlist": partial(
        _request,
        [_record()],
        [_attribute("service.name", _text("shop")), _attribute("r", PYTHON_VALUES["kvlist"])],
    ),
    "repeated record attribute": partial(
        _request, [_record(attributes=[_attribute("a", _text("1")), _attribute("a", _text("2"))])]
    ),
    "repeated service.name": partial(
        _request,
        [_record()],
        [_attribute("service.name", _text("first")), _attribute("service.name", _text("second"))],
    ),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(StoreOptions(data_dir=tmp_path_factory.mktemp("store")))
    opened.open()
    yield opened
    opened.close()


def _python_path_payload(body: bytes) -> bytes:
    """The write-ahead-log record the ingest workers wrote for a protobuf request before."""
    decoded = decode_logs(body, PROTOBUF, received_ns=RECEIVED_NS)
    normalise_services(decoded.batches, None)
    return encode_batches(decoded.batches)


def _wal_payload(body: bytes) -> bytes:
    decode = partial(decode_logs_for_wal, content_type=PROTOBUF, received_ns=RECEIVED_NS)
    return prepare_write(decode, Body(body, None, 1 << 30), None).record(body)


def _stored_by(store: TelemetryStore, payload: bytes) -> list[dict[str, Any]]:
    """Append, flush, and read back the rows of that one insert."""
    asyncio.run(store.append_encoded(payload))
    store.flush()
    (batch,) = store.query("SELECT max(wal_batch) FROM fullcycle.logs")[0]
    columns = ", ".join(LOGS.column_names)
    rows = store.query(
        f"SELECT {columns} FROM fullcycle.logs WHERE wal_batch = {{batch:UInt64}}",
        {"batch": batch},
    )
    stored = [dict(zip(LOGS.column_names, row, strict=True)) for row in rows]
    return sorted(stored, key=repr)


def _assert_same_rows(store: TelemetryStore, body: bytes) -> int:
    """Store `body` by both paths; returns how many requests the flusher decoded in Python."""
    python = _stored_by(store, _python_path_payload(body)) if body else []
    in_python = store.flusher.protobuf_logs.requests_decoded_in_python
    native = _stored_by(store, _wal_payload(body)) if body else []
    decoded_in_python = store.flusher.protobuf_logs.requests_decoded_in_python - in_python
    assert len(native) == len(python) == len(decode_logs(body, PROTOBUF).batches[0])
    for column in LOGS.column_names:
        assert [row[column] for row in native] == [row[column] for row in python], column
    return decoded_in_python


@pytest.mark.parametrize("make_body", NATIVE_CASES.values(), ids=NATIVE_CASES.keys())
def test_clickhouse_stores_the_rows_the_python_decoder_stores(
    store: TelemetryStore, make_body: Callable[[], bytes]
) -> None:
    assert _assert_same_rows(store, make_body()) == 0


@pytest.mark.parametrize("make_body", PYTHON_CASES.values(), ids=PYTHON_CASES.keys())
def test_what_clickhouse_cannot_render_is_decoded_in_python(
    store: TelemetryStore, make_body: Callable[[], bytes]
) -> None:
    assert _assert_same_rows(store, make_body()) == 1


def test_requests_of_both_kinds_in_one_flush_make_one_insert(store: TelemetryStore) -> None:
    bodies = [_bench_requests(), PYTHON_CASES["array attribute"](), _sdk_request()]
    expected = sum(len(decode_logs(body, PROTOBUF).batches[0]) for body in bodies)

    async def append_all() -> None:
        for body in bodies:
            await store.append_encoded(_wal_payload(body))
        await store.append_encoded(_python_path_payload(bodies[0]))

    asyncio.run(append_all())
    assert store.flush() == expected + len(decode_logs(bodies[0], PROTOBUF).batches[0])
    ((batches, rows),) = store.query(
        "SELECT uniqExact(wal_batch), count() FROM fullcycle.logs"
        " WHERE wal_batch = (SELECT max(wal_batch) FROM fullcycle.logs)"
    )
    assert (batches, rows) == (1, expected + 900)


def test_the_request_is_kept_with_its_services_as_catalog_names() -> None:
    decode = partial(decode_logs_for_wal, content_type=PROTOBUF, received_ns=RECEIVED_NS)
    body = _many_shapes()
    prepared = prepare_write(decode, Body(body, None, 1 << 30), None)
    assert prepared.services == {"fraud-check", "unknown_service", "42"}
    assert prepared.decoded.accepted == 10
    assert body not in prepared.payload  # the server has it: not sent back from the worker
    ((name, data),) = decode_parts(prepared.record(body))
    assert name == PROTOBUF_LOGS
    assert body in bytes(data)


def test_a_compressed_request_is_kept_decompressed() -> None:
    body = _many_shapes()
    decode = partial(decode_logs_for_wal, content_type=PROTOBUF, received_ns=RECEIVED_NS)
    prepared = prepare_write(decode, Body(gzip.compress(body), "gzip", 1 << 30), None)
    assert prepared.body_at is None
    ((name, data),) = decode_parts(prepared.payload)
    assert name == PROTOBUF_LOGS
    assert body in bytes(data)


BAD_RECORDS = {
    "time beyond 2262": _record(time_unix_nano=2**63),
    "observed time beyond 2262": _record(observed_time_unix_nano=2**64 - 1),
    "severity above 24": _record(severity_number=25),
    "negative severity": _record(severity_number=-1),
    "short trace id": _record(trace_id=b"\x01\x02\x03"),
    "long span id": _record(span_id=bytes(9)),
}


@pytest.mark.parametrize("record", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_a_bad_record_is_refused_with_the_same_message(record: LogRecord) -> None:
    body = _request([_record(), _record(), record])
    with pytest.raises(DecodeError) as python:
        decode_logs(body, PROTOBUF)
    with pytest.raises(DecodeError) as kept:
        decode_logs_for_wal(body, PROTOBUF)
    assert str(kept.value) == str(python.value)
    assert "logRecords[2]" in str(kept.value)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (payloads here are shorter than 128 bytes)."""
    tag = number << 3 | 2
    varint = bytes([tag & 0x7F | 0x80, tag >> 7]) if tag > 0x7F else bytes([tag])
    return varint + bytes([len(payload)]) + payload


# A log record whose severity text is not UTF-8, in a scope, in a resource, in a request.
NOT_UTF8 = _field(1, _field(2, _field(2, _field(3, b"\xff\xfeok"))))
MALFORMED = {
    "not UTF-8": NOT_UTF8,
    "cut short": _request([_record()])[:-3],
    "not protobuf": b"\xff\xff\xff\xff",
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_request_is_refused_with_the_same_message(body: bytes) -> None:
    with pytest.raises(DecodeError) as python:
        decode_logs(body, PROTOBUF)
    with pytest.raises(DecodeError) as kept:
        decode_logs_for_wal(body, PROTOBUF)
    assert str(kept.value) == str(python.value)
    assert "not a valid protobuf ExportLogsServiceRequest" in str(kept.value)


def test_json_requests_keep_the_python_decoder() -> None:
    body = (FIXTURES / "otlp_logs.json").read_bytes()
    decoded: Decoded = decode_logs_for_wal(body, "application/json")
    assert decoded.protobuf_logs is None
    assert isinstance(decoded.batches[0], LogBatch)
    assert decoded.accepted == len(decoded.batches[0]) > 0


# A request carrying, at its top level, a field number that fullcycle appends for the flusher
# (100, `received_ns`), as a string where the flusher writes a number: ClickHouse refuses it.
FOREIGN_FIELD = _request([_record(), _record()]) + _field(100, b"not a number")


def test_a_request_with_fields_fullcycle_appends_takes_the_python_path(
    store: TelemetryStore,
) -> None:
    ((name, _),) = decode_parts(_wal_payload(FOREIGN_FIELD))
    assert name == LOGS.name  # Arrow rows, not the request
    assert _assert_same_rows(store, FOREIGN_FIELD) == 0


def test_records_clickhouse_refuses_are_decoded_in_python(store: TelemetryStore) -> None:
    """Should ClickHouse refuse a record the ingest path accepted, the flusher must not stop."""
    record = protobuf_logs.encode_record(FOREIGN_FIELD, RECEIVED_NS, ["shop"], 2)
    python = _stored_by(store, _python_path_payload(FOREIGN_FIELD))
    in_python = store.flusher.protobuf_logs.requests_decoded_in_python
    bench = _bench_requests()
    asyncio.run(store.append_encoded(_wal_payload(bench)))
    stored = _stored_by(store, encode_part(PROTOBUF_LOGS, record))
    assert store.flusher.protobuf_logs.requests_decoded_in_python - in_python == 2  # both
    assert len(stored) == len(python) + len(decode_logs(bench, PROTOBUF).batches[0])
    assert [row for row in stored if row["service"] == "shop"] == python

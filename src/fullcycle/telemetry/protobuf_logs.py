"""OTLP logs kept in the write-ahead log as protobuf, turned into rows by ClickHouse at flush.

Decoding an OTLP log record in Python (protobuf fields to Python values to Arrow) costs about
12 µs of CPU; it was the largest part of log ingest. For `application/x-protobuf` requests the
ingest worker now only parses the request (upb, C speed) to check what today's decoder refuses
and to find each resource's service, and the write-ahead log keeps the request's bytes
(`encode_record`). The flusher hands all such records of a batch to ClickHouse at once
(`ProtobufLogsInserter.insert`): its `Protobuf` input format with `otlp_logs.proto` reads them,
and one query flattens resource_logs → scope_logs → log_records into the logs table's columns,
rendering attribute values as `otlp_common.any_value_text` does, into a per-session staging
table; one INSERT ... SELECT moves the batch from there into the logs table.

What ClickHouse cannot render exactly as the Python decoder does (arrays and kvlists, doubles
that Python prints in exponent form, NaN and infinities, repeated attribute keys) marks the
row; every record of such a request is then decoded by the Python decoder instead, so the stored
rows are those the Python path stores (tests/test_ingest_protobuf_logs.py compares them).
A store on a ClickHouse server (which cannot read the flusher's file) decodes them all in Python.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from fullcycle.catalog.discovery import catalog_name
from fullcycle.ingest.otlp_common import MAX_TIMESTAMP_NS
from fullcycle.ingest.otlp_logs import MAX_SEVERITY_NUMBER, SEVERITY_TEXTS, decode_logs
from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.connection import ClickHouse
from fullcycle.telemetry.tables import LOGS

log = logging.getLogger("fullcycle.telemetry.protobuf_logs")

SCHEMA = Path(__file__).with_name("otlp_logs.proto")
_PROTOBUF = "application/x-protobuf"
# A record starts with the receive time and its number of log records.
_HEADER = struct.Struct("<QI")
_RECEIVED = struct.Struct("<Q")
# Tags of the fields appended to the request (otlp_logs.proto): (number << 3) | wire type.
_RECEIVED_NS_TAG = (100 << 3) | 1
_SERVICE_TAG = (101 << 3) | 2
_REQUEST_TAG = (102 << 3) | 0


def encode_record(request: bytes, received_ns: int, services: Sequence[str], records: int) -> bytes:
    """A write-ahead-log record: the receive time and number of log records, then the request
    with the receive time and each resource's catalog service name appended as protobuf
    fields."""
    appended = [_varint(_RECEIVED_NS_TAG), _RECEIVED.pack(received_ns)]
    for service in services:
        encoded = service.encode()
        appended += [_varint(_SERVICE_TAG), _varint(len(encoded)), encoded]
    return b"".join([_HEADER.pack(received_ns, records), request, *appended])


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _any_text(value: str) -> str:
    """An AnyValue tuple as `otlp_common.any_value_text` writes it (for the kinds not marked by
    `_any_needs_python`); `value.value` is the number of the oneof member present, 0 for none."""
    double = f"toString({value}.double_value)"
    return (
        f"multiIf({value}.value = 1, {value}.string_value,"
        f" {value}.value = 3, toString({value}.int_value),"
        f" {value}.value = 2, if({value}.bool_value, 'true', 'false'),"
        f" {value}.value = 7, base64Encode({value}.bytes_value),"
        f" {value}.value = 4, if(position({double}, '.') > 0, {double}, concat({double}, '.0')),"
        " '')"
    )


def _any_needs_python(value: str) -> str:
    """Arrays and kvlists, and doubles that Python's repr writes with an exponent, NaN or inf
    (ClickHouse writes the same shortest digits, but without the exponent form)."""
    double = f"{value}.double_value"
    return (
        f"({value}.value IN (5, 6) OR ({value}.value = 4 AND NOT ({double} = 0"
        f" OR (abs({double}) >= 1e-4 AND abs({double}) < 1e16))))"
    )


def _attribute_map(attributes: str) -> str:
    return (
        f"mapFromArrays(arrayMap(kv -> kv.key, {attributes}),"
        f" arrayMap(kv -> {_any_text('kv.value')}, {attributes}))"
    )


def _attributes_need_python(attributes: str) -> str:
    """A value ClickHouse cannot render, or a key that appears twice (Python keeps one)."""
    return (
        f"(arrayExists(kv -> {_any_needs_python('kv.value')}, {attributes})"
        f" OR arrayUniq(arrayMap(kv -> kv.key, {attributes})) != length({attributes}))"
    )


_ANY_VALUE = (
    "Tuple(string_value String, bool_value Bool, int_value Int64, double_value Float64,"
    " bytes_value String, value UInt8)"
)
_KEY_VALUES = f"Array(Tuple(key String, value {_ANY_VALUE}))"
STRUCTURE = (
    "received_ns UInt64, services Array(String), request UInt32, resource_logs Array(Tuple("
    f"resource Tuple(attributes {_KEY_VALUES}), scope_logs Array(Tuple(scope Tuple(name String),"
    " log_records Array(Tuple(time_unix_nano UInt64, observed_time_unix_nano UInt64,"
    f" severity_number Int32, severity_text String, body {_ANY_VALUE},"
    f" attributes {_KEY_VALUES}, trace_id String, span_id String))))))"
)
_SEVERITY_TEXTS = "[" + ", ".join(f"'{text}'" for text in SEVERITY_TEXTS) + "]"
_RESOURCE = "resource_map"


def _first_of(*keys: str) -> str:
    """The first non-empty resource attribute of `keys` ('' if none is)."""
    expression = f"{_RESOURCE}['{keys[-1]}']"
    for key in reversed(keys[:-1]):
        value = f"{_RESOURCE}['{key}']"
        expression = f"if({value} != '', {value}, {expression})"
    return expression


def _nanoseconds(expression: str) -> str:
    return f"fromUnixTimestamp64Nano(toInt64({expression}), 'UTC')"


_TIME = "rec.time_unix_nano"
_OBSERVED = "rec.observed_time_unix_nano"
# Built only from this module's constants; the file's path is a bound parameter.
ROWS_SQL = f"""
SELECT
    request,
    {_nanoseconds(f"if({_TIME} != 0, {_TIME}, if({_OBSERVED} != 0, {_OBSERVED}, received_ns))")}
        AS timestamp,
    {_nanoseconds(f"if({_OBSERVED} != 0, {_OBSERVED}, received_ns)")} AS observed_timestamp,
    services[resource_index] AS service,
    {_first_of("deployment.environment.name", "deployment.environment")} AS environment,
    {_first_of("host.name", "service.instance.id")} AS host,
    if(rec.severity_text != '', rec.severity_text,
        arrayElement({_SEVERITY_TEXTS}, rec.severity_number + 1)) AS severity_text,
    toUInt8(rec.severity_number) AS severity_number,
    if(rec.body.string_value != '', rec.body.string_value, {_any_text("rec.body")}) AS body,
    if(rec.trace_id = repeat('\\0', 16), '', lower(hex(rec.trace_id))) AS trace_id,
    if(rec.span_id = repeat('\\0', 8), '', lower(hex(rec.span_id))) AS span_id,
    s.scope.name AS scope,
    {_RESOURCE} AS resource_attributes,
    {_attribute_map("rec.attributes")} AS attributes,
    toBool(resource_needs_python
        OR {_TIME} > {MAX_TIMESTAMP_NS} OR {_OBSERVED} > {MAX_TIMESTAMP_NS}
        OR rec.severity_number < 0 OR rec.severity_number > {MAX_SEVERITY_NUMBER}
        OR length(rec.trace_id) NOT IN (0, 16) OR length(rec.span_id) NOT IN (0, 8)
        OR {_any_needs_python("rec.body")}
        OR {_attributes_need_python("rec.attributes")}) AS needs_python
FROM (
    -- what all records of a resource share, once per resource
    SELECT
        request, received_ns, services, r, resource_index,
        {_attribute_map("r.resource.attributes")} AS {_RESOURCE},
        length(services) != length(resource_logs)
            OR {_attributes_need_python("r.resource.attributes")} AS resource_needs_python
    FROM file({{path:String}}, 'Protobuf', '{STRUCTURE}')
    ARRAY JOIN resource_logs AS r, arrayEnumerate(resource_logs) AS resource_index
)
ARRAY JOIN r.scope_logs AS s
ARRAY JOIN s.log_records AS rec
"""  # noqa: S608


_STAGING = "protobuf_logs_staging"
# The logs table's types: converting to LowCardinality while decoding (two threads) leaves less
# to the insert into the logs table (one thread).
_STAGING_COLUMNS = ", ".join(f"`{column.name}` {column.clickhouse_type}" for column in LOGS.columns)
# Per flush, in the flushing thread's session: the rows ClickHouse decoded, with their record's
# number and mark, and the rows decoded in Python (`decoded_by_clickhouse` 0).
STAGING_SQL = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} (request UInt32 DEFAULT 0,"
    f" needs_python Bool DEFAULT 0, decoded_by_clickhouse Bool DEFAULT 0, {_STAGING_COLUMNS})"
    " ENGINE = Memory"
)
_LOGS_COLUMNS = ", ".join(f"`{name}`" for name in LOGS.column_names)
_DECODE_SQL = (
    f"INSERT INTO {_STAGING} (request, needs_python, decoded_by_clickhouse, {_LOGS_COLUMNS})"  # noqa: S608
    f" SELECT request, needs_python, 1, {_LOGS_COLUMNS} FROM ({ROWS_SQL})"
)
_MARKED_SQL = f"SELECT DISTINCT request FROM {_STAGING} WHERE needs_python"  # noqa: S608
# Decoding runs on two threads, a file each (the staging table takes rows in any order; the
# insert into the logs table reads it on one thread, into one block).
_SCRATCH_FILES = 2
_SCRATCH_SUFFIX = ".pb"
# The insert into the logs table makes one block, whatever the order of the staging table's
# rows (which the parallel decoding varies): its deduplication token then always names the
# same rows, also when a batch is inserted again after a crash.
_ONE_BLOCK = {
    "max_threads": 1,
    "min_insert_block_size_rows": 1 << 40,
    "min_insert_block_size_bytes": 1 << 50,
}
_DECODE_SETTINGS = {
    "format_schema": f"{SCHEMA}:WalLogs",
    "input_format_protobuf_oneof_presence": 1,
    "max_threads": _SCRATCH_FILES,
}


class ProtobufLogsInserter:
    """Insert a flush's logs rows, from protobuf records (`encode_record`) and Arrow tables, into
    the logs table in one insert (one part, as before).

    `scratch` is a directory the flusher owns (in the log's directory): the records are written
    there as length-delimited messages, in `_SCRATCH_FILES` files that ClickHouse's `file()`
    reads in parallel. Only for the embedded engine: a ClickHouse server cannot read the
    flusher's files (the flusher then decodes the records with `python_rows`).
    """

    def __init__(self, clickhouse: ClickHouse, scratch: Path) -> None:
        self.clickhouse = clickhouse
        self.scratch = scratch
        self.requests_decoded_in_python = 0

    def insert(
        self,
        records: Sequence[memoryview],
        tables: Sequence[pa.Table],
        target: str,
        wal_batch: int,
        settings: dict[str, object],
    ) -> int:
        """Insert the rows into `target` (every row's `wal_batch` set); returns how many."""
        client = self.clickhouse.client()
        client.command(STAGING_SQL)
        client.command(f"TRUNCATE TABLE {_STAGING}")
        try:
            marked = self._decode(client, records)
            self.requests_decoded_in_python += len(marked)
            for table in [*tables, *(python_rows(records[number]) for number in marked)]:
                client.insert_arrow(_STAGING, table)
            client.command(
                f"INSERT INTO {target} ({_LOGS_COLUMNS}, wal_batch)"  # noqa: S608
                f" SELECT {_LOGS_COLUMNS}, {{wal_batch:UInt64}} FROM {_STAGING}"
                " WHERE NOT decoded_by_clickhouse OR request NOT IN {marked:Array(UInt32)}",
                parameters={"wal_batch": wal_batch, "marked": marked},
                settings={**settings, **_ONE_BLOCK},
            )
        finally:
            for path in self.scratch.glob(f"*{_SCRATCH_SUFFIX}"):
                path.unlink()
            client.command(f"TRUNCATE TABLE {_STAGING}")
        return sum(record_rows(record) for record in records) + sum(t.num_rows for t in tables)

    def _decode(self, client: Client, records: Sequence[memoryview]) -> list[int]:
        """Decode the records into the staging table; returns the numbers of those to decode in
        Python instead. Should ClickHouse refuse a record that the ingest path's parse accepted,
        all are decoded in Python: an acknowledged record must never stop the flusher."""
        self._write_scratch(records)
        try:
            client.command(
                _DECODE_SQL,
                parameters={"path": str(self.scratch / f"*{_SCRATCH_SUFFIX}")},
                settings=_DECODE_SETTINGS,
            )
        except DatabaseError:
            log.exception("ClickHouse could not decode OTLP logs records; decoding them in Python")
            client.command(f"TRUNCATE TABLE {_STAGING}")
            return list(range(len(records)))
        return [int(row[0]) for row in client.query(_MARKED_SQL).result_rows]

    def _write_scratch(self, records: Sequence[memoryview]) -> None:
        """The records as length-delimited messages, each with its number appended, dealt out
        over the scratch files."""
        self.scratch.mkdir(exist_ok=True)
        handles = [
            (self.scratch / f"{part}{_SCRATCH_SUFFIX}").open("wb")
            for part in range(min(_SCRATCH_FILES, len(records)))
        ]
        try:
            for number, record in enumerate(records):
                message = record[_HEADER.size :]
                appended = _varint(_REQUEST_TAG) + _varint(number)
                handle = handles[number % len(handles)]
                handle.write(_varint(len(message) + len(appended)))
                handle.write(message)
                handle.write(appended)
        finally:
            for handle in handles:
                handle.close()


def record_rows(record: bytes | memoryview) -> int:
    """How many log records (rows) a record holds."""
    return int(_HEADER.unpack_from(record)[1])


def python_rows(record: bytes | memoryview) -> pa.Table:
    """A record's rows by the Python decoder, as the Python path stores them."""
    received_ns, _ = _HEADER.unpack_from(record)
    request = bytes(memoryview(record)[_HEADER.size :])
    decoded = decode_logs(request, _PROTOBUF, received_ns=received_ns)
    batch = decoded.batches[0]
    assert isinstance(batch, LogBatch)
    batch.columns["service"] = [catalog_name(str(name)) for name in batch.columns["service"]]
    return batch.to_arrow()

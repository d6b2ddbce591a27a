"""fullcycle's own format: rows of the telemetry tables as Arrow, what `fullcycle worker` sends.

The body is what `telemetry.payloads.encode_batches` writes (per table: its name and an Arrow IPC
stream). Every table must be one of the telemetry tables with exactly its Arrow schema, so that
nothing a caller sends can reach the store in another shape.
"""

from __future__ import annotations

import struct

import pyarrow as pa

from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.errors import DecodeError
from fullcycle.telemetry.batches import BATCH_TYPES, Batch
from fullcycle.telemetry.payloads import decode_batches
from fullcycle.telemetry.remote import BATCHES_CONTENT_TYPE
from fullcycle.telemetry.tables import TABLES

CONTENT_TYPE = BATCHES_CONTENT_TYPE


def decode_table_batches(body: bytes) -> Decoded:
    try:
        tables = decode_batches(body)
    except (pa.ArrowException, OSError, struct.error, UnicodeDecodeError, ValueError) as error:
        raise DecodeError(f"not a fullcycle batch body: {error}") from error
    batches = [_batch(index, name, table) for index, (name, table) in enumerate(tables)]
    accepted = sum(len(batch) for batch in batches)
    return Decoded(batches=batches, accepted=accepted)


def _batch(index: int, name: str, table: pa.Table) -> Batch:
    if name not in TABLES:
        known = ", ".join(TABLES)
        raise DecodeError(f"batch {index}: unknown table {name!r} (expected one of {known})")
    expected = TABLES[name].arrow_schema
    if not table.schema.equals(expected):
        raise DecodeError(f"batch {index} ({name}): {_schema_difference(table.schema, expected)}")
    try:
        table.validate(full=True)  # offsets and lengths inside their buffers
    except pa.ArrowException as error:
        raise DecodeError(f"batch {index} ({name}): {error}") from error
    batch = BATCH_TYPES[name]()
    # Times as integers, as the decoders write them (Python datetimes would lose nanoseconds).
    as_integers = table.cast(pa.schema([_integer_times(field) for field in expected]))
    batch.columns = {column: as_integers.column(column).to_pylist() for column in expected.names}
    return batch


def _integer_times(field: pa.Field) -> pa.Field:
    return field.with_type(_integer_time_type(field.type))


def _integer_time_type(data_type: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(data_type):
        return pa.int64()
    if pa.types.is_list(data_type):
        return pa.list_(_integer_times(data_type.value_field))
    if pa.types.is_struct(data_type):
        return pa.struct([_integer_times(data_type.field(i)) for i in range(data_type.num_fields)])
    return data_type


def _schema_difference(got: pa.Schema, expected: pa.Schema) -> str:
    for field in expected:
        index = got.get_field_index(field.name)
        if index < 0:
            return f"column {field.name!r} is missing"
        if not got.field(index).type.equals(field.type):
            return f"column {field.name!r} is {got.field(index).type}, expected {field.type}"
    extra = [name for name in got.names if name not in expected.names]
    return f"unexpected columns {extra}" if extra else "columns are not in the table's order"

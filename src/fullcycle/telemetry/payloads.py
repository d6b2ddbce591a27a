"""What one write-ahead-log record holds: the parts of one acknowledged request.

Each part is its name (1-byte length + UTF-8), a 4-byte little-endian length and its data: for a
table's name, an Arrow IPC stream of the table's rows; for `PROTOBUF_LOGS`, an OTLP logs request
kept as protobuf (telemetry/protobuf_logs.py), which the flusher turns into rows of the logs
table. Records written before that kind existed hold only tables, and read as before.
"""

from __future__ import annotations

import struct

import pyarrow as pa

from fullcycle.telemetry.batches import Batch

_NAME = struct.Struct("<B")
_LENGTH = struct.Struct("<I")
PROTOBUF_LOGS = "logs:otlp-protobuf"


def encode_batches(batches: list[Batch]) -> bytes:
    parts: list[bytes] = []
    for batch in batches:
        if not len(batch):
            continue
        sink = pa.BufferOutputStream()
        table = batch.to_arrow()
        with pa.ipc.new_stream(sink, table.schema) as stream:
            stream.write_table(table)
        parts.append(encode_part(batch.table.name, sink.getvalue().to_pybytes()))
    return b"".join(parts)


def encode_part(name: str, data: bytes) -> bytes:
    encoded = name.encode()
    return b"".join([_NAME.pack(len(encoded)), encoded, _LENGTH.pack(len(data)), data])


def decode_batches(payload: bytes) -> list[tuple[str, pa.Table]]:
    """The tables of a payload that holds only tables (as `encode_batches` writes it)."""
    tables: list[tuple[str, pa.Table]] = []
    for name, data in decode_parts(payload):
        with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
            tables.append((name, reader.read_all()))
    return tables


def decode_parts(payload: bytes) -> list[tuple[str, memoryview]]:
    """Each part's name and data."""
    parts: list[tuple[str, memoryview]] = []
    view = memoryview(payload)
    offset = 0
    while offset < len(view):
        (name_length,) = _NAME.unpack_from(view, offset)
        offset += _NAME.size
        name = bytes(view[offset : offset + name_length]).decode()
        offset += name_length
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += _LENGTH.size
        parts.append((name, view[offset : offset + length]))
        offset += length
    return parts

"""What one write-ahead-log record holds: the Arrow tables of one acknowledged request."""

from __future__ import annotations

import struct

import pyarrow as pa

from fullcycle.telemetry.batches import Batch

_NAME = struct.Struct("<B")
_LENGTH = struct.Struct("<I")


def encode_batches(batches: list[Batch]) -> bytes:
    parts: list[bytes] = []
    for batch in batches:
        if not len(batch):
            continue
        name = batch.table.name.encode()
        sink = pa.BufferOutputStream()
        table = batch.to_arrow()
        with pa.ipc.new_stream(sink, table.schema) as stream:
            stream.write_table(table)
        data = sink.getvalue().to_pybytes()
        parts += [_NAME.pack(len(name)), name, _LENGTH.pack(len(data)), data]
    return b"".join(parts)


def decode_batches(payload: bytes) -> list[tuple[str, pa.Table]]:
    tables: list[tuple[str, pa.Table]] = []
    view = memoryview(payload)
    offset = 0
    while offset < len(view):
        (name_length,) = _NAME.unpack_from(view, offset)
        offset += _NAME.size
        name = bytes(view[offset : offset + name_length]).decode()
        offset += name_length
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += _LENGTH.size
        with pa.ipc.open_stream(pa.py_buffer(view[offset : offset + length])) as reader:
            tables.append((name, reader.read_all()))
        offset += length
    return tables

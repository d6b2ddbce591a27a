"""The write-ahead log's file format: numbered segment files of checksummed records.

A record is `length (u32) | crc32 (u32) | payload`. A process killed mid-write leaves at most a
torn record at the end of the last segment; reading stops there and `open_for_append` cuts it
off. Such a record was never acknowledged (acknowledgement follows fsync), so nothing that was
acknowledged is ever in a torn tail.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

HEADER = struct.Struct("<II")
SEGMENT_SUFFIX = ".wal"
CHECKPOINT_FILE = "checkpoint.json"


@dataclass(frozen=True, order=True)
class Position:
    """A place in the log: a segment number and a byte offset in it."""

    segment: int
    offset: int

    def __str__(self) -> str:
        return f"{self.segment}:{self.offset}"


@dataclass(frozen=True)
class Checkpoint:
    """Everything before `flushed` is in the store. `pending_end`, when set, is a batch that was
    being inserted when the process stopped: it is re-inserted first, with the same
    deduplication tokens, so that the store drops whatever of it had already arrived."""

    flushed: Position
    pending_end: Position | None = None


def segment_path(directory: Path, number: int) -> Path:
    return directory / f"{number:012d}{SEGMENT_SUFFIX}"


def segment_numbers(directory: Path) -> list[int]:
    return sorted(int(path.stem) for path in directory.glob(f"*{SEGMENT_SUFFIX}"))


def encode_record(payload: bytes) -> bytes:
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _records_in(handle: BinaryIO, offset: int) -> Iterator[tuple[int, bytes]]:
    """(offset after the record, payload) for each intact record from `offset` on."""
    handle.seek(offset)
    while True:
        header = handle.read(HEADER.size)
        if len(header) < HEADER.size:
            return
        length, checksum = HEADER.unpack(header)
        payload = handle.read(length)
        if len(payload) < length or zlib.crc32(payload) != checksum:
            return
        offset += HEADER.size + length
        yield offset, payload


def read_records(
    directory: Path, start: Position, end: Position | None = None
) -> Iterator[tuple[Position, bytes]]:
    """Records from `start` up to `end` (exclusive; None: to the end of the log), each with the
    position just after it."""
    for number in segment_numbers(directory):
        if number < start.segment or (end is not None and number > end.segment):
            continue
        offset = start.offset if number == start.segment else 0
        with segment_path(directory, number).open("rb") as handle:
            for after, payload in _records_in(handle, offset):
                position = Position(number, after)
                if end is not None and position > end:
                    return
                yield position, payload


def intact_length(path: Path) -> int:
    with path.open("rb") as handle:
        last = 0
        for after, _ in _records_in(handle, 0):
            last = after
        return last


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class SegmentWriter:
    """Appends records to the newest segment, starting a new one past `segment_bytes`."""

    def __init__(self, directory: Path, segment_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        numbers = segment_numbers(directory)
        self.segment = numbers[-1] if numbers else 1
        path = segment_path(directory, self.segment)
        if path.exists():
            with path.open("r+b") as handle:
                handle.truncate(intact_length(path))  # cut a torn, never-acknowledged tail
        self._handle = path.open("ab")
        fsync_directory(directory)

    @property
    def position(self) -> Position:
        return Position(self.segment, self._handle.tell())

    def write(self, payloads: list[bytes]) -> None:
        for payload in payloads:
            if self._handle.tell() >= self.segment_bytes:
                self._rotate()
            self._handle.write(encode_record(payload))

    def sync(self, durable: bool) -> Position:
        """Flush to the OS (and to disk when `durable`); returns the position now safe."""
        self._handle.flush()
        if durable:
            os.fsync(self._handle.fileno())
        return self.position

    def _rotate(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self.segment += 1
        self._handle = segment_path(self.directory, self.segment).open("ab")
        fsync_directory(self.directory)

    def close(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()


def read_checkpoint(directory: Path) -> Checkpoint:
    path = directory / CHECKPOINT_FILE
    if not path.exists():
        first = segment_numbers(directory)
        return Checkpoint(Position(first[0] if first else 1, 0))
    data = json.loads(path.read_text())
    pending = data.get("pending_end")
    return Checkpoint(
        Position(*data["flushed"]), Position(*pending) if pending is not None else None
    )


def write_checkpoint(directory: Path, checkpoint: Checkpoint) -> None:
    """Atomically replace the checkpoint (write, fsync, rename, fsync the directory)."""
    pending = checkpoint.pending_end
    data = {
        "flushed": [checkpoint.flushed.segment, checkpoint.flushed.offset],
        "pending_end": [pending.segment, pending.offset] if pending else None,
    }
    temporary = directory / (CHECKPOINT_FILE + ".tmp")
    with temporary.open("w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(directory / CHECKPOINT_FILE)
    fsync_directory(directory)


def remove_segments_before(directory: Path, segment: int) -> None:
    for number in segment_numbers(directory):
        if number < segment:
            segment_path(directory, number).unlink(missing_ok=True)

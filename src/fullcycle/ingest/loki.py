"""The Loki push API (`POST /loki/api/v1/push`): JSON or snappy-compressed protobuf PushRequest.

JSON: `{"streams": [{"stream": {labels}, "values": [["<ns>", "line", {metadata}?], ...]}]}`.
Protobuf: `logproto.PushRequest`, whose stream labels are a selector string such as
`{app="api", level="info"}` (`parse_label_string`). As in Loki, a Content-Encoding of gzip or
deflate (or zstd) is undone first, and a protobuf body is then always snappy-decompressed (raw
block format), whether Content-Encoding says `snappy` or nothing; a JSON body is
snappy-decompressed only when Content-Encoding says `snappy`.

Every entry becomes one log row. Its stream labels and structured metadata are all attributes;
the well-known ones also fill columns:

| column | labels, the first present wins (structured metadata after labels for severity) |
| --- | --- |
| service | `service_name`, `service`, `app`, `job` |
| severity | `level`, `detected_level`, `severity` (`severity_of`: info 9, warn 13, error 17, ...) |
| host | `host`, `hostname`, `instance` |
| environment | `env`, `environment` |
| trace_id, span_id | structured metadata `trace_id`, `span_id` (as Grafana Alloy sends them) |

A malformed request is rejected as a whole with a DecodeError that names the stream and entry.
"""

from __future__ import annotations

import re
import string
import time
from dataclasses import dataclass
from typing import Any, NoReturn

from fullcycle.ingest.compression import decompress
from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.errors import DecodeError, UnsupportedContentType
from fullcycle.ingest.ndjson_logs import json_type, parse_json_object, preview, severity_of
from fullcycle.ingest.otlp_common import MAX_TIMESTAMP_NS, UNKNOWN_SERVICE
from fullcycle.ingest.prometheus_proto import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    PushRequest,
    parse_snappy,
)
from fullcycle.telemetry.batches import LogBatch

JSON_TYPES = ("application/json",)
# Loki reads a body without Content-Type as protobuf.
PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf", "")

SERVICE_LABELS = ("service_name", "service", "app", "job")
LEVEL_LABELS = ("level", "detected_level", "severity")
HOST_LABELS = ("host", "hostname", "instance")
ENVIRONMENT_LABELS = ("env", "environment")

NS_PER_SECOND = 1_000_000_000
_NANOSECONDS = re.compile(r"-?\d{1,19}", re.ASCII)


def decode_loki_push(
    body: bytes,
    content_type: str,
    content_encoding: str | None,
    *,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    received_ns: int | None = None,
) -> Decoded:
    """Log rows from a push request body as it came over the wire (still compressed).

    UnsupportedContentType unless the type is JSON or protobuf; DecodeError for a malformed
    body; BodyTooLarge when it unpacks to more than `max_decompressed_bytes`. `received_ns`
    (default: now) is every row's observed timestamp.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    received_ns = time.time_ns() if received_ns is None else received_ns
    encoding = (content_encoding or "").strip().lower()
    batch = LogBatch()
    if media_type in JSON_TYPES:
        document = parse_json_object(
            decompress(body, encoding, max_decompressed_bytes), "request body"
        )
        _add_json_streams(batch, document, received_ns)
    elif media_type in PROTOBUF_TYPES:
        # The protocol's own snappy is applied below, whatever the header says.
        unpacked = decompress(
            body, "" if encoding == "snappy" else encoding, max_decompressed_bytes
        )
        request = parse_snappy(PushRequest, unpacked, max_decompressed_bytes)
        _add_protobuf_streams(batch, request, received_ns)
    else:
        raise UnsupportedContentType(
            f"unsupported content type {content_type!r}: the Loki push API accepts "
            "application/json and application/x-protobuf (snappy-compressed)"
        )
    return Decoded(batches=[batch], accepted=len(batch))


@dataclass(frozen=True, slots=True)
class _Stream:
    """What all entries of one stream share, worked out once per stream."""

    labels: dict[str, str]
    service: str
    host: str
    environment: str
    severity: tuple[str, int]

    @classmethod
    def of(cls, labels: dict[str, str]) -> _Stream:
        return cls(
            labels=labels,
            service=_first(labels, SERVICE_LABELS) or UNKNOWN_SERVICE,
            host=_first(labels, HOST_LABELS),
            environment=_first(labels, ENVIRONMENT_LABELS),
            severity=_severity(labels),
        )

    def add(
        self,
        batch: LogBatch,
        timestamp_ns: int,
        line: str,
        metadata: dict[str, str],
        received_ns: int,
    ) -> None:
        severity_text, severity_number = (
            _severity(metadata) if metadata and not self.severity[0] else self.severity
        )
        batch.add(
            timestamp_ns=timestamp_ns,
            observed_timestamp_ns=received_ns,
            body=line,
            service=self.service,
            host=self.host,
            environment=self.environment,
            severity_text=severity_text,
            severity_number=severity_number,
            trace_id=metadata.get("trace_id", ""),
            span_id=metadata.get("span_id", ""),
            attributes={**self.labels, **metadata} if metadata else self.labels,
        )


def _first(labels: dict[str, str], names: tuple[str, ...]) -> str:
    for name in names:
        value = labels.get(name)
        if value:
            return value
    return ""


def _severity(labels: dict[str, str]) -> tuple[str, int]:
    level = _first(labels, LEVEL_LABELS)
    return severity_of(level) if level else ("", 0)


def _add_protobuf_streams(batch: LogBatch, request: Any, received_ns: int) -> None:
    for index, stream_message in enumerate(request.streams):
        where = f"streams[{index}]"
        stream = _Stream.of(parse_label_string(stream_message.labels, f"{where}.labels"))
        for number, entry in enumerate(stream_message.entries):
            timestamp_ns = (
                _protobuf_timestamp(entry.timestamp, f"{where}.entries[{number}].timestamp")
                if entry.HasField("timestamp")
                else received_ns
            )
            metadata = {pair.name: pair.value for pair in entry.structuredMetadata}
            stream.add(batch, timestamp_ns, entry.line, metadata, received_ns)


def _protobuf_timestamp(timestamp: Any, where: str) -> int:
    if not 0 <= timestamp.nanos < NS_PER_SECOND:
        raise DecodeError(f"{where}: nanos must be in 0..999999999, got {timestamp.nanos}")
    return _check_range(timestamp.seconds * NS_PER_SECOND + timestamp.nanos, where)


def _check_range(timestamp_ns: int, where: str) -> int:
    if not -MAX_TIMESTAMP_NS <= timestamp_ns <= MAX_TIMESTAMP_NS:
        raise DecodeError(f"{where}: {timestamp_ns} ns is outside the years 1677-2262")
    return timestamp_ns


def _add_json_streams(batch: LogBatch, document: dict[str, Any], received_ns: int) -> None:
    streams = document.get("streams")
    if not isinstance(streams, list):
        raise DecodeError(f"streams: expected an array, got {json_type(streams)}")
    for index, stream_object in enumerate(streams):
        where = f"streams[{index}]"
        if not isinstance(stream_object, dict):
            raise DecodeError(f"{where}: expected an object, got {json_type(stream_object)}")
        stream = _Stream.of(_json_labels(stream_object.get("stream"), f"{where}.stream"))
        values = stream_object.get("values")
        if not isinstance(values, list):
            raise DecodeError(f"{where}.values: expected an array, got {json_type(values)}")
        for number, entry in enumerate(values):
            _add_json_entry(batch, stream, entry, f"{where}.values[{number}]", received_ns)


def _add_json_entry(
    batch: LogBatch, stream: _Stream, entry: Any, where: str, received_ns: int
) -> None:
    if not isinstance(entry, list) or len(entry) not in (2, 3):
        raise DecodeError(
            f"{where}: expected [timestamp, line] or [timestamp, line, structured metadata], "
            f"got {preview(entry)}"
        )
    timestamp_ns = _json_timestamp(entry[0], f"{where}[0]")
    line = entry[1]
    if not isinstance(line, str):
        raise DecodeError(f"{where}[1]: expected the log line as a string, got {json_type(line)}")
    metadata = _json_labels(entry[2], f"{where}[2]") if len(entry) == 3 else {}
    stream.add(batch, timestamp_ns, line, metadata, received_ns)


def _json_timestamp(value: Any, where: str) -> int:
    """Nanoseconds since the epoch: Loki sends them as a string of digits; a number is fine too."""
    if isinstance(value, str) and _NANOSECONDS.fullmatch(value):
        return _check_range(int(value), where)
    if isinstance(value, int) and not isinstance(value, bool):
        return _check_range(value, where)
    raise DecodeError(
        f"{where}: expected nanoseconds since the epoch as a string of digits, got {preview(value)}"
    )


def _json_labels(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise DecodeError(f"{where}: expected an object of labels, got {json_type(value)}")
    for name, label_value in value.items():
        if not isinstance(label_value, str):
            raise DecodeError(
                f"{where}.{name}: expected a string value, got {json_type(label_value)}"
            )
    return value


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_PLAIN_STRING = re.compile(r'"([^"\\]*)"')
_RAW_STRING = re.compile(r"`([^`]*)`")
_SPACE = re.compile(r"\s*")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}
# Escape letter -> number of hex digits that follow.
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_OCTAL_DIGITS = 3


def parse_label_string(text: str, where: str = "labels") -> dict[str, str]:
    """Labels from a stream selector as Loki clients write it: `{app="api", level="info"}`.

    Values are double-quoted with the escapes Go's strconv.Quote writes (`\\"`, `\\\\`, `\\n`,
    `\\t`, `\\xHH`, `\\u00e9`, octal) or backquoted raw strings. Names are Prometheus label names,
    or double-quoted. Whitespace and a trailing comma are allowed; `{}` has no labels. A repeated
    name, another matcher than `=`, or anything else out of place is a DecodeError that says
    where in the text it is.
    """
    return _LabelParser(text, where).labels()


class _LabelParser:
    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where
        self.position = 0

    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = {}
        self._expect("{")
        while not self._accept("}"):
            self._skip_space()
            start = self.position
            name = self._name()
            if name in labels:
                self._fail(f"label {name!r} appears twice", at=start)
            self._expect("=")
            labels[name] = self._string("a quoted label value")
            if not self._accept(","):
                self._expect("}")
                break
        self._skip_space()
        if self.position != len(self.text):
            self._fail("nothing after '}'")
        return labels

    def _skip_space(self) -> None:
        match = _SPACE.match(self.text, self.position)
        assert match is not None  # \s* always matches
        self.position = match.end()

    def _accept(self, token: str) -> bool:
        self._skip_space()
        if self.text.startswith(token, self.position):
            self.position += len(token)
            return True
        return False

    def _expect(self, token: str) -> None:
        if not self._accept(token):
            self._fail(f"expected {token!r}")

    def _name(self) -> str:
        self._skip_space()
        match = _LABEL_NAME.match(self.text, self.position)
        if match is None:
            return self._string("a label name")
        self.position = match.end()
        return match.group()

    def _string(self, what: str) -> str:
        self._skip_space()
        for pattern in (_PLAIN_STRING, _RAW_STRING):
            match = pattern.match(self.text, self.position)
            if match is not None:
                self.position = match.end()
                return match.group(1)
        if self.text.startswith('"', self.position):
            return self._escaped_string()
        self._fail(f"expected {what}")

    def _escaped_string(self) -> str:
        """A double-quoted string with backslash escapes, from the opening quote."""
        start = self.position
        text = self.text
        position = start + 1
        value = bytearray()
        while position < len(text):
            char = text[position]
            if char == '"':
                self.position = position + 1
                return self._utf8(value, start)
            if char != "\\":
                value += char.encode("utf-8", "surrogatepass")
                position += 1
                continue
            escape = text[position + 1 : position + 2]
            if escape in _SIMPLE_ESCAPES:
                value += _SIMPLE_ESCAPES[escape].encode()
                position += 2
            elif escape in _HEX_ESCAPES:
                position = self._hex_escape(value, position, _HEX_ESCAPES[escape], escape == "x")
            elif escape and escape in string.octdigits:
                position = self._octal_escape(value, position)
            else:
                self._fail(f"unknown escape \\{escape}", at=position)
        self._fail("unterminated string", at=start)

    def _hex_escape(self, value: bytearray, position: int, digits: int, raw_byte: bool) -> int:
        hex_digits = self.text[position + 2 : position + 2 + digits]
        if len(hex_digits) != digits or not all(c in string.hexdigits for c in hex_digits):
            self._fail(
                f"expected {digits} hex digits after \\{self.text[position + 1]}", at=position
            )
        code = int(hex_digits, 16)
        if raw_byte:
            value.append(code)
        elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            self._fail(f"\\{self.text[position + 1]}{hex_digits} is not a character", at=position)
        else:
            value += chr(code).encode("utf-8")
        return position + 2 + digits

    def _octal_escape(self, value: bytearray, position: int) -> int:
        octal_digits = self.text[position + 1 : position + 1 + _OCTAL_DIGITS]
        if len(octal_digits) != _OCTAL_DIGITS or not all(
            c in string.octdigits for c in octal_digits
        ):
            self._fail("expected 3 octal digits after \\", at=position)
        code = int(octal_digits, 8)
        if code > 0xFF:
            self._fail(f"\\{octal_digits} is more than a byte", at=position)
        value.append(code)
        return position + 1 + _OCTAL_DIGITS

    def _utf8(self, value: bytearray, start: int) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            self._fail("the string is not valid UTF-8", at=start)

    def _fail(self, problem: str, at: int | None = None) -> NoReturn:
        position = self.position if at is None else at
        raise DecodeError(f"{self.where}: {problem} at offset {position} in {preview(self.text)}")

"""Plain NDJSON logs (`POST /api/v1/ingest/logs`), and how a JSON log record becomes a log row.

One JSON object per line, as our own clients, syslog-ng's http destination and loggers such as
pino write them. The Elasticsearch bulk decoder maps its documents with `add_json_record` too.

Well-known fields fill the columns; the first field present wins, dotted names are fields of
nested objects (ECS style, `{"log": {"level": "info"}}`):

| column | fields |
| --- | --- |
| timestamp | `timestamp`, `@timestamp`, `time`, `ISODATE` (syslog-ng) |
| body | `message`, `msg`, `MESSAGE` |
| service | `service`, `service.name`, `service_name`, `app`, `appname`, `programname`, |
| | `program`, `PROGRAM`, else the program of `syslogtag`/`tag` (`sshd[42]:` -> `sshd`) |
| severity | `level`, `log.level`, `severity`, `PRIORITY` |
| host | `host`, `host.name`, `hostname`, `HOST` |
| environment | `environment`, `env`, `deployment.environment` |
| trace_id, span_id | `trace_id`, `trace.id`, `span_id`, `span.id` |

Timestamps are ISO 8601 (a time without a zone is UTC; up to nanosecond fractions) or epoch
milliseconds as a number or a string of digits, like Elasticsearch's default date format. A record
without one gets the time it was received. Levels are names (`info`, `WARN`, syslog's `err` or
`notice`, ...), syslog severity codes 0-7 or pino/bunyan levels 10-60; see `severity_of`.
Every other field becomes an attribute: nested objects flattened with dotted keys, values that are
not strings as compact JSON (`42`, `true`, `null`, `["a","b"]`).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.errors import DecodeError
from fullcycle.ingest.otlp_common import MAX_TIMESTAMP_NS, UNKNOWN_SERVICE
from fullcycle.telemetry.batches import LogBatch

TIMESTAMP_FIELDS = ("timestamp", "@timestamp", "time", "ISODATE")
MESSAGE_FIELDS = ("message", "msg", "MESSAGE")
SERVICE_FIELDS = (
    "service",
    "service.name",
    "service_name",
    "app",
    "appname",
    "programname",
    "program",
    "PROGRAM",
)
SYSLOG_TAG_FIELDS = ("syslogtag", "tag")
LEVEL_FIELDS = ("level", "log.level", "severity", "PRIORITY")
HOST_FIELDS = ("host", "host.name", "hostname", "HOST")
ENVIRONMENT_FIELDS = ("environment", "env", "deployment.environment")
TRACE_ID_FIELDS = ("trace_id", "trace.id")
SPAN_ID_FIELDS = ("span_id", "span.id")

# Level names to OpenTelemetry severity numbers. Syslog's names follow the OpenTelemetry
# Collector's syslog receiver (emerg FATAL, alert ERROR3, crit ERROR2, notice INFO2) so that their
# order is kept; `critical` is Python's and `fatal` Go's/Java's most severe level.
SEVERITY_NUMBERS = {
    "trace": 1,
    "debug": 5,
    "info": 9,
    "information": 9,
    "informational": 9,
    "notice": 10,
    "warn": 13,
    "warning": 13,
    "error": 17,
    "err": 17,
    "crit": 18,
    "alert": 19,
    "critical": 21,
    "fatal": 21,
    "emerg": 21,
    "emergency": 21,
    "panic": 21,
}
SYSLOG_SEVERITY_NAMES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
PINO_LEVEL_NAMES = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}

NS_PER_MS = 1_000_000
NS_PER_SECOND = 1_000_000_000
EPOCH = datetime(1970, 1, 1)
ONE_SECOND = timedelta(seconds=1)

_ISO_8601 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)"
    r"(?:[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?)?"
    r" ?(Z|z|[+-]\d\d(?::?\d\d)?)?",
    re.ASCII,
)
# At most 19 digits: an int64 of milliseconds, and never a number too long for int().
_EPOCH_MILLISECONDS = re.compile(r"-?\d{1,19}(?:\.\d+)?", re.ASCII)
_DIGITS = re.compile(r"\d{1,19}", re.ASCII)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SYSLOG_TAG = re.compile(r"([^\[:\s]+)")


def decode_ndjson_logs(body: bytes, *, received_ns: int | None = None) -> Decoded:
    """Decode an NDJSON body: one log record per non-empty line.

    All or nothing: the first bad line rejects the whole request with `line N: ...` and nothing
    is stored, so a client fixes the line and sends the same batch again without having to work
    out which lines made it. `received_ns` (default: now) stamps records without a timestamp and
    is every record's observed timestamp.
    """
    received_ns = time.time_ns() if received_ns is None else received_ns
    batch = LogBatch()
    for number, line in non_blank_lines(body):
        document = parse_json_object(line, f"line {number}")
        try:
            add_json_record(batch, document, received_ns)
        except DecodeError as error:
            raise DecodeError(f"line {number}: {error}") from None
    return Decoded(batches=[batch], accepted=len(batch))


def non_blank_lines(body: bytes) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for the lines with something in them; CRLF is fine."""
    for index, line in enumerate(body.split(b"\n")):
        if line.strip():
            yield index + 1, line


def parse_json_object(text: bytes, where: str) -> dict[str, Any]:
    """`text` (a line, or a whole body) as a JSON object; DecodeError prefixed with `where`
    (`line 3`, `request body`) if it is not UTF-8 JSON or not an object."""
    try:
        value = json.loads(text.decode("utf-8-sig"), parse_constant=_reject_constant)
    except UnicodeDecodeError as error:
        raise DecodeError(f"{where}: not valid UTF-8 (byte {error.start})") from None
    except json.JSONDecodeError as error:
        position = f"line {error.lineno} column" if error.lineno > 1 else "column"
        raise DecodeError(
            f"{where}: not valid JSON ({error.msg} at {position} {error.colno})"
        ) from None
    except (ValueError, RecursionError) as error:
        raise DecodeError(f"{where}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise DecodeError(f"{where}: expected a JSON object, got {json_type(value)}")
    if _SURROGATE_ESCAPE.search(text):
        _check_encodable(value, where)
    return value


def _check_encodable(value: dict[str, Any], where: str) -> None:
    """json.loads turns an unpaired surrogate escape (`"\\ud800"`) into a string that no UTF-8
    column can hold; such a record is refused here rather than failing when it is stored."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise DecodeError(
            f"{where}: a string has an unpaired surrogate escape (\\uD800-\\uDFFF)"
        ) from None
    except RecursionError:
        raise DecodeError(f"{where}: the JSON is nested too deeply") from None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON value")


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def add_json_record(batch: LogBatch, document: dict[str, Any], received_ns: int) -> None:
    """Add one JSON log record to `batch`; DecodeError naming the field if a column value is bad.

    Nothing is added when it raises.
    """
    fields = flatten(document)
    timestamp = _take(fields, TIMESTAMP_FIELDS)
    level = _take(fields, LEVEL_FIELDS)
    severity_text, severity_number = severity_of(level[1]) if level else ("", 0)
    batch.add(
        timestamp_ns=parse_timestamp(timestamp[1], timestamp[0]) if timestamp else received_ns,
        observed_timestamp_ns=received_ns,
        body=_take_text(fields, MESSAGE_FIELDS),
        service=_take_text(fields, SERVICE_FIELDS) or _program(fields) or UNKNOWN_SERVICE,
        host=_take_text(fields, HOST_FIELDS),
        environment=_take_text(fields, ENVIRONMENT_FIELDS),
        severity_text=severity_text,
        severity_number=severity_number,
        trace_id=_take_text(fields, TRACE_ID_FIELDS),
        span_id=_take_text(fields, SPAN_ID_FIELDS),
        attributes={name: text_of(value) for name, value in fields.items()},
    )


def flatten(document: dict[str, Any]) -> dict[str, Any]:
    """Nested objects flattened to dotted keys; leaves (including `{}`) keep their JSON value.

    Iterative, so that a deeply nested document cannot exhaust the call stack.
    """
    flat: dict[str, Any] = {}
    pending: list[tuple[str, dict[str, Any]]] = [("", document)]
    while pending:
        prefix, node = pending.pop()
        for key, value in node.items():
            name = prefix + key
            if isinstance(value, dict) and value:
                pending.append((name + ".", value))
            else:
                flat[name] = value
    return flat


def text_of(value: Any) -> str:
    """A JSON value as attribute text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        raise DecodeError("a value is nested too deeply") from None


def _take(fields: dict[str, Any], names: tuple[str, ...]) -> tuple[str, Any] | None:
    """Remove and return (name, value) of the first of `names` with a non-null value."""
    for name in names:
        value = fields.get(name)
        if value is not None:
            del fields[name]
            return name, value
    return None


def _take_text(fields: dict[str, Any], names: tuple[str, ...]) -> str:
    taken = _take(fields, names)
    return text_of(taken[1]) if taken else ""


def _program(fields: dict[str, Any]) -> str:
    """The program name in a syslog tag such as `sshd[42]:` or `app:`; the tag is kept."""
    for name in SYSLOG_TAG_FIELDS:
        tag = fields.get(name)
        if isinstance(tag, str):
            match = _SYSLOG_TAG.match(tag.strip())
            if match:
                return match.group(1)
    return ""


def severity_of(level: Any) -> tuple[str, int]:
    """(severity text, OpenTelemetry severity number) for a level field's value.

    Names are matched case-insensitively (unknown names keep their text with number 0); integers
    0-7 (also as strings) are syslog severity codes, 10-60 pino/bunyan levels.
    """
    if isinstance(level, bool):
        return text_of(level), 0
    if isinstance(level, str) and _DIGITS.fullmatch(level.strip()):
        level = int(level)
    if isinstance(level, int):
        if 0 <= level < len(SYSLOG_SEVERITY_NAMES):
            name = SYSLOG_SEVERITY_NAMES[level]
        else:
            name = PINO_LEVEL_NAMES.get(level, str(level))
        return name, SEVERITY_NUMBERS.get(name, 0)
    text = text_of(level)
    return text, SEVERITY_NUMBERS.get(text.strip().lower(), 0)


def parse_timestamp(value: Any, field: str) -> int:
    """Nanoseconds since the epoch from ISO 8601 text or epoch milliseconds (number or digits)."""
    if isinstance(value, str):
        text = value.strip()
        if _EPOCH_MILLISECONDS.fullmatch(text):
            return _check_range(_milliseconds_ns(text), field, value)
        match = _ISO_8601.fullmatch(text)
        if match:
            return _check_range(_iso_ns(match, field, value), field, value)
    elif isinstance(value, int) and not isinstance(value, bool):
        return _check_range(value * NS_PER_MS, field, value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise DecodeError(f"{field}: {preview(value)} is not a timestamp")
        if abs(value) * NS_PER_MS > MAX_TIMESTAMP_NS:
            raise DecodeError(f"{field}: {preview(value)} is outside the years 1677-2262")
        # The shortest repr is the number as sent; multiplying the float would round it.
        text = repr(value)
        exact = _EPOCH_MILLISECONDS.fullmatch(text)
        return _check_range(
            _milliseconds_ns(text) if exact else round(value * NS_PER_MS), field, value
        )
    raise DecodeError(
        f"{field}: cannot parse {preview(value)} as a timestamp "
        "(expected ISO 8601 or epoch milliseconds)"
    )


def preview(value: Any, limit: int = 60) -> str:
    """A value as JSON for an error message, cut short if long."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except RecursionError:
        return json_type(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _milliseconds_ns(text: str) -> int:
    whole, _, fraction = text.partition(".")
    sign = -1 if whole.startswith("-") else 1
    fraction_ns = int((fraction + "000000")[:6]) if fraction else 0
    return int(whole) * NS_PER_MS + sign * fraction_ns


def _iso_ns(match: re.Match[str], field: str, value: str) -> int:
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError as error:
        raise DecodeError(f"{field}: {preview(value)} is not a valid date ({error})") from None
    seconds = (moment - EPOCH) // ONE_SECOND - _zone_offset_seconds(zone)
    return seconds * NS_PER_SECOND + int((fraction or "").ljust(9, "0")[:9])


def _zone_offset_seconds(zone: str | None) -> int:
    if zone is None or zone in "Zz":
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:] or 0) * 60)


def _check_range(timestamp_ns: int, field: str, value: Any) -> int:
    if not -MAX_TIMESTAMP_NS <= timestamp_ns <= MAX_TIMESTAMP_NS:
        raise DecodeError(f"{field}: {preview(value)} is outside the years 1677-2262")
    return timestamp_ns

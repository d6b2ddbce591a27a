"""Series as CSV files: `timestamp,value` rows in, the detector's verdict per row out.

Rows are read and written one at a time, so a file of any length streams through in constant
memory. Timestamps are ISO-8601 (without a zone they are UTC) or unix epoch seconds, each after
the one before (the detector sees a series in time order); an empty value is an absent point
(what that means depends on the metric kind).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from fullcycle.anomaly.detector import Point

OUTPUT_COLUMNS = ("timestamp", "value", "expected", "lower", "upper", "anomaly_score", "alert")


class SeriesFormatError(ValueError):
    """The CSV cannot be read as a series; the message names the line and what is wrong."""


@dataclass(frozen=True, slots=True)
class Row:
    """One input row: the timestamp and value as written (echoed back) and as numbers."""

    line: int
    timestamp_text: str
    value_text: str
    timestamp: float
    value: float | None


def read_rows(source: IO[str], name: str) -> Iterator[Row]:
    """The rows of a `timestamp,value` CSV with a header. The header is checked now, each row
    as it is read."""
    reader = csv.reader(source)
    header = next(reader, None)
    if header is None:
        raise SeriesFormatError(f"{name} is empty: expected a header line 'timestamp,value'")
    columns = [column.strip().lower() for column in header]
    if "timestamp" not in columns or "value" not in columns:
        raise SeriesFormatError(
            f"{name}, line 1: the header must name the columns 'timestamp' and 'value' "
            f"(found {','.join(header)!r})"
        )
    return _rows(reader, name, columns.index("timestamp"), columns.index("value"))


def _rows(reader: Any, name: str, time_column: int, value_column: int) -> Iterator[Row]:
    width = max(time_column, value_column) + 1
    previous: Row | None = None
    for fields in reader:
        line = reader.line_num
        if not fields or fields == [""]:
            continue
        if len(fields) < width:
            raise SeriesFormatError(
                f"{name}, line {line}: expected at least {width} fields, found {len(fields)}"
            )
        timestamp_text, value_text = fields[time_column].strip(), fields[value_column].strip()
        row = Row(
            line,
            timestamp_text,
            value_text,
            _timestamp(timestamp_text, name, line),
            _value(value_text, name, line),
        )
        if previous is not None and row.timestamp <= previous.timestamp:
            raise SeriesFormatError(
                f"{name}, line {line}: timestamp {timestamp_text!r} is not after "
                f"{previous.timestamp_text!r} (line {previous.line}): rows must be in time order"
            )
        previous = row
        yield row


def _timestamp(text: str, name: str, line: int) -> float:
    try:
        epoch = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(epoch):
            raise SeriesFormatError(
                f"{name}, line {line}: timestamp {text!r} is not a finite number of seconds"
            )
        return epoch
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SeriesFormatError(
            f"{name}, line {line}: timestamp {text!r} is neither ISO-8601 nor epoch seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _value(text: str, name: str, line: int) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise SeriesFormatError(f"{name}, line {line}: value {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SeriesFormatError(f"{name}, line {line}: value {text!r} is not a finite number")
    return value


def output_line(row: Row, point: Point) -> list[str]:
    """The output fields for one row: the input as written, then the detector's verdict."""
    return [
        row.timestamp_text,
        row.value_text,
        _number(point.expected),
        _number(point.lower),
        _number(point.upper),
        repr(point.anomaly_score),
        str(point.alert),
    ]


def _number(value: float) -> str:
    return format(value, ".10g")

"""What the API, the pages and alert rules ask of the logs: requests checked and parsed once,
answered by the named reads in `telemetry/log_queries.py`, and lines as JSON."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.exceptions import DatabaseError

from fullcycle.logs.levels import LEVEL_ORDER
from fullcycle.logs.patterns import MAX_PATTERN_SAMPLE, Pattern, mine_patterns
from fullcycle.logs.query import LogQueryError, Query, parse
from fullcycle.logs.time_range import (
    NS_PER_SECOND,
    TimeRangeError,
    histogram_step_seconds,
    parse_time,
    parse_window,
)
from fullcycle.telemetry import log_queries
from fullcycle.telemetry.log_queries import Facets, LogLine, Window
from fullcycle.telemetry.store import TelemetryStore

CURSOR = re.compile(r"(\d{1,20})-(\d{1,20})")
MAX_KEY = 2**64 - 1
CONTEXT_WINDOW_NS = 3600 * NS_PER_SECOND
# ClickHouse error codes that mean the user's input (a regular expression) was refused.
INPUT_ERROR_CODES = ("Code: 427.", "Code: 36.")


class LogRequestError(ValueError):
    """Bad input to a log request; the message names the parameter (and column)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


@dataclass(frozen=True)
class LogRequest:
    query: Query
    window: Window


def log_request(q: str, start: str | None, end: str | None) -> LogRequest:
    """Parse `q` and the time range; LogRequestError naming what is wrong."""
    try:
        query = parse(q)
    except LogQueryError as error:
        raise LogRequestError(f"q: {error.message}", error.column) from None
    try:
        window = parse_window(start, end)
    except TimeRangeError as error:
        raise LogRequestError(str(error)) from None
    return LogRequest(query, window)


def _position(text: str) -> tuple[int, int] | None:
    """(timestamp ns, key) of a line id or cursor; None if `text` is neither."""
    match = CURSOR.fullmatch(text)
    if not match or int(match.group(2)) > MAX_KEY or int(match.group(1)) >= 2**63:
        return None
    return int(match.group(1)), int(match.group(2))


def parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    if not cursor:
        return None
    position = _position(cursor)
    if position is None:
        raise LogRequestError(
            "cursor: not a cursor from a previous page (use next_cursor as given)"
        )
    return position


def parse_line_id(line_id: str) -> tuple[int, int]:
    position = _position(line_id)
    if position is None:
        raise LogRequestError("id: expected a line id such as 1764150000000000000-123")
    return position


def refused_by_store(error: DatabaseError) -> LogRequestError | None:
    """A store error caused by the query's text (e.g. a regular expression RE2 refuses)."""
    message = str(error)
    if any(code in message for code in INPUT_ERROR_CODES):
        detail = message.split("DB::Exception:", 1)[-1].split(". (", 1)[0].strip()
        return LogRequestError(f"q: the store refused the query: {detail}")
    return None


def timestamp_text(timestamp_ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds."""
    seconds, nanoseconds = divmod(timestamp_ns, NS_PER_SECOND)
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanoseconds:09d}Z"


def line_json(line: LogLine) -> dict[str, Any]:
    return {
        "id": line.line_id,
        "timestamp": timestamp_text(line.timestamp_ns),
        "service": line.service,
        "environment": line.environment,
        "host": line.host,
        "level": line.level,
        "severity_text": line.severity_text,
        "severity_number": line.severity_number,
        "body": line.body,
        "trace_id": line.trace_id,
        "span_id": line.span_id,
        "scope": line.scope,
        "attributes": line.attributes,
        "resource_attributes": line.resource_attributes,
    }


# --- the answers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchPage:
    total: int
    lines: list[LogLine]
    next_cursor: str | None


def search(
    store: TelemetryStore, request: LogRequest, limit: int, cursor: str | None
) -> SearchPage:
    """The exact total in the window and the newest `limit` lines (after `cursor`)."""
    before = parse_cursor(cursor)
    total = log_queries.count_matches(store, request.query, request.window)
    if total == 0:
        return SearchPage(0, [], None)
    lines = log_queries.newest_lines(store, request.query, request.window, limit + 1, before, total)
    if len(lines) > limit:
        return SearchPage(total, lines[:limit], lines[limit - 1].line_id)
    return SearchPage(total, lines, None)


def count_matches(store: TelemetryStore, query: Query, window: Window) -> int:
    """How many lines match `query` in `window` (for alert rules)."""
    return log_queries.count_matches(store, query, window)


@dataclass(frozen=True)
class Histogram:
    step_seconds: int
    buckets: list[int]  # bucket starts, ns
    levels: dict[str, list[int]]  # level -> count per bucket


def histogram(store: TelemetryStore, request: LogRequest, buckets: int = 60) -> Histogram:
    step = histogram_step_seconds(request.window, buckets)
    rows = log_queries.histogram(store, request.query, request.window, step)
    step_ns = step * NS_PER_SECOND
    first = request.window.start_ns // step_ns * step_ns
    starts = list(range(first, request.window.end_ns, step_ns))
    index = {start: position for position, start in enumerate(starts)}
    present = {level for _, level, _ in rows}
    levels = {level: [0] * len(starts) for level in LEVEL_ORDER if level in present}
    for start, level, count in rows:
        if start in index:
            levels[level][index[start]] += count
    return Histogram(step, starts, levels)


ATTRIBUTE_SAMPLE = 20_000


def facets(store: TelemetryStore, request: LogRequest, values: int, attributes: int) -> Facets:
    """Facet counts: built-in fields over all matching lines, attributes over the newest
    ATTRIBUTE_SAMPLE of them."""
    return log_queries.facets(
        store, request.query, request.window, values, attributes, ATTRIBUTE_SAMPLE
    )


@dataclass(frozen=True)
class Patterns:
    sampled: int
    patterns: list[Pattern]


def patterns(
    store: TelemetryStore, request: LogRequest, sample: int, new_since: str | None
) -> Patterns:
    """Templates of the newest `sample` matching lines; with `new_since`, those that no line
    in the day before it (up to the same sample size) fell into are marked new."""
    lines = log_queries.sample_bodies(store, request.query, request.window, sample)
    earlier = None
    if new_since:
        try:
            since_ns = parse_time(new_since, "new_since", request.window.end_ns)
        except TimeRangeError as error:
            raise LogRequestError(str(error)) from None
        before = Window(since_ns - 86400 * NS_PER_SECOND, since_ns)
        earlier = log_queries.sample_bodies(store, request.query, before, MAX_PATTERN_SAMPLE)
        lines = [line for line in lines if line[0] >= since_ns]
    return Patterns(len(lines), mine_patterns(lines, request.window, earlier))


def line_with_context(
    store: TelemetryStore, line_id: str, count: int
) -> tuple[LogLine, list[LogLine]] | None:
    """A line and up to `count` lines before and after it from the same service and host."""
    timestamp_ns, key = parse_line_id(line_id)
    line = log_queries.line_by_id(store, timestamp_ns, key)
    if line is None:
        return None
    return line, log_queries.neighbours(store, line, count, CONTEXT_WINDOW_NS)

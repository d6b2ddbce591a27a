"""Times in requests: RFC 3339 (`2026-11-26T10:00:00Z`) or relative to now (`now-1h`, and
`now+8h` for the end of an on-call override)."""

from __future__ import annotations

import re
import time
from datetime import datetime

from fullcycle.telemetry.log_queries import Window

NS_PER_SECOND = 1_000_000_000
RELATIVE = re.compile(r"now(?:\s*([+-])\s*(\d{1,9})\s*([smhdw]))?")
DURATION = re.compile(r"(\d{1,9})\s*([smhdw])")
SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DEFAULT_RANGE = "now-1h"
MAX_WINDOW_NS = 400 * 86400 * NS_PER_SECOND
# What the store's nanosecond timestamps (DateTime64(9)) can hold.
MIN_YEAR, MAX_YEAR = 1970, 2261


class TimeRangeError(ValueError):
    """A time or range that cannot be understood; the message names the parameter."""


def parse_duration(text: str, name: str) -> int:
    """`15m`, `1h`, `7d` -> nanoseconds."""
    match = DURATION.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise TimeRangeError(f"{name}: {text!r} is not a duration; expected e.g. 30s, 15m, 1h, 7d")
    return int(match.group(1)) * SECONDS_PER_UNIT[match.group(2)] * NS_PER_SECOND


def parse_time(text: str, name: str, now_ns: int) -> int:
    """Nanoseconds since the epoch for RFC 3339 or `now`, `now-15m`, `now-2d`, `now+8h`."""
    stripped = text.strip()
    relative = RELATIVE.fullmatch(stripped)
    if relative:
        sign, amount, unit = relative.groups()
        offset = int(amount) * SECONDS_PER_UNIT[unit] * NS_PER_SECOND if amount else 0
        moment_ns = now_ns + offset if sign == "+" else now_ns - offset
        if moment_ns < 0:
            raise TimeRangeError(f"{name}: {text!r} is before 1970")
        return moment_ns
    try:
        moment = datetime.fromisoformat(stripped.replace("z", "Z"))
    except ValueError:
        raise TimeRangeError(
            f"{name}: {text!r} is not a time; expected RFC 3339 (2026-11-26T10:00:00Z) "
            "or relative to now (now-1h)"
        ) from None
    if moment.tzinfo is None:
        raise TimeRangeError(f"{name}: {text!r} has no time zone; add Z or an offset like +01:00")
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise TimeRangeError(f"{name}: {text!r} is outside the years {MIN_YEAR}-{MAX_YEAR}")
    seconds = int(moment.timestamp())
    return seconds * NS_PER_SECOND + moment.microsecond * 1000


def parse_window(start: str | None, end: str | None, now_ns: int | None = None) -> Window:
    """The window [from, to): `from` defaults to now-1h, `to` to now."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    start_ns = parse_time(start or DEFAULT_RANGE, "from", now_ns)
    end_ns = parse_time(end or "now", "to", now_ns)
    if start_ns >= end_ns:
        raise TimeRangeError("from: must be before to")
    if end_ns - start_ns > MAX_WINDOW_NS:
        raise TimeRangeError("from: the range may span at most 400 days")
    return Window(start_ns, end_ns)


def histogram_step_seconds(window: Window, buckets: int = 60) -> int:
    """A round bucket width giving about `buckets` buckets over the window."""
    span = (window.end_ns - window.start_ns) / NS_PER_SECOND / buckets
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600):
        if step >= span:
            return step
    return 86400 * max(1, round(span / 86400))

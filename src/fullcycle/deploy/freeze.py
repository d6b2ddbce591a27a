"""Freeze windows: a cron expression (minute hour day-of-month month day-of-week, in a time
zone) says when a window starts, and it lasts `duration_minutes`. Deploys starting inside one are
refused unless overridden with a written reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
MAX_DURATION_MINUTES = 31 * 24 * 60


@dataclass(frozen=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday, as in cron
    any_day: bool
    any_weekday: bool

    def matches(self, moment: datetime) -> bool:
        if (
            moment.minute not in self.minutes
            or moment.hour not in self.hours
            or moment.month not in self.months
        ):
            return False
        day_ok = moment.day in self.days
        weekday_ok = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:  # cron: if either is restricted, only that counts
            return day_ok and weekday_ok
        return day_ok or weekday_ok


def parse_cron(expression: str) -> CronSchedule:
    """Parse five cron fields (`*`, `a-b`, `*/n`, `a-b/n`, lists); ValueError names the field."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(
            f"a cron expression has 5 fields (minute hour day month weekday), not {len(parts)}"
        )
    values = [
        _field(part, name, low, high) for part, (name, low, high) in zip(parts, FIELDS, strict=True)
    ]
    weekdays = frozenset(day % 7 for day in values[4])
    return CronSchedule(
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    result: set[int] = set()
    for item in text.split(","):
        result |= _item(item, name, low, high)
    return frozenset(result)


def _item(item: str, name: str, low: int, high: int) -> set[int]:
    spec, _, step_text = item.partition("/")
    try:
        step = int(step_text) if step_text else 1
        if spec == "*":
            start, end = low, high
        elif "-" in spec:
            first, _, last = spec.partition("-")
            start, end = int(first), int(last)
        else:
            start = int(spec)
            end = high if step_text else start
    except ValueError:
        raise ValueError(f"{name}: {item!r} is not a number, range or */step") from None
    if step < 1 or not (low <= start <= end <= high):
        raise ValueError(f"{name}: {item!r} is outside {low}-{high} or has a bad step")
    return set(range(start, end + 1, step))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
        ) from None


@dataclass(frozen=True)
class Window:
    name: str
    cron: str
    duration_minutes: int
    timezone: str


def active_window(windows: Iterable[Window], now: datetime) -> Window | None:
    """The first window that `now` falls into (started at most its duration ago)."""
    for window in windows:
        schedule = parse_cron(window.cron)
        local_now = now.astimezone(zone(window.timezone)).replace(second=0, microsecond=0)
        for minutes_back in range(window.duration_minutes):
            if schedule.matches(local_now - timedelta(minutes=minutes_back)):
                return window
    return None

"""On-call schedules: who is on call now and next.

A schedule rotates through its participants daily or weekly, handing off at a wall-clock time
in its time zone (09:00 Europe/Berlin stays 09:00 across daylight-saving changes, so a shift
around a change is an hour shorter or longer). Shifts are counted on local calendar dates,
never by adding 24-hour periods. Overrides ("I'll take Tuesday") win over the rotation for
their span."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class Override:
    user: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Rotation:
    participants: list[str]
    kind: Literal["daily", "weekly"]
    handoff: time
    timezone: str
    start: date  # the first shift begins at the handoff time of this local date
    overrides: tuple[Override, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None


@dataclass(frozen=True)
class Shift:
    user: str
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC
    override: bool = False


def _instant(rotation: Rotation, day: date) -> datetime:
    """The UTC moment of the handoff on local `day`. A wall-clock time skipped by a spring
    change falls to the moment it would have been (zoneinfo's fold=0 reading, normalised)."""
    local = datetime.combine(day, rotation.handoff, tzinfo=rotation.zone)
    return local.astimezone(UTC)


def _shift_start_day(rotation: Rotation, at: datetime) -> date:
    """The local date on which the shift covering `at` began."""
    local = at.astimezone(rotation.zone)
    day = local.date()
    if at < _instant(rotation, day):
        day -= timedelta(days=1)
    if rotation.kind == "weekly":
        day -= timedelta(days=(day - rotation.start).days % 7)
    return day


def _length_days(rotation: Rotation) -> int:
    return 7 if rotation.kind == "weekly" else 1


def rotation_shift(rotation: Rotation, at: datetime) -> Shift:
    """The rotation's shift (without overrides) covering `at`."""
    if not rotation.participants:
        raise ValueError("the schedule has no participants")
    start_day = _shift_start_day(rotation, at)
    index = ((start_day - rotation.start).days // _length_days(rotation)) % len(
        rotation.participants
    )
    end_day = start_day + timedelta(days=_length_days(rotation))
    return Shift(
        rotation.participants[index],
        _instant(rotation, start_day),
        _instant(rotation, end_day),
    )


def on_call(rotation: Rotation, at: datetime) -> Shift:
    """Who is on call at `at`: an override covering it, else the rotation's shift (cut short
    where an override begins)."""
    for override in rotation.overrides:
        if override.starts_at <= at < override.ends_at:
            return Shift(override.user, override.starts_at, override.ends_at, override=True)
    shift = rotation_shift(rotation, at)
    later = [o.starts_at for o in rotation.overrides if at < o.starts_at < shift.ends_at]
    return Shift(shift.user, shift.starts_at, min([shift.ends_at, *later]))


def now_and_next(rotation: Rotation, at: datetime) -> tuple[Shift, Shift]:
    current = on_call(rotation, at)
    following = on_call(rotation, current.ends_at)
    return current, following

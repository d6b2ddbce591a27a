"""On-call rotations as the people on them live them: handoff at the same wall-clock time
across both daylight-saving changes, daily and weekly rotations, overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from fullcycle.alerting.oncall import Override, Rotation, now_and_next, on_call


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


DAILY = Rotation(
    participants=["ana", "ben", "cem"],
    kind="daily",
    handoff=time(9, 0),
    timezone="Europe/Berlin",
    start=date(2026, 3, 27),
)


def test_daily_handoff_stays_at_nine_local_across_the_spring_change() -> None:
    # Berlin: UTC+1 until 2026-03-29 02:00, then UTC+2.
    before = on_call(DAILY, utc("2026-03-28T07:59:00"))
    assert before.user == "ana"
    assert before.ends_at == utc("2026-03-28T08:00:00")  # 09:00 CET
    saturday = on_call(DAILY, utc("2026-03-28T08:00:00"))
    assert saturday.user == "ben"
    assert saturday.ends_at == utc("2026-03-29T07:00:00")  # 09:00 CEST: a 23-hour shift
    assert on_call(DAILY, utc("2026-03-29T06:59:00")).user == "ben"
    assert on_call(DAILY, utc("2026-03-29T07:00:00")).user == "cem"


def test_daily_handoff_stays_at_nine_local_across_the_autumn_change() -> None:
    # Berlin: back to UTC+1 on 2026-10-25 at 03:00 CEST.
    shift = on_call(DAILY, utc("2026-10-24T12:00:00"))
    assert (shift.starts_at, shift.ends_at) == (
        utc("2026-10-24T07:00:00"),
        utc("2026-10-25T08:00:00"),  # a 25-hour shift
    )
    assert on_call(DAILY, utc("2026-10-25T07:30:00")).user == shift.user
    assert on_call(DAILY, utc("2026-10-25T08:00:00")).user != shift.user


def test_weekly_rotation_hands_off_on_the_start_weekday() -> None:
    weekly = Rotation(["ana", "ben"], "weekly", time(10, 0), "America/New_York", date(2026, 3, 2))
    # New York springs forward on 2026-03-08.
    first = on_call(weekly, utc("2026-03-05T12:00:00"))
    assert first.user == "ana"
    assert first.starts_at == utc("2026-03-02T15:00:00")  # 10:00 EST
    assert first.ends_at == utc("2026-03-09T14:00:00")  # 10:00 EDT
    assert on_call(weekly, utc("2026-03-09T14:00:00")).user == "ben"
    assert on_call(weekly, utc("2026-03-16T14:00:00")).user == "ana"


def test_an_override_takes_its_span_and_who_is_next_follows() -> None:
    tuesday = Override("dora", utc("2026-03-31T07:00:00"), utc("2026-04-01T07:00:00"))
    rotation = Rotation(**{**DAILY.__dict__, "overrides": (tuesday,)})
    monday = on_call(rotation, utc("2026-03-30T12:00:00"))
    assert monday.ends_at == utc("2026-03-31T07:00:00")
    now, following = now_and_next(rotation, utc("2026-03-30T12:00:00"))
    assert following.user == "dora" and following.override
    assert on_call(rotation, utc("2026-03-31T12:00:00")).user == "dora"
    assert (
        on_call(rotation, utc("2026-04-01T07:00:00")).user
        == on_call(DAILY, utc("2026-04-01T07:00:00")).user
    )
    assert now.user == on_call(DAILY, utc("2026-03-30T12:00:00")).user


def test_unknown_zones_and_empty_schedules_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        on_call(
            Rotation(["a"], "daily", time(9), "Mars/Olympus", date(2026, 1, 1)),
            utc("2026-02-01T00:00:00"),
        )
    with pytest.raises(ValueError, match="no participants"):
        on_call(Rotation([], "daily", time(9), "UTC", date(2026, 1, 1)), utc("2026-02-01T00:00:00"))

"""Silences and inhibition: the two reasons a firing alert is not notified.

A silence has label matchers (`=`, `!=`, `=~`, `!~` as in Alertmanager; regular expressions
match the whole value) and a time span of at most MAX_SILENCE. Inhibition: a firing critical
alert of a service mutes that service's warning and info alerts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.models import Alert, Silence
from fullcycle.alerting.rules.spec import duration_seconds
from fullcycle.alerting.silence_notices import queue_notices

MAX_SILENCE = timedelta(days=14)
MATCHER_TEXT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*\"?(.*?)\"?\s*$")


class Matcher(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    op: Literal["=", "!=", "=~", "!~"] = "="
    value: str = Field(max_length=1000)

    @field_validator("value")
    @classmethod
    def valid_regex(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("op") in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"not a regular expression: {error}") from None
        return value

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op in ("=", "!="):
            return (actual == self.value) == (self.op == "=")
        return (re.fullmatch(self.value, actual) is not None) == (self.op == "=~")


def parse_matcher(text: str) -> Matcher:
    """`alertname="HighErrors"`, `severity!=info`, `instance=~"web-.*"`."""
    match = MATCHER_TEXT.match(text)
    if match is None:
        raise ValueError(f'{text!r} is not a matcher; expected e.g. alertname="HighErrors"')
    return Matcher(name=match.group(1), op=match.group(2), value=match.group(3))


def silence_matches(silence: Silence, labels: Mapping[str, str]) -> bool:
    return all(Matcher.model_validate(m).matches(labels) for m in silence.matchers)


def active_silences(db: Session, now: datetime) -> list[Silence]:
    return list(db.scalars(select(Silence).where(Silence.starts_at <= now, Silence.ends_at > now)))


def suppression(db: Session, alert: Alert, now: datetime) -> str:
    """Why the alert is not to be notified now ("" when it is)."""
    for silence in active_silences(db, now):
        if silence_matches(silence, alert.labels):
            return f"silence {silence.id}"
    if alert.labels.get("severity") != "critical":
        critical = db.scalar(
            select(Alert.id).where(
                Alert.service == alert.service,
                Alert.state == "firing",
                Alert.id != alert.id,
                Alert.labels["severity"].as_string() == "critical",
            )
        )
        if critical is not None:
            return f"inhibited by alert {critical}"
    return ""


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matchers: list[Matcher] = Field(min_length=1, max_length=50)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    duration: str | None = None
    comment: str = Field(default="", max_length=2000)


class SilenceRefused(ValueError):
    pass


def create_silence(db: Session, body: SilenceIn, actor: str, now: datetime) -> Silence:
    """A silence from `starts_at` (default now) to `ends_at` or for `duration`; the notices
    that it was created are queued with it."""
    starts_at = body.starts_at or now
    if starts_at.tzinfo is None:
        raise SilenceRefused("starts_at: give a time zone (e.g. Z)")
    if (body.ends_at is None) == (body.duration is None):
        raise SilenceRefused("give either ends_at or duration")
    if body.duration is not None:
        try:
            ends_at = starts_at + timedelta(seconds=duration_seconds(body.duration))
        except ValueError as error:
            raise SilenceRefused(f"duration: {error}") from None
    else:
        assert body.ends_at is not None
        if body.ends_at.tzinfo is None:
            raise SilenceRefused("ends_at: give a time zone (e.g. Z)")
        ends_at = body.ends_at
    if ends_at <= starts_at or ends_at <= now:
        raise SilenceRefused("the silence must end after it starts and after now")
    if ends_at - starts_at > MAX_SILENCE:
        raise SilenceRefused(f"a silence lasts at most {MAX_SILENCE.days} days")
    silence = Silence(
        matchers=[m.model_dump() for m in body.matchers],
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=actor,
        comment=body.comment,
    )
    db.add(silence)
    db.flush()
    queue_notices(db, silence, "created", now)
    return silence


def silence_view(silence: Silence, now: datetime) -> dict[str, Any]:
    if silence.ends_at <= now:
        state = "expired"
    else:
        state = "active" if silence.starts_at <= now else "pending"
    return {
        "id": silence.id,
        "matchers": silence.matchers,
        "starts_at": silence.starts_at.isoformat(),
        "ends_at": silence.ends_at.isoformat(),
        "created_by": silence.created_by,
        "comment": silence.comment,
        "state": state,
    }

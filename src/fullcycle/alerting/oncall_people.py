"""The people an escalation level reaches, and their own contact methods.

A contact method is a receiver owned by a person (`Receiver.user`), named `@<user>/<label>`:
their e-mail address (sent through the server's mail relay), their Slack incoming webhook, or
a generic webhook, like a PagerDuty user's contact methods. It receives alerts only through
escalation policies: when a level names the person, the on-call person of a schedule (who is on
call when the level is reached, through rotations and overrides), or the whole team."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.grouping import GroupingIn, grouping_view
from fullcycle.alerting.models import OncallOverride, OncallSchedule, Receiver
from fullcycle.alerting.notify.message import masked
from fullcycle.alerting.oncall import Override, Rotation, on_call
from fullcycle.catalog.models import Team, TeamMember

EMAIL_ADDRESS = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
CONTACT_LABEL = r"^[a-z0-9][a-z0-9-]{0,39}$"


def rotation_of(db: Session, schedule: OncallSchedule) -> Rotation:
    overrides = db.scalars(select(OncallOverride).where(OncallOverride.schedule_id == schedule.id))
    return Rotation(
        participants=list(schedule.participants),
        kind=schedule.rotation,  # type: ignore[arg-type]
        handoff=time.fromisoformat(schedule.handoff),
        timezone=schedule.timezone,
        start=date.fromisoformat(schedule.start_date),
        overrides=tuple(Override(o.user, o.starts_at, o.ends_at) for o in overrides),
    )


def find_schedule(db: Session, team: str, reference: str) -> OncallSchedule | None:
    """A schedule named `name` (of `team`) or `other-team/name`."""
    owner, _, name = reference.rpartition("/")
    return db.scalar(
        select(OncallSchedule).where(
            OncallSchedule.team == (owner or team), OncallSchedule.name == name
        )
    )


def on_call_now(db: Session, team: str, reference: str, at: datetime) -> str | None:
    schedule = find_schedule(db, team, reference)
    if schedule is None or not schedule.participants:
        return None
    return on_call(rotation_of(db, schedule), at).user


def team_members(db: Session, team: str) -> list[str]:
    return list(
        db.scalars(
            select(TeamMember.user_name)
            .join(Team, Team.id == TeamMember.team_id)
            .where(Team.name == team)
            .order_by(TeamMember.position)
        )
    )


def level_people(db: Session, team: str, level: dict[str, Any], at: datetime) -> set[str]:
    """The people a level reaches at `at`: named, on call in its schedules, the team."""
    people = set(level.get("users", []))
    for reference in level.get("schedules", []):
        person = on_call_now(db, team, reference, at)
        if person is not None:
            people.add(person)
    if level.get("team"):
        people.update(team_members(db, team))
    return people


def contact_receivers(db: Session, people: set[str]) -> list[int]:
    if not people:
        return []
    return list(db.scalars(select(Receiver.id).where(Receiver.user.in_(people))))


def personal_receivers(db: Session) -> set[str]:
    return set(db.scalars(select(Receiver.name).where(Receiver.user != "")))


class ContactMethodIn(GroupingIn):
    """`email`: `address` an e-mail address; `slack`, `webhook`: `address` the URL."""

    label: Annotated[str, Field(pattern=CONTACT_LABEL)]
    kind: Literal["email", "slack", "webhook"]
    address: Annotated[str, Field(min_length=3, max_length=2000)]

    @model_validator(mode="after")
    def address_fits_kind(self) -> ContactMethodIn:
        if self.kind == "email":
            if not re.fullmatch(EMAIL_ADDRESS, self.address):
                raise ValueError(f"address: {self.address!r} is not an e-mail address")
        elif not re.fullmatch(r"https?://[^\s]+", self.address):
            raise ValueError(f"address: a {self.kind} contact method needs an http(s) URL")
        return self


def contact_receiver(user: str, body: ContactMethodIn, actor: str) -> Receiver:
    """The receiver of a person's contact method (e-mail goes through the mail relay)."""
    email = body.kind == "email"
    receiver = Receiver(
        name=contact_name(user, body.label),
        kind=body.kind,
        url="" if email else body.address,
        options={"to": [body.address]} if email else {},
        user=user,
        created_by=actor,
    )
    body.apply_to(receiver)
    return receiver


def contact_name(user: str, label: str) -> str:
    return f"@{user}/{label}"


def contact_view(receiver: Receiver) -> dict[str, Any]:
    """E-mail addresses are shown; URLs (which hold tokens) only as scheme and host."""
    address = receiver.options["to"][0] if receiver.kind == "email" else masked(receiver.url)
    return {
        "label": receiver.name.split("/", 1)[1],
        "kind": receiver.kind,
        "address": address,
        **grouping_view(receiver),
    }

"""The on-call API: a team's schedules with who is on call now and next, overrides, and who is
on call for a service (through the teams that own it). Reading needs `read`; changing
schedules needs `deploy`."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.models import (
    EscalationPolicy,
    OncallOverride,
    OncallSchedule,
    Receiver,
)
from fullcycle.alerting.oncall import Rotation, Shift, now_and_next
from fullcycle.alerting.oncall_people import find_schedule, rotation_of
from fullcycle.alerting.rules.spec import SERVICE_NAME
from fullcycle.audit.log import record
from fullcycle.auth.dependencies import RequireDeploy, RequireRead, get_db
from fullcycle.auth.models import User
from fullcycle.auth.principal import Principal
from fullcycle.catalog.models import Service
from fullcycle.catalog.service import get_service, get_team
from fullcycle.store.database import utcnow

router = APIRouter(prefix="/api/v1", tags=["on-call"])


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=SERVICE_NAME)]
    rotation: Literal["daily", "weekly"]
    handoff: time
    timezone: str
    start_date: date
    participants: Annotated[list[str], Field(min_length=1, max_length=100)]

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        Rotation(["x"], "daily", time(0), value, date(2000, 1, 1)).zone  # noqa: B018
        return value


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: Annotated[str, Field(min_length=1, max_length=100)]
    starts_at: datetime
    ends_at: datetime


def _shift(shift: Shift) -> dict[str, Any]:
    return {
        "user": shift.user,
        "from": shift.starts_at.isoformat(),
        "until": shift.ends_at.isoformat(),
        "override": shift.override,
    }


def schedule_view(db: Session, schedule: OncallSchedule, at: datetime) -> dict[str, Any]:
    current, following = now_and_next(rotation_of(db, schedule), at)
    return {
        "id": schedule.id,
        "team": schedule.team,
        "name": schedule.name,
        "rotation": schedule.rotation,
        "handoff": schedule.handoff,
        "timezone": schedule.timezone,
        "participants": schedule.participants,
        "now": _shift(current),
        "next": _shift(following),
    }


def _team_schedules(db: Session, team: str) -> list[OncallSchedule]:
    return list(
        db.scalars(select(OncallSchedule).where(OncallSchedule.team == team).order_by("name"))
    )


@router.post("/teams/{team}/oncall-schedules", status_code=201)
def create_schedule(
    team: str,
    body: ScheduleIn,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    if get_team(db, team) is None:
        raise HTTPException(404, f"there is no team named {team!r}")
    if any(s.name == body.name for s in _team_schedules(db, team)):
        raise HTTPException(409, f"team {team!r} has a schedule named {body.name!r} already")
    schedule = OncallSchedule(
        team=team,
        name=body.name,
        rotation=body.rotation,
        handoff=body.handoff.strftime("%H:%M"),
        timezone=body.timezone,
        start_date=body.start_date.isoformat(),
        participants=body.participants,
    )
    db.add(schedule)
    db.flush()
    record(db, request, principal, "oncall.schedule.create", f"{team}/{body.name}")
    db.commit()
    return schedule_view(db, schedule, utcnow())


@router.post("/oncall-schedules/{schedule_id}/overrides", status_code=201)
def add_override(
    schedule_id: int,
    body: OverrideIn,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    schedule = db.get(OncallSchedule, schedule_id)
    if schedule is None:
        raise HTTPException(404, f"there is no on-call schedule {schedule_id}")
    if body.starts_at.tzinfo is None or body.ends_at.tzinfo is None:
        raise HTTPException(422, "starts_at and ends_at need a time zone (e.g. Z)")
    if body.ends_at <= body.starts_at:
        raise HTTPException(422, "ends_at must be after starts_at")
    db.add(
        OncallOverride(
            schedule_id=schedule_id,
            user=body.user,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            created_by=principal.actor,
        )
    )
    record(db, request, principal, "oncall.override.create", str(schedule_id), user=body.user)
    db.commit()
    return schedule_view(db, schedule, utcnow())


@router.get("/teams/{team}/oncall", dependencies=[RequireRead])
def team_oncall(
    team: str, db: Session = Depends(get_db), at: datetime | None = None
) -> list[dict[str, Any]]:
    moment = at or utcnow()
    if moment.tzinfo is None:
        raise HTTPException(422, "at: give a time zone (e.g. Z)")
    return [schedule_view(db, s, moment) for s in _team_schedules(db, team)]


@router.get("/services/{name}/oncall", dependencies=[RequireRead])
def service_oncall(
    name: str, db: Session = Depends(get_db), at: datetime | None = None
) -> list[dict[str, Any]]:
    """The schedules of the teams owning the service (owners `group:<team>` or `<team>`)."""
    service = get_service(db, name)
    if service is None:
        raise HTTPException(404, f"there is no service named {name!r}")
    return schedules_for_service(db, service, at or utcnow())


def schedules_for_service(db: Session, service: Service, at: datetime) -> list[dict[str, Any]]:
    teams = [owner.ref.removeprefix("group:").split("/")[-1] for owner in service.owners]
    return [schedule_view(db, s, at) for team in teams for s in _team_schedules(db, team)]


class EscalationLevel(BaseModel):
    """Whom a level notifies: receivers by name, the person on call in schedules (`name` of
    the team's, or `team/name`), people by user name, and (`team: true`) every member."""

    model_config = ConfigDict(extra="forbid")

    after_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60)]
    receivers: Annotated[list[str], Field(max_length=20)] = []
    schedules: Annotated[list[str], Field(max_length=20)] = []
    users: Annotated[list[str], Field(max_length=50)] = []
    team: bool = False

    @model_validator(mode="after")
    def has_target(self) -> EscalationLevel:
        if not (self.receivers or self.schedules or self.users or self.team):
            raise ValueError("a level needs receivers, schedules, users or team: true")
        return self


class EscalationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    levels: Annotated[list[EscalationLevel], Field(min_length=1, max_length=10)]
    repeat: Annotated[int, Field(ge=0, le=10)] = 0


@router.put("/teams/{team}/escalation-policy")
def set_escalation_policy(
    team: str,
    body: EscalationIn,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    """The team's escalation policy (replacing the previous one). Receivers are named."""
    if get_team(db, team) is None:
        raise HTTPException(404, f"there is no team named {team!r}")
    _check_targets(db, team, body.levels)
    policy = db.scalar(select(EscalationPolicy).where(EscalationPolicy.team == team))
    if policy is None:
        policy = EscalationPolicy(team=team)
        db.add(policy)
    policy.levels = [level.model_dump() for level in body.levels]
    policy.repeat = body.repeat
    record(db, request, principal, "escalation.set", team, levels=policy.levels)
    db.commit()
    return {"team": team, "levels": policy.levels, "repeat": policy.repeat}


def _check_targets(db: Session, team: str, levels: list[EscalationLevel]) -> None:
    """Every receiver, schedule and person a policy names must exist (422 naming them)."""
    names = {name for level in levels for name in level.receivers}
    known = set(
        db.scalars(select(Receiver.name).where(Receiver.name.in_(names), Receiver.user == ""))
    )
    if names - known:
        raise HTTPException(422, f"no receiver named {', '.join(sorted(names - known))}")
    schedules = {reference for level in levels for reference in level.schedules}
    unknown = sorted(ref for ref in schedules if find_schedule(db, team, ref) is None)
    if unknown:
        raise HTTPException(422, f"no on-call schedule named {', '.join(unknown)}")
    people = {name for level in levels for name in level.users}
    found = set(db.scalars(select(User.name).where(User.name.in_(people))))
    if people - found:
        raise HTTPException(422, f"no user named {', '.join(sorted(people - found))}")

"""The alerting API: rule files (check, apply), rules, alerts (list, show, acknowledge,
resolve) and silences (receivers: receiver_routes.py). Reading needs `read`; rules,
acknowledging, resolving and silences need `deploy` (the people who run the services). Every
change is audited."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.models import AlertRule, Silence
from fullcycle.alerting.records import (
    AlertRefused,
    acknowledge,
    alert_detail,
    alert_view,
    get_alert,
    list_alerts,
    resolve_by_hand,
)
from fullcycle.alerting.rules.file import RuleFileError, parse_rule_file
from fullcycle.alerting.rules.store import apply_rule_file, rule_view
from fullcycle.alerting.silence_notices import notices_view
from fullcycle.alerting.silences import SilenceIn, SilenceRefused, create_silence, silence_view
from fullcycle.audit.log import record
from fullcycle.auth.dependencies import RequireDeploy, RequireRead, get_db
from fullcycle.auth.principal import Principal
from fullcycle.store.database import utcnow

router = APIRouter(prefix="/api/v1", tags=["alerting"])


class RuleSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Annotated[str, Field(max_length=1024 * 1024)]
    name: Annotated[str, Field(min_length=1, max_length=500)] = "api"


def _problems(error: RuleFileError) -> list[dict[str, Any]]:
    return [problem.as_dict() for problem in error.problems]


def _unprocessable(error: RuleFileError) -> JSONResponse:
    return JSONResponse({"detail": str(error), "problems": _problems(error)}, status_code=422)


def _refused(error: AlertRefused) -> HTTPException:
    return HTTPException(error.status, str(error))


@router.post("/rules/check", dependencies=[RequireRead])
def check_rules(body: RuleSource) -> dict[str, Any]:
    """Validate a rule file without applying it: every problem with its line and field."""
    try:
        spec = parse_rule_file(body.source)
    except RuleFileError as error:
        return {"valid": False, "problems": _problems(error)}
    return {"valid": True, "problems": [], "rules": sum(len(g.rules) for g in spec.groups)}


@router.put("/rules")
def apply_rules(
    body: RuleSource,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> Any:
    """Make the rules of the file `name` what `source` says (created, updated, removed)."""
    try:
        applied = apply_rule_file(db, parse_rule_file(body.source), body.name)
    except RuleFileError as error:
        db.rollback()
        return _unprocessable(error)
    result = {"created": applied.created, "updated": applied.updated, "removed": applied.removed}
    record(db, request, principal, "rules.apply", body.name, **result)
    db.commit()
    return result


@router.get("/rules", dependencies=[RequireRead])
def list_rules(db: Session = Depends(get_db), service: str | None = None) -> list[dict[str, Any]]:
    query = select(AlertRule).order_by(AlertRule.service, AlertRule.name)
    if service:
        query = query.where(AlertRule.service == service)
    return [rule_view(rule) for rule in db.scalars(query)]


@router.get("/alerts", dependencies=[RequireRead])
def alerts(
    db: Session = Depends(get_db),
    state: Annotated[Literal["pending", "firing", "resolved"] | None, Query()] = None,
    service: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    return [alert_view(alert) for alert in list_alerts(db, state, service, limit)]


@router.get("/alerts/{alert_id}", dependencies=[RequireRead])
def show_alert(alert_id: int, db: Session = Depends(get_db)) -> dict[str, Any]:
    try:
        return alert_detail(db, get_alert(db, alert_id))
    except AlertRefused as error:
        raise _refused(error) from None


@router.post("/alerts/{alert_id}/ack")
def acknowledge_alert(
    alert_id: int,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    try:
        alert = acknowledge(db, alert_id, principal.user.name, utcnow())
    except AlertRefused as error:
        raise _refused(error) from None
    record(db, request, principal, "alert.ack", str(alert_id))
    db.commit()
    return alert_view(alert)


@router.post("/alerts/{alert_id}/resolve")
def resolve_alert(
    alert_id: int,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    try:
        alert = resolve_by_hand(db, alert_id, principal.user.name, utcnow())
    except AlertRefused as error:
        raise _refused(error) from None
    record(db, request, principal, "alert.resolve", str(alert_id))
    db.commit()
    return alert_view(alert)


@router.post("/silences", status_code=201)
def add_silence(
    body: SilenceIn,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    now = utcnow()
    try:
        silence = create_silence(db, body, principal.user.name, now)
    except SilenceRefused as error:
        raise HTTPException(422, str(error)) from None
    record(db, request, principal, "silence.create", str(silence.id), matchers=silence.matchers)
    db.commit()
    return silence_view(silence, now)


@router.get("/silences", dependencies=[RequireRead])
def silences(db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {**silence_view(s, now), "notices": notices_view(db, s.id)}
        for s in db.scalars(select(Silence).order_by(Silence.id.desc()))
    ]


@router.delete("/silences/{silence_id}")
def expire_silence(
    silence_id: int,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    """End a silence now (it stays in the list, expired)."""
    silence = db.get(Silence, silence_id)
    if silence is None:
        raise HTTPException(404, f"there is no silence {silence_id}")
    now = utcnow()
    silence.ends_at = min(silence.ends_at, now)
    silence.starts_at = min(silence.starts_at, now)
    record(db, request, principal, "silence.expire", str(silence_id))
    db.commit()
    return silence_view(silence, now)

"""The alerting API: rule files (check, apply), rules, alerts (list, show, acknowledge,
resolve) and receivers. Reading needs `read`; rules, acknowledging and resolving need `deploy`
(the people who run the services); receivers hold secrets and need `admin`. Every change is
audited."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.grouping import GroupingIn, grouping_view
from fullcycle.alerting.models import AlertRule, Receiver, Silence
from fullcycle.alerting.notify.message import masked, masked_secret
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
from fullcycle.alerting.rules.spec import SERVICE_NAME
from fullcycle.alerting.rules.store import apply_rule_file, rule_view
from fullcycle.alerting.silence_notices import notices_view
from fullcycle.alerting.silences import SilenceIn, SilenceRefused, create_silence, silence_view
from fullcycle.audit.log import record
from fullcycle.auth.dependencies import RequireAdmin, RequireDeploy, RequireRead, get_db
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


class ReceiverIn(GroupingIn):
    """webhook, slack: `url`. pagerduty: `secret` is the routing key (`url` defaults to the
    Events API). email: `url` smtp://host:port, options `to` (list), `from`, `starttls`,
    `username`; `secret` is the SMTP password. Grouping: `group_by`, `group_wait`,
    `group_interval`, `repeat_interval` (Alertmanager's route settings and defaults)."""

    name: Annotated[str, Field(pattern=SERVICE_NAME)]
    kind: Literal["webhook", "slack", "email", "pagerduty"]
    url: Annotated[str, Field(pattern=r"^(https?|smtp)://[^\s]+$", max_length=2000)] = ""
    options: dict[str, Any] = Field(default_factory=dict)
    secret: Annotated[str, Field(max_length=500)] = ""
    service: Annotated[str, Field(pattern=r"^$|" + SERVICE_NAME)] = ""

    @model_validator(mode="after")
    def complete(self) -> ReceiverIn:
        scheme = self.url.split("://", 1)[0]
        if self.kind == "email":
            if scheme != "smtp":
                raise ValueError("an email receiver needs url smtp://host:port")
            recipients = self.options.get("to")
            if not isinstance(recipients, list) or not recipients:
                raise ValueError("an email receiver needs options.to, a list of addresses")
        elif self.kind == "pagerduty":
            if not self.secret:
                raise ValueError("a pagerduty receiver needs the routing key as `secret`")
        elif scheme not in ("http", "https"):
            raise ValueError(f"a {self.kind} receiver needs an http(s) url")
        return self


def receiver_view(receiver: Receiver) -> dict[str, Any]:
    return {
        "id": receiver.id,
        "name": receiver.name,
        "kind": receiver.kind,
        "target": masked(receiver.url) if receiver.url else "",
        "options": receiver.options,
        "secret": masked_secret(receiver.secret),
        "service": receiver.service,
        **grouping_view(receiver),
    }


@router.post("/alert-receivers", status_code=201)
def create_receiver(
    body: ReceiverIn,
    request: Request,
    principal: Principal = RequireAdmin,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    if db.scalar(select(Receiver.id).where(Receiver.name == body.name)) is not None:
        raise HTTPException(409, f"there is a receiver named {body.name!r} already")
    receiver = Receiver(
        name=body.name,
        kind=body.kind,
        url=body.url,
        options=body.options,
        secret=body.secret,
        service=body.service,
        created_by=principal.actor,
    )
    try:
        body.apply_to(receiver)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    db.add(receiver)
    db.flush()
    record(db, request, principal, "receiver.create", body.name, kind=body.kind)
    db.commit()
    return receiver_view(receiver)


@router.get("/alert-receivers", dependencies=[RequireRead])
def list_receivers(db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    """The receivers of services (people's own contact methods are listed per person)."""
    receivers = db.scalars(select(Receiver).where(Receiver.user == "").order_by(Receiver.name))
    return [receiver_view(r) for r in receivers]


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

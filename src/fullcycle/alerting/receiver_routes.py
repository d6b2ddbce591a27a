"""Receivers of services' alerts: `/api/v1/alert-receivers` (create, list, show, replace,
delete). They hold secrets, so changing them needs `admin`; reading shows URLs and secrets
masked. A receiver keeps its name (escalation policies refer to it by name): one that a policy
names is not deleted. Every change is audited."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.grouping import GroupingIn, grouping_view
from fullcycle.alerting.models import EscalationPolicy, Receiver
from fullcycle.alerting.notify.message import masked, masked_secret
from fullcycle.alerting.rules.spec import SERVICE_NAME
from fullcycle.audit.log import record
from fullcycle.auth.dependencies import RequireAdmin, RequireRead, get_db
from fullcycle.auth.principal import Principal

router = APIRouter(prefix="/api/v1", tags=["alerting"])


class ReceiverIn(GroupingIn):
    """webhook, slack: `url`. pagerduty: `secret` is the routing key (`url` defaults to the
    Events API). email: `url` smtp://host:port, options `to` (list), `from`, `starttls`,
    `username`; `secret` is the SMTP password. Grouping: `group_by`, `group_wait`,
    `group_interval`, `repeat_interval` (Alertmanager's route settings and defaults).
    Replacing a receiver with an empty `secret` keeps the one it has (it is never shown)."""

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
        elif self.kind != "pagerduty" and scheme not in ("http", "https"):
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


def _fill(receiver: Receiver, body: ReceiverIn) -> None:
    """Set the receiver from `body`; raises HTTPException 422 naming what is missing."""
    secret = body.secret or receiver.secret
    if body.kind == "pagerduty" and not secret:
        raise HTTPException(422, "a pagerduty receiver needs the routing key as `secret`")
    try:
        body.apply_to(receiver)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    receiver.kind, receiver.url, receiver.options = body.kind, body.url, body.options
    receiver.secret, receiver.service = secret, body.service


def _service_receiver(db: Session, name: str) -> Receiver:
    receiver = db.scalar(select(Receiver).where(Receiver.name == name, Receiver.user == ""))
    if receiver is None:
        raise HTTPException(404, f"there is no receiver named {name!r}")
    return receiver


def _policies_naming(db: Session, name: str) -> list[str]:
    return [
        policy.team
        for policy in db.scalars(select(EscalationPolicy).order_by(EscalationPolicy.team))
        if any(name in level.get("receivers", []) for level in policy.levels)
    ]


@router.post("/alert-receivers", status_code=201)
def create_receiver(
    body: ReceiverIn,
    request: Request,
    principal: Principal = RequireAdmin,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    if db.scalar(select(Receiver.id).where(Receiver.name == body.name)) is not None:
        raise HTTPException(409, f"there is a receiver named {body.name!r} already")
    receiver = Receiver(name=body.name, created_by=principal.actor)
    _fill(receiver, body)
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


@router.get("/alert-receivers/{name}", dependencies=[RequireRead])
def show_receiver(name: str, db: Session = Depends(get_db)) -> dict[str, Any]:
    return receiver_view(_service_receiver(db, name))


@router.put("/alert-receivers/{name}")
def replace_receiver(
    name: str,
    body: ReceiverIn,
    request: Request,
    principal: Principal = RequireAdmin,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    """Replace the receiver's definition (its name stays: policies refer to it)."""
    if body.name != name:
        raise HTTPException(
            422, f"name: {body.name!r} differs from the receiver's name {name!r} in the path"
        )
    receiver = _service_receiver(db, name)
    _fill(receiver, body)
    record(db, request, principal, "receiver.update", name, kind=body.kind)
    db.commit()
    return receiver_view(receiver)


@router.delete("/alert-receivers/{name}")
def delete_receiver(
    name: str,
    request: Request,
    principal: Principal = RequireAdmin,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    """Delete the receiver and its delivery log, unless an escalation policy names it."""
    receiver = _service_receiver(db, name)
    if teams := _policies_naming(db, name):
        raise HTTPException(
            409,
            f"the escalation policies of {', '.join(teams)} name receiver {name!r};"
            " take it out of them first",
        )
    view = receiver_view(receiver)
    db.delete(receiver)
    record(db, request, principal, "receiver.delete", name)
    db.commit()
    return view

"""People's own contact methods: `/api/v1/users/{name}/contact-methods`. Everyone may read
them (URLs masked); a person changes their own, an admin anyone's. One write path for the API
and the person's page (`add_contact`, `remove_contact`); every change is audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.models import Receiver
from fullcycle.alerting.oncall_people import (
    ContactMethodIn,
    contact_name,
    contact_receiver,
    contact_view,
)
from fullcycle.audit.log import record
from fullcycle.auth.dependencies import RequireRead, get_db
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.auth.users import find_user

router = APIRouter(prefix="/api/v1", tags=["on-call"])


class ContactRefused(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def contact_methods(db: Session, user: str) -> list[Receiver]:
    return list(db.scalars(select(Receiver).where(Receiver.user == user).order_by(Receiver.name)))


def _changeable(db: Session, principal: Principal, name: str) -> None:
    if find_user(db, name) is None:
        raise ContactRefused(404, f"there is no user named {name!r}")
    if principal.user.name != name and not principal.has(Scope.ADMIN):
        raise ContactRefused(403, "only the person themselves or an admin changes contact methods")


def add_contact(
    db: Session, request: Request, principal: Principal, name: str, body: ContactMethodIn
) -> Receiver:
    _changeable(db, principal, name)
    if db.scalar(select(Receiver.id).where(Receiver.name == contact_name(name, body.label))):
        raise ContactRefused(409, f"{name} has a contact method labelled {body.label!r} already")
    try:
        receiver = contact_receiver(name, body, principal.actor)
    except ValueError as error:
        raise ContactRefused(422, str(error)) from None
    db.add(receiver)
    db.flush()
    record(db, request, principal, "contact.create", receiver.name, kind=body.kind)
    return receiver


def remove_contact(
    db: Session, request: Request, principal: Principal, name: str, label: str
) -> dict[str, Any]:
    _changeable(db, principal, name)
    receiver = db.scalar(select(Receiver).where(Receiver.name == contact_name(name, label)))
    if receiver is None:
        raise ContactRefused(404, f"{name} has no contact method labelled {label!r}")
    view = contact_view(receiver)
    db.delete(receiver)
    record(db, request, principal, "contact.delete", receiver.name)
    return view


@router.get("/users/{name}/contact-methods", dependencies=[RequireRead])
def list_contact_methods(name: str, db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    if find_user(db, name) is None:
        raise HTTPException(404, f"there is no user named {name!r}")
    return [contact_view(receiver) for receiver in contact_methods(db, name)]


@router.post("/users/{name}/contact-methods", status_code=201)
def add_contact_method(
    name: str,
    body: ContactMethodIn,
    request: Request,
    principal: Principal = RequireRead,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    try:
        receiver = add_contact(db, request, principal, name, body)
    except ContactRefused as refused:
        raise HTTPException(refused.status, str(refused)) from None
    db.commit()
    return contact_view(receiver)


@router.delete("/users/{name}/contact-methods/{label}")
def remove_contact_method(
    name: str,
    label: str,
    request: Request,
    principal: Principal = RequireRead,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    try:
        view = remove_contact(db, request, principal, name, label)
    except ContactRefused as refused:
        raise HTTPException(refused.status, str(refused)) from None
    db.commit()
    return view

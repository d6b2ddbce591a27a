"""A person's contact methods on their page (/users/{name}): adding and removing them, by the
person themselves or an admin, through the API's write path (alerting/contact_routes.py)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from fullcycle.alerting.contact_routes import ContactRefused, add_contact, remove_contact
from fullcycle.alerting.oncall_people import ContactMethodIn
from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import Principal
from fullcycle.web.pages.flash import redirect

router = APIRouter()


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


@router.post("/users/{name}/contact-methods")
def add_contact_from_form(
    name: str,
    request: Request,
    label: str = Form(""),
    kind: str = Form(""),
    address: str = Form(""),
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    back = f"/users/{quote(name)}"
    fields = {"label": label.strip(), "kind": kind, "address": address.strip()}
    try:
        body = ContactMethodIn.model_validate(fields)
        add_contact(db, request, principal, name, body)
    except ValidationError as error:
        return redirect(back, f"Contact method not added: {_problem(error)}", "error")
    except ContactRefused as refused:
        return redirect(back, f"Contact method not added: {refused}", "error")
    db.commit()
    return redirect(back, f"Contact method '{body.label}' added.")


@router.post("/users/{name}/contact-methods/{label}/delete")
def remove_contact_from_form(
    name: str,
    label: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    back = f"/users/{quote(name)}"
    try:
        remove_contact(db, request, principal, name, label)
    except ContactRefused as refused:
        return redirect(back, f"Contact method not removed: {refused}", "error")
    db.commit()
    return redirect(back, f"Contact method '{label}' removed.")

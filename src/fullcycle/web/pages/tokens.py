"""/tokens: your API tokens; create one (its secret is shown once) and revoke them."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from fullcycle.audit.log import record
from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.models import ApiToken
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.auth.tokens import create_token, revoke, tokens_of
from fullcycle.catalog.refs import valid_name
from fullcycle.store.database import utcnow
from fullcycle.web.pages.flash import page, redirect
from fullcycle.web.rendering import render_error

router = APIRouter()
MAX_EXPIRY_DAYS = 3650


def grantable(principal: Principal) -> list[Scope]:
    """The scopes a new token may carry: only those the caller holds, in Scope order."""
    return [scope for scope in Scope if principal.has(scope)]


def _tokens_page(
    request: Request,
    principal: Principal,
    db: Session,
    errors: dict[str, str] | None = None,
    form: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "tokens/list.html",
        {
            "nav": "tokens",
            "tokens": sorted(tokens_of(db, principal.user), key=lambda t: t.id, reverse=True),
            "grantable": grantable(principal),
            "now": utcnow(),
            "errors": errors or {},
            "form": form
            or {"name": "", "scopes": [Scope.READ.value], "expires_in_days": "90", "service": ""},
        },
        status_code,
    )


@router.get("/tokens")
def tokens_page(
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    return _tokens_page(request, principal, db)


def _token_form_errors(
    name: str, scopes: list[str], expires_in_days: str, allowed: list[Scope], service: str
) -> dict[str, str]:
    errors = {}
    if service.strip() and not valid_name(service.strip()):
        errors["service"] = "A service name: letters, digits, '.', '_' or '-'."
    if not name.strip():
        errors["name"] = "Give the token a name that says where it is used, e.g. 'ci-deploy'."
    elif len(name.strip()) > 200:
        errors["name"] = "The name is longer than 200 characters."
    allowed_names = {scope.value for scope in allowed}
    if not scopes:
        errors["scopes"] = "Pick at least one scope."
    elif not set(scopes) <= allowed_names:
        lacking = ", ".join(sorted(set(scopes) - allowed_names))
        errors["scopes"] = f"You cannot grant scopes you do not hold: {lacking}."
    days = expires_in_days.strip()
    if days and not (days.isdigit() and 1 <= int(days) <= MAX_EXPIRY_DAYS):
        errors["expires_in_days"] = (
            f"Expiry is a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or empty for never."
        )
    return errors


@router.post("/tokens")
def create_token_from_form(
    request: Request,
    name: str = Form(""),
    scopes: list[str] = Form([]),
    expires_in_days: str = Form(""),
    service: str = Form(""),
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    allowed = grantable(principal)
    errors = _token_form_errors(name, scopes, expires_in_days, allowed, service)
    if errors:
        form: dict[str, object] = {
            "name": name,
            "scopes": scopes,
            "expires_in_days": expires_in_days,
            "service": service,
        }
        return _tokens_page(request, principal, db, errors, form, status_code=422)
    days = expires_in_days.strip()
    expires = utcnow() + timedelta(days=int(days)) if days else None
    chosen = [scope for scope in allowed if scope.value in scopes]
    limited_to = service.strip().lower() or None
    token, secret = create_token(
        db, principal.user, name.strip(), chosen, expires, service=limited_to
    )
    record(db, request, principal, "token.create", token.name, scopes=token.scopes, via="web")
    db.commit()
    response = page(
        request, "tokens/created.html", {"nav": "tokens", "token": token, "secret": secret}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/tokens/{token_id}/revoke")
def revoke_token_from_form(
    token_id: int,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    token = db.get(ApiToken, token_id)
    if token is None or token.user_id != principal.user.id:
        return render_error(request, 404, f"You have no API token with id {token_id}.")
    if token.revoked_at is not None:
        return redirect("/tokens", f"Token '{token.name}' was already revoked.", "warning")
    revoke(token)
    record(db, request, principal, "token.revoke", token.name, token_id=token.id, via="web")
    db.commit()
    return redirect("/tokens", f"Token '{token.name}' is revoked; it no longer works.")

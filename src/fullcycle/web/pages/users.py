"""/users: the people, their teams and rights; admins create users and change rights."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from fullcycle.alerting.contact_routes import contact_methods
from fullcycle.alerting.oncall_people import contact_view
from fullcycle.audit.log import record
from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import Principal
from fullcycle.auth.schemas import UserCreate
from fullcycle.auth.scopes import Scope
from fullcycle.auth.users import all_users, create_user, find_user
from fullcycle.catalog.queries import team_names_by_member
from fullcycle.catalog.service import list_services, services_owned_by
from fullcycle.web.pages.access import require_admin
from fullcycle.web.pages.flash import page, redirect
from fullcycle.web.pages.forms import field_errors
from fullcycle.web.rendering import render_error

router = APIRouter()

# The rights an admin can switch per user, with how the page names them.
RIGHTS = {
    "is_admin": "admin",
    "can_deploy": "deploy",
    "is_active": "active (may log in and use tokens)",
}
NEW_USER_DEFAULTS: dict[str, object] = {
    "name": "",
    "display_name": "",
    "email": "",
    "is_admin": False,
    "can_deploy": True,
}


def _users_page(
    request: Request,
    principal: Principal,
    db: Session,
    errors: dict[str, str] | None = None,
    form: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "nav": "users",
        "users": all_users(db),
        "teams_by_user": team_names_by_member(db),
        "may_admin": principal.has(Scope.ADMIN),
        "errors": errors or {},
        "form": form or NEW_USER_DEFAULTS,
    }
    return page(request, "users/list.html", context, status_code)


@router.get("/users")
def users_page(
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    return _users_page(request, principal, db)


@router.post("/users")
def create_user_from_form(
    request: Request,
    name: str = Form(""),
    display_name: str = Form(""),
    email: str = Form(""),
    password: str = Form(""),
    is_admin: bool = Form(False),
    can_deploy: bool = Form(False),
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_admin(principal, "Creating users")
    form: dict[str, object] = {
        "name": name.strip(),
        "display_name": display_name.strip(),
        "email": email.strip(),
        "is_admin": is_admin,
        "can_deploy": can_deploy,
    }
    try:
        data = UserCreate.model_validate({**form, "password": password or None})
    except ValidationError as error:
        return _users_page(request, principal, db, field_errors(error), form, 422)
    if find_user(db, data.name) is not None:
        errors = {"name": f"A user named '{data.name}' exists already."}
        return _users_page(request, principal, db, errors, form, 409)
    user = create_user(
        db,
        data.name,
        data.password,
        display_name=data.display_name,
        email=data.email,
        is_admin=data.is_admin,
        can_deploy=data.can_deploy,
    )
    record(db, request, principal, "user.create", user.name, is_admin=user.is_admin, via="web")
    db.commit()
    return redirect(f"/users/{user.name}", f"User '{user.name}' created.")


@router.get("/users/{name}")
def user_page(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    user = find_user(db, name)
    if user is None:
        return render_error(request, 404, f"There is no user named '{name}'.")
    teams = team_names_by_member(db).get(user.name, [])
    services = {team: services_owned_by(db, team) for team in teams}
    context = {
        "nav": "users",
        "person": user,
        "teams": teams,
        "services_by_team": services,
        "owned_directly": list_services(db, owner=f"user:{user.name}"),
        "rights": RIGHTS,
        "may_admin": principal.has(Scope.ADMIN),
        "is_self": user.id == principal.user.id,
        "contact_methods": [contact_view(r) for r in contact_methods(db, user.name)],
    }
    return page(request, "users/detail.html", context)


@router.post("/users/{name}/rights")
def change_right(
    name: str,
    request: Request,
    right: str = Form(""),
    value: bool = Form(False),
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_admin(principal, "Changing rights")
    user = find_user(db, name)
    if user is None:
        return render_error(request, 404, f"There is no user named '{name}'.")
    if right not in RIGHTS:
        return render_error(
            request, 422, f"'{right}' is not a right; expected one of {list(RIGHTS)}."
        )
    if user.id == principal.user.id and right in {"is_admin", "is_active"} and not value:
        return redirect(
            f"/users/{name}",
            "You cannot remove your own admin right or deactivate yourself; ask another admin.",
            "error",
        )
    setattr(user, right, value)
    record(
        db,
        request,
        principal,
        "user.update",
        user.name,
        fields=[right],
        via="web",
        **{right: value},
    )
    db.commit()
    state = "on" if value else "off"
    return redirect(f"/users/{name}", f"'{RIGHTS[right]}' is now {state} for {user.name}.")

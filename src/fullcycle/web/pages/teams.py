"""/teams: who is in which team and what each team owns; admins create, edit and delete teams."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.models import OncallSchedule
from fullcycle.alerting.oncall_routes import schedule_view
from fullcycle.audit.log import record
from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.catalog.models import Team
from fullcycle.catalog.schemas import TeamIn
from fullcycle.catalog.service import (
    CatalogConflict,
    CatalogError,
    create_team,
    delete_team,
    get_team,
    list_teams,
    team_view,
    team_views,
    update_team,
)
from fullcycle.store.database import utcnow
from fullcycle.web.pages.access import require_admin
from fullcycle.web.pages.flash import page, redirect
from fullcycle.web.pages.forms import (
    catalog_problem,
    field_errors,
    format_links,
    parse_links,
    split_list,
)

router = APIRouter()
TEXT_FIELDS = ("name", "title", "description", "email", "parent")


def team_form_values(team: Team | None) -> dict[str, str]:
    if team is None:
        return {field: "" for field in (*TEXT_FIELDS, "members", "links")}
    return {
        "name": team.name,
        "title": team.title,
        "description": team.description,
        "email": team.email,
        "parent": team.parent_ref,
        "members": "\n".join(team.member_names),
        "links": format_links(team.links),
    }


async def submitted_team_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {field: str(form.get(field, "")).strip() for field in (*TEXT_FIELDS, "members", "links")}


def team_input(values: dict[str, str]) -> TeamIn:
    data: dict[str, Any] = {field: values[field] for field in TEXT_FIELDS}
    data |= {"members": split_list(values["members"]), "links": parse_links(values["links"])}
    return TeamIn.model_validate(data)


def _form_page(
    request: Request,
    values: dict[str, str],
    editing: Team | None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {"nav": "teams", "values": values, "editing": editing, "errors": errors or {}}
    return page(request, "teams/form.html", context, status_code)


async def _save_from_form(
    request: Request, principal: Principal, db: Session, editing: Team | None
) -> Response:
    """Create (editing is None) or update a team from the submitted form; on bad input
    re-render the form with the problems and change nothing."""
    values = await submitted_team_form(request)
    try:
        data = team_input(values)
        team = create_team(db, data) if editing is None else update_team(db, editing, data)
    except ValidationError as error:
        return _form_page(request, values, editing, field_errors(error), 422)
    except CatalogError as error:
        db.rollback()
        return _form_page(request, values, editing, *catalog_problem(error))
    action, done = ("create", "created") if editing is None else ("update", "saved")
    record(db, request, principal, f"team.{action}", team.name, via="web")
    db.commit()
    return redirect(f"/teams/{team.name}", f"Team '{team.name}' {done}.")


def _team_or_404(db: Session, name: str) -> Team:
    """The team, or a 404 that the app renders as the error page."""
    found = get_team(db, name)
    if found is None:
        raise HTTPException(404, f"There is no team named '{name}'.")
    return found


@router.get("/teams")
def teams_page(
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    context = {
        "nav": "teams",
        "teams": team_views(db, list_teams(db)),
        "may_admin": principal.has(Scope.ADMIN),
    }
    return page(request, "teams/list.html", context)


@router.get("/teams/new")
def new_team_form(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    require_admin(principal, "Creating a team")
    return _form_page(request, team_form_values(None), None)


@router.post("/teams/new")
async def create_team_from_form(
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_admin(principal, "Creating a team")
    return await _save_from_form(request, principal, db, None)


@router.get("/teams/{name}")
def team_page(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    found = _team_or_404(db, name)
    context = {
        "nav": "teams",
        "team": team_view(db, found),
        "oncall": team_oncall_now(db, found.name),
        "may_admin": principal.has(Scope.ADMIN),
    }
    return page(request, "teams/detail.html", context)


def team_oncall_now(db: Session, team: str) -> list[dict[str, Any]]:
    """Who is on call now and next in each of the team's schedules (alerting/oncall.py)."""
    schedules = db.scalars(
        select(OncallSchedule).where(OncallSchedule.team == team).order_by(OncallSchedule.name)
    )
    now = utcnow()
    return [schedule_view(db, schedule, now) for schedule in schedules]


@router.get("/teams/{name}/edit")
def edit_team_form(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_admin(principal, "Editing a team")
    found = _team_or_404(db, name)
    return _form_page(request, team_form_values(found), found)


@router.post("/teams/{name}/edit")
async def update_team_from_form(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_admin(principal, "Editing a team")
    return await _save_from_form(request, principal, db, _team_or_404(db, name))


@router.get("/teams/{name}/delete")
def delete_team_confirmation(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_admin(principal, "Deleting a team")
    found = _team_or_404(db, name)
    return page(request, "teams/delete.html", {"nav": "teams", "team": team_view(db, found)})


@router.post("/teams/{name}/delete")
def delete_team_confirmed(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_admin(principal, "Deleting a team")
    found = _team_or_404(db, name)
    try:
        delete_team(db, found)
    except CatalogConflict as error:
        db.rollback()
        context = {"nav": "teams", "team": team_view(db, found), "problem": str(error)}
        return page(request, "teams/delete.html", context, 409)
    record(db, request, principal, "team.delete", name, via="web")
    db.commit()
    return redirect("/teams", f"Team '{name}' deleted.")

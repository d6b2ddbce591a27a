"""/services/{name}: one service, everything about it on one page; create, edit and delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from fullcycle.audit.log import record
from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.catalog.models import Service
from fullcycle.catalog.schemas import ServiceIn
from fullcycle.catalog.scrape_targets import list_targets, target_views
from fullcycle.catalog.service import (
    CO_OWNERS,
    FIELD_ANNOTATIONS,
    CatalogError,
    create_service,
    delete_service,
    get_service,
    service_view,
    update_service,
)
from fullcycle.deploy.records import deploy_view, list_deploys
from fullcycle.web.pages.access import require_deploy
from fullcycle.web.pages.alerts import service_alerting
from fullcycle.web.pages.flash import page, redirect
from fullcycle.web.pages.forms import (
    catalog_problem,
    field_errors,
    format_annotations,
    format_links,
    parse_annotations,
    parse_links,
    split_list,
    split_words,
)
from fullcycle.web.pages.logs import service_logs

router = APIRouter()
TEXT_FIELDS = (
    "name",
    "title",
    "description",
    "type",
    "lifecycle",
    "tier",
    "system",
    "repository_url",
    "runbook_url",
    "oncall_contact",
)
# Annotations the service layer derives from form fields; the form shows the fields instead.
FORM_FIELD_KEYS = {*FIELD_ANNOTATIONS.values(), CO_OWNERS}
# What the service page will show once the later parts of fullcycle exist.
UPCOMING_SECTIONS = (
    ("Incidents", "open and past incidents with their timelines and postmortems."),
)


def service_form_values(service: Service | None) -> dict[str, str]:
    """The form's text fields, filled from a service (or empty for a new one)."""
    if service is None:
        return {field: "" for field in TEXT_FIELDS} | {
            "type": "service",
            "lifecycle": "production",
            "owners": "",
            "depends_on": "",
            "tags": "",
            "links": "",
            "annotations": "",
        }
    return {field: str(getattr(service, field)) for field in TEXT_FIELDS} | {
        "owners": "\n".join(service.owner_refs),
        "depends_on": "\n".join(service.dependency_refs),
        "tags": ", ".join(service.tags),
        "links": format_links(service.links),
        "annotations": format_annotations(
            {key: value for key, value in service.annotations.items() if key not in FORM_FIELD_KEYS}
        ),
    }


async def submitted_service_form(request: Request) -> dict[str, str]:
    form = await request.form()
    fields = [*TEXT_FIELDS, "owners", "depends_on", "tags", "links", "annotations"]
    return {field: str(form.get(field, "")).strip() for field in fields}


def service_input(values: dict[str, str]) -> ServiceIn:
    """Form text -> ServiceIn; raises ValidationError naming the fields that are wrong."""
    data: dict[str, Any] = {field: values[field] for field in TEXT_FIELDS}
    data |= {
        "owners": split_list(values["owners"]),
        "depends_on": split_list(values["depends_on"]),
        "tags": split_words(values["tags"]),
        "links": parse_links(values["links"]),
        "annotations": parse_annotations(values["annotations"]),
    }
    return ServiceIn.model_validate(data)


def _form_page(
    request: Request,
    values: dict[str, str],
    editing: Service | None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {"nav": "catalog", "values": values, "editing": editing, "errors": errors or {}}
    return page(request, "services/form.html", context, status_code)


async def _save_from_form(
    request: Request, principal: Principal, db: Session, editing: Service | None
) -> Response:
    """Create (editing is None) or update a service from the submitted form; on bad input
    re-render the form with the problems and change nothing."""
    values = await submitted_service_form(request)
    try:
        data = service_input(values)
        service = create_service(db, data) if editing is None else update_service(db, editing, data)
    except ValidationError as error:
        return _form_page(request, values, editing, field_errors(error), 422)
    except CatalogError as error:
        db.rollback()
        return _form_page(request, values, editing, *catalog_problem(error))
    action, done = ("create", "added to the catalog") if editing is None else ("update", "saved")
    record(db, request, principal, f"service.{action}", service.name, via="web")
    db.commit()
    return redirect(f"/services/{service.name}", f"Service '{service.name}' {done}.")


def _service_or_404(db: Session, name: str) -> Service:
    """The service, or a 404 that the app renders as the error page."""
    found = get_service(db, name)
    if found is None:
        raise HTTPException(404, f"There is no service named '{name}' in the catalog.")
    return found


@router.get("/services/new")
def new_service_form(
    request: Request, principal: Principal = Depends(current_principal)
) -> Response:
    require_deploy(principal, "Adding a service")
    return _form_page(request, service_form_values(None), None)


@router.post("/services/new")
async def create_service_from_form(
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Adding a service")
    return await _save_from_form(request, principal, db, None)


@router.get("/services/{name}")
def service_page(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    found = _service_or_404(db, name)
    context = {
        "nav": "catalog",
        "service": service_view(db, found),
        "scrape_targets": target_views(list_targets(db, found), found.name),
        "may_deploy": principal.has(Scope.DEPLOY),
        "upcoming": UPCOMING_SECTIONS,
        "alerting": service_alerting(db, found),
        "logs": service_logs(request.app.state.telemetry, found.name),
        "recent_deploys": [
            deploy_view(d, with_logs=False) for d in list_deploys(db, service=found.name, limit=5)
        ],
    }
    return page(request, "services/detail.html", context)


@router.get("/services/{name}/edit")
def edit_service_form(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Editing a service")
    found = _service_or_404(db, name)
    return _form_page(request, service_form_values(found), found)


@router.post("/services/{name}/edit")
async def update_service_from_form(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Editing a service")
    return await _save_from_form(request, principal, db, _service_or_404(db, name))


@router.get("/services/{name}/delete")
def delete_service_confirmation(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Deleting a service")
    found = _service_or_404(db, name)
    context = {"nav": "catalog", "service": service_view(db, found)}
    return page(request, "services/delete.html", context)


@router.post("/services/{name}/delete")
def delete_service_confirmed(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Deleting a service")
    found = _service_or_404(db, name)
    delete_service(db, found)
    record(db, request, principal, "service.delete", name, via="web")
    db.commit()
    return redirect("/catalog", f"Service '{name}' deleted from the catalog.")

"""The catalog API under /api/v1: services, teams, systems, APIs, Backstage import/export.

Invalid input raises CatalogError, which the app answers with 422 (409 for a conflict).
Reading needs `read`; services are written with `deploy` (developers describe their own
services); teams, and the Backstage import that also writes systems, APIs and users, need `admin`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from fullcycle.audit.log import record
from fullcycle.auth.dependencies import RequireAdmin, RequireDeploy, RequireRead, get_db
from fullcycle.auth.principal import Principal
from fullcycle.catalog.backstage import BackstageImportError, import_catalog
from fullcycle.catalog.backstage_export import export_catalog
from fullcycle.catalog.import_audit import record_import
from fullcycle.catalog.models import Service, Team
from fullcycle.catalog.schemas import (
    ApiOut,
    ImportReport,
    ServiceIn,
    ServiceOut,
    SystemOut,
    TeamIn,
    TeamOut,
)
from fullcycle.catalog.service import (
    api_views,
    create_service,
    create_team,
    delete_service,
    delete_team,
    get_service,
    get_team,
    list_apis,
    list_services,
    list_systems,
    list_teams,
    service_view,
    service_views,
    system_views,
    team_view,
    team_views,
    update_service,
    update_team,
)

router = APIRouter(prefix="/api/v1", tags=["catalog"])

YAML_CONTENT_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/plain"}


def service_or_404(db: Session, name: str) -> Service:
    service = get_service(db, name)
    if service is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no service named {name!r}")
    return service


def _team_or_404(db: Session, name: str) -> Team:
    team = get_team(db, name)
    if team is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no team named {name!r}")
    return team


# --- services -----------------------------------------------------------------------------------


@router.get("/services", response_model=list[ServiceOut], dependencies=[RequireRead])
def list_services_route(
    search: str | None = None, owner: str | None = None, db: Session = Depends(get_db)
) -> list[ServiceOut]:
    """Services by name; `search` matches name, title, description and tags, `owner` is a team
    name or an owner reference such as `user:jdoe`."""
    return service_views(db, list_services(db, search, owner))


@router.get("/services/{name}", response_model=ServiceOut, dependencies=[RequireRead])
def get_service_route(name: str, db: Session = Depends(get_db)) -> ServiceOut:
    return service_view(db, service_or_404(db, name))


@router.post("/services", response_model=ServiceOut, status_code=status.HTTP_201_CREATED)
def create_service_route(
    body: ServiceIn,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> ServiceOut:
    service = create_service(db, body)
    record(db, request, principal, "service.create", service.name)
    db.commit()
    return service_view(db, service)


@router.put("/services/{name}", response_model=ServiceOut)
def update_service_route(
    name: str,
    body: ServiceIn,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> ServiceOut:
    """Fields left out of the body keep their value; a different `name` renames the service."""
    service = service_or_404(db, name)
    update_service(db, service, body)
    record(db, request, principal, "service.update", service.name, fields=_sent(body))
    db.commit()
    return service_view(db, service)


@router.delete("/services/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_service_route(
    name: str,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> Response:
    service = service_or_404(db, name)
    delete_service(db, service)
    record(db, request, principal, "service.delete", service.name)
    db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _sent(body: ServiceIn | TeamIn) -> list[str]:
    return sorted(body.model_fields_set)


# --- teams --------------------------------------------------------------------------------------


@router.get("/teams", response_model=list[TeamOut], dependencies=[RequireRead])
def list_teams_route(db: Session = Depends(get_db)) -> list[TeamOut]:
    return team_views(db, list_teams(db))


@router.get("/teams/{name}", response_model=TeamOut, dependencies=[RequireRead])
def get_team_route(name: str, db: Session = Depends(get_db)) -> TeamOut:
    return team_view(db, _team_or_404(db, name))


@router.post("/teams", response_model=TeamOut, status_code=status.HTTP_201_CREATED)
def create_team_route(
    body: TeamIn,
    request: Request,
    principal: Principal = RequireAdmin,
    db: Session = Depends(get_db),
) -> TeamOut:
    team = create_team(db, body)
    record(db, request, principal, "team.create", team.name)
    db.commit()
    return team_view(db, team)


@router.put("/teams/{name}", response_model=TeamOut)
def update_team_route(
    name: str,
    body: TeamIn,
    request: Request,
    principal: Principal = RequireAdmin,
    db: Session = Depends(get_db),
) -> TeamOut:
    """Fields left out of the body keep their value."""
    team = _team_or_404(db, name)
    update_team(db, team, body)
    record(db, request, principal, "team.update", team.name, fields=_sent(body))
    db.commit()
    return team_view(db, team)


@router.delete("/teams/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_team_route(
    name: str,
    request: Request,
    principal: Principal = RequireAdmin,
    db: Session = Depends(get_db),
) -> Response:
    team = _team_or_404(db, name)
    delete_team(db, team)
    record(db, request, principal, "team.delete", team.name)
    db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- systems and APIs ---------------------------------------------------------------------------


@router.get("/systems", response_model=list[SystemOut], dependencies=[RequireRead])
def list_systems_route(db: Session = Depends(get_db)) -> list[SystemOut]:
    return system_views(db, list_systems(db))


@router.get("/apis", response_model=list[ApiOut], dependencies=[RequireRead])
def list_apis_route(db: Session = Depends(get_db)) -> list[ApiOut]:
    return api_views(db, list_apis(db))


# --- Backstage import and export ----------------------------------------------------------------


async def catalog_file(request: Request) -> tuple[str, str]:
    """The uploaded catalog text and its file name ("" for a raw body)."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "the multipart upload needs the file in a field named 'file'")
        data, filename = await upload.read(), upload.filename or ""
    elif content_type in YAML_CONTENT_TYPES:
        data, filename = await request.body(), ""
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send the catalog file as the body with Content-Type application/yaml, text/yaml "
            f"or text/plain, or as a multipart field 'file' (got {content_type or 'none'!r})",
        )
    try:
        return data.decode("utf-8-sig"), filename
    except UnicodeDecodeError as error:
        raise HTTPException(
            422, f"the catalog file is not UTF-8 text (bad byte at offset {error.start})"
        ) from error


@router.post("/catalog/import", response_model=ImportReport)
def import_route(
    request: Request,
    dry_run: bool = False,
    source: str | None = None,
    principal: Principal = RequireAdmin,
    upload: tuple[str, str] = Depends(catalog_file),
    db: Session = Depends(get_db),
) -> ImportReport | JSONResponse:
    """Import Backstage entities, all or nothing. 422 lists every problem with its document,
    entity, field and line; `dry_run=true` reports what would change and writes nothing."""
    text, filename = upload
    source_name = source or filename or "api"
    try:
        report = import_catalog(db, text, source_name, dry_run=dry_run)
    except BackstageImportError as error:
        problems = [problem.model_dump() for problem in error.errors]
        return JSONResponse({"detail": str(error), "errors": problems}, status_code=422)
    if not dry_run:
        record_import(db, request, principal, report)
        db.commit()
    return report


@router.get("/catalog/export", dependencies=[RequireRead])
def export_route(db: Session = Depends(get_db)) -> Response:
    """The catalog as multi-document Backstage YAML, which imports back to the same catalog."""
    return Response(
        export_catalog(db),
        media_type="text/yaml",
        headers={"Content-Disposition": 'inline; filename="catalog-info.yaml"'},
    )

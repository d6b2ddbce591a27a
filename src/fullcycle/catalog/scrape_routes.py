"""The scrape-target API under /api/v1/services/{name}/scrape-targets.

Reading needs `read`; adding, changing and removing targets needs `deploy`, like describing the
service itself. Every answer carries the target's status: when it was last scraped, how long
that took, how many samples it gave, the error if it failed, and its health.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import Response
from sqlalchemy.orm import Session

from fullcycle.audit.log import record
from fullcycle.auth.dependencies import RequireDeploy, RequireRead, get_db
from fullcycle.auth.principal import Principal
from fullcycle.catalog.models import ScrapeTarget, Service
from fullcycle.catalog.routes import service_or_404
from fullcycle.catalog.scrape_targets import (
    ScrapeTargetIn,
    ScrapeTargetOut,
    ScrapeTargetUpdate,
    create_target,
    delete_target,
    get_target,
    list_targets,
    target_view,
    target_views,
    update_target,
)

router = APIRouter(prefix="/api/v1", tags=["scraping"])

TARGETS = "/services/{name}/scrape-targets"
TARGET = "/services/{name}/scrape-targets/{target_id}"


def _target_or_404(db: Session, service: Service, target_id: int) -> ScrapeTarget:
    target = get_target(db, service, target_id)
    if target is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"service {service.name!r} has no scrape target with id {target_id}",
        )
    return target


@router.get(TARGETS, response_model=list[ScrapeTargetOut], dependencies=[RequireRead])
def list_targets_route(name: str, db: Session = Depends(get_db)) -> list[ScrapeTargetOut]:
    service = service_or_404(db, name)
    return target_views(list_targets(db, service), service.name)


@router.get(TARGET, response_model=ScrapeTargetOut, dependencies=[RequireRead])
def get_target_route(name: str, target_id: int, db: Session = Depends(get_db)) -> ScrapeTargetOut:
    service = service_or_404(db, name)
    return target_view(_target_or_404(db, service, target_id), service.name)


@router.post(TARGETS, response_model=ScrapeTargetOut, status_code=status.HTTP_201_CREATED)
def create_target_route(
    name: str,
    body: ScrapeTargetIn,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> ScrapeTargetOut:
    """Add a target; its first scrape runs within about a second."""
    service = service_or_404(db, name)
    target = create_target(db, service, body)
    record(
        db, request, principal, "scrape_target.create", service.name, id=target.id, url=target.url
    )
    db.commit()
    return target_view(target, service.name)


@router.put(TARGET, response_model=ScrapeTargetOut)
def update_target_route(
    name: str,
    target_id: int,
    body: ScrapeTargetUpdate,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> ScrapeTargetOut:
    """Fields left out of the body keep their value."""
    service = service_or_404(db, name)
    target = _target_or_404(db, service, target_id)
    changed = update_target(db, service, target, body)
    if changed:
        record(
            db,
            request,
            principal,
            "scrape_target.update",
            service.name,
            id=target.id,
            url=target.url,
            fields=changed,
        )
    db.commit()
    return target_view(target, service.name)


@router.delete(TARGET, status_code=status.HTTP_204_NO_CONTENT)
def delete_target_route(
    name: str,
    target_id: int,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> Response:
    service = service_or_404(db, name)
    target = _target_or_404(db, service, target_id)
    delete_target(db, target)
    record(
        db, request, principal, "scrape_target.delete", service.name, id=target.id, url=target.url
    )
    db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

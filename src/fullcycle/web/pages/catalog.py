"""/catalog: every service with its owners, searchable live; /catalog/import: Backstage files."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.catalog.backstage import BackstageImportError, import_catalog
from fullcycle.catalog.import_audit import record_import
from fullcycle.catalog.models import Service
from fullcycle.catalog.service import CatalogError, list_services, service_views
from fullcycle.web.pages.access import require_admin
from fullcycle.web.pages.flash import page
from fullcycle.web.rendering import render, render_error

router = APIRouter()
PASTED_SOURCE = "pasted YAML"


def wants_fragment(request: Request) -> bool:
    """An htmx search asks for the table rows only; a history restore needs the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


@router.get("/catalog")
def catalog_page(
    request: Request,
    q: str = "",
    owner: str = "",
    unowned: bool = False,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    search = q.strip()
    owner_name = owner.strip()
    try:
        services = list_services(db, search=search or None, owner=owner_name or None)
    except CatalogError as error:
        return render_error(request, 400, f"Cannot filter the catalog by owner: {error}")
    views = service_views(db, services)
    context: dict[str, object] = {
        "nav": "catalog",
        "services": [view for view in views if view.unowned] if unowned else views,
        "total": db.scalar(select(func.count()).select_from(Service)),
        "q": search,
        "owner": owner_name,
        "unowned": unowned,
    }
    if wants_fragment(request):
        response = render(request, "catalog/_rows.html", context)
    else:
        everything = service_views(db, list_services(db)) if search or owner_name else views
        context |= {
            "unowned_count": sum(1 for view in everything if view.unowned),
            "may_deploy": principal.has(Scope.DEPLOY),
            "may_admin": principal.has(Scope.ADMIN),
        }
        response = page(request, "catalog/list.html", context)
    response.headers["Vary"] = "HX-Request"
    return response


@router.get("/catalog/import")
def import_form(
    request: Request,
    principal: Principal = Depends(current_principal),
) -> Response:
    require_admin(principal, "Importing into the catalog")
    return page(request, "catalog/import.html", {"nav": "catalog", "text": ""})


async def _uploaded_text(file: UploadFile | None) -> tuple[str, str] | None:
    """(source name, text) of an uploaded file, or None when no file was chosen."""
    if file is None or not file.filename:
        return None
    content = await file.read()
    return file.filename, content.decode("utf-8-sig")


@router.post("/catalog/import")
async def import_submitted(
    request: Request,
    file: UploadFile | None = File(None),
    text: str = Form(""),
    mode: str = Form("check"),
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_admin(principal, "Importing into the catalog")
    dry_run = mode != "import"
    context: dict[str, object] = {"nav": "catalog", "dry_run": dry_run, "text": text}
    try:
        uploaded = await _uploaded_text(file)
    except UnicodeDecodeError as error:
        problem = f"The file is not UTF-8 text (byte {error.start}); Backstage files are YAML."
        return page(request, "catalog/import.html", {**context, "problem": problem}, 422)
    source, text = uploaded or (PASTED_SOURCE, text)
    context.update(text=text, source=source)
    if not text.strip():
        problem = "Choose a file or paste YAML first: there is nothing to import."
        return page(request, "catalog/import.html", {**context, "problem": problem}, 422)
    try:
        report = import_catalog(db, text, source, dry_run=dry_run)
    except CatalogError as error:
        db.rollback()
        problems = error.errors if isinstance(error, BackstageImportError) else []
        context.update(problem=str(error), errors=problems)
        return page(request, "catalog/import.html", context, 422)
    if dry_run:
        db.rollback()
    else:
        record_import(db, request, principal, report)
        db.commit()
    return page(request, "catalog/import.html", {**context, "report": report})

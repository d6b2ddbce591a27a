"""Deploy pages: the history of every service (/deploys) and of one (/services/{name}/deploys)
with the form to deploy and roll back, one deploy streaming its stages live (/deploys/{id}),
approvals, manual locks and freeze windows. The forms call the same functions as the API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.audit.log import record
from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.deploy import controls
from fullcycle.deploy.controls import FreezeIn
from fullcycle.deploy.models import DeployLock, FreezeWindow
from fullcycle.deploy.pipeline_file import PipelineFileError, Problem, parse_pipeline
from fullcycle.deploy.records import (
    ApprovalIn,
    DeployIn,
    DeployRefused,
    RollbackIn,
    apply_pipeline,
    deploy_view,
    get_deploy,
    list_deploys,
    pipeline_of,
    redacted_source,
    start_deploy,
    start_rollback,
)
from fullcycle.deploy.routes import LockIn
from fullcycle.store.database import utcnow
from fullcycle.web.pages.access import require_admin, require_deploy
from fullcycle.web.pages.flash import page, redirect

router = APIRouter()
PAGE_SIZE = 50
STATUS_PILL = {
    "succeeded": "pill-good",
    "passed": "pill-good",
    "failed": "pill-bad",
    "rolled_back": "pill-warn",
    "inconclusive": "pill-warn",
    "running": "pill-on",
}


def _status_pills(context: dict[str, Any]) -> dict[str, Any]:
    return {"status_pill": STATUS_PILL, **context}


def _locks(db: Session) -> list[DeployLock]:
    now = utcnow()
    rows = db.scalars(select(DeployLock).order_by(DeployLock.service, DeployLock.environment))
    return [
        lock
        for lock in rows
        if lock.locked_reason or (lock.lease_until is not None and lock.lease_until > now)
    ]


def _form_text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    field = ".".join(str(part) for part in item["loc"])
    return f"{field}: {item['msg']}"


@router.get("/deploys")
def deploys_page(
    request: Request,
    service: str = "",
    environment: str = "",
    status: str = "",
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    deploys = list_deploys(
        db,
        service=service or None,
        environment=environment or None,
        status=status or None,
        limit=PAGE_SIZE,
    )
    context = {
        "nav": "deploys",
        "deploys": [deploy_view(d, with_logs=False) for d in deploys],
        "filters": {"service": service, "environment": environment, "status": status},
        "locks": _locks(db),
        "freezes": list(db.scalars(select(FreezeWindow).order_by(FreezeWindow.id))),
        "may_deploy": principal.has(Scope.DEPLOY),
        "is_admin": principal.has(Scope.ADMIN),
    }
    return page(request, "deploys/list.html", _status_pills(context))


def _service_page(
    request: Request,
    principal: Principal,
    db: Session,
    name: str,
    draft: str | None = None,
    problems: list[Problem] | None = None,
) -> Response:
    try:
        pipeline, spec = pipeline_of(db, name)
    except DeployRefused:
        pipeline, spec = None, None
    context = {
        "draft": draft if draft is not None else (pipeline.source if pipeline else ""),
        "redacted": redacted_source(pipeline.source, spec) if pipeline and spec else "",
        "problems": problems or [],
        "nav": "deploys",
        "service": name,
        "pipeline": pipeline,
        "environments": [env.name for env in spec.environments] if spec else [],
        "deploys": [
            deploy_view(d, with_logs=False) for d in list_deploys(db, service=name, limit=PAGE_SIZE)
        ],
        "locks": [lock for lock in _locks(db) if lock.service == name],
        "may_deploy": principal.has(Scope.DEPLOY),
    }
    status_code = 422 if problems else 200
    return page(request, "deploys/service.html", _status_pills(context), status_code)


@router.get("/services/{name}/deploys")
def service_deploys_page(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    return _service_page(request, principal, db, name)


@router.post("/services/{name}/pipeline")
async def pipeline_from_form(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    """Save the pipeline edited on the page; problems are shown with their lines."""
    require_deploy(principal, "Editing a pipeline")
    form = await request.form()
    source = form.get("source")
    source = source.replace("\r\n", "\n") if isinstance(source, str) else ""
    try:
        spec = parse_pipeline(source)
        if spec.service != name:
            raise PipelineFileError(
                [Problem(1, "service", f"the pipeline is for {spec.service!r}, not {name!r}")]
            )
        apply_pipeline(db, spec, source, principal.actor)
    except PipelineFileError as error:
        return _service_page(request, principal, db, name, source, error.problems)
    except DeployRefused as error:
        return _service_page(
            request, principal, db, name, source, [Problem(None, "", error.message)]
        )
    record(
        db,
        request,
        principal,
        "pipeline.apply",
        name,
        environments=[env.name for env in spec.environments],
    )
    db.commit()
    return redirect(f"/services/{quote(name)}/deploys", "pipeline saved")


@router.post("/services/{name}/deploys")
async def deploy_from_form(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Deploying")
    form = await request.form()
    back = f"/services/{quote(name)}/deploys"
    try:
        if _form_text(form, "action") == "rollback":
            rollback = RollbackIn(
                environment=_form_text(form, "environment") or "production",
                to_version=_form_text(form, "version") or None,
                freeze_override=_form_text(form, "freeze_override"),
            )
            deploy, overridden = start_rollback(
                db, name, rollback, principal.actor, principal.user.name
            )
        else:
            body = DeployIn(
                environment=_form_text(form, "environment") or "production",
                version=_form_text(form, "version"),
                commit=_form_text(form, "commit"),
                freeze_override=_form_text(form, "freeze_override"),
            )
            deploy, overridden = start_deploy(db, name, body, principal.actor, principal.user.name)
    except ValidationError as error:
        return redirect(back, _first_error(error), "error")
    except DeployRefused as error:
        return redirect(back, error.message, "error")
    action = "rollback.start" if deploy.kind == "rollback" else "deploy.start"
    record(
        db,
        request,
        principal,
        action,
        name,
        id=deploy.id,
        environment=deploy.environment,
        version=deploy.version,
    )
    if overridden:
        record(
            db,
            request,
            principal,
            "deploy.freeze_override",
            name,
            id=deploy.id,
            environment=deploy.environment,
            window=overridden,
            reason=deploy.freeze_override,
        )
    db.commit()
    return redirect(f"/deploys/{deploy.id}", f"{deploy.kind} {deploy.id} queued")


@router.get("/deploys/{deploy_id}")
def deploy_page(
    deploy_id: int,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    try:
        deploy = deploy_view(get_deploy(db, deploy_id))
    except DeployRefused as error:
        raise HTTPException(404, error.message) from None
    context = {
        "nav": "deploys",
        "deploy": deploy,
        "may_approve": principal.has(Scope.DEPLOY),
        "is_deployer": principal.user.name == deploy.deployer,
    }
    return page(request, "deploys/detail.html", _status_pills(context))


@router.post("/deploys/{deploy_id}/approve")
async def approve_from_form(
    deploy_id: int,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Approving a deploy")
    form = await request.form()
    back = f"/deploys/{deploy_id}"
    try:
        deploy = get_deploy(db, deploy_id)
        body = ApprovalIn(
            checklist=[str(item) for item in form.getlist("checklist")],
            comment=_form_text(form, "comment"),
        )
        controls.approve_deploy(db, request, principal, deploy, body)
    except ValidationError as error:
        return redirect(back, _first_error(error), "error")
    except DeployRefused as error:
        return redirect(back, error.message, "error")
    db.commit()
    return redirect(back, "approval recorded")


@router.post("/locks")
async def lock_from_form(
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Locking deploys")
    form = await request.form()
    service, environment = _form_text(form, "service"), _form_text(form, "environment")
    reason = _form_text(form, "reason")
    if not service or not environment or not reason:
        return redirect("/deploys", "a lock needs a service, an environment and a reason", "error")
    try:
        lock = LockIn(service=service, environment=environment, reason=reason)
        controls.take_lock(db, request, principal, lock.service, lock.environment, lock.reason)
    except ValidationError as error:
        return redirect("/deploys", f"not locked: {_first_error(error)}", "error")
    except DeployRefused as error:
        db.rollback()  # the lock's row may have been made: no write lock held past this await
        return redirect("/deploys", error.message, "error")
    db.commit()
    return redirect("/deploys", f"{service}/{environment} locked")


@router.post("/locks/{service}/{environment}/release")
def unlock_from_form(
    service: str,
    environment: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Releasing a lock")
    try:
        controls.release_lock(db, request, principal, service, environment)
    except DeployRefused as error:
        return redirect("/deploys", error.message, "error")
    db.commit()
    return redirect("/deploys", f"{service}/{environment} unlocked")


@router.post("/freeze-windows")
async def freeze_from_form(
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_admin(principal, "Adding a freeze window")
    form = await request.form()
    values = {
        name: _form_text(form, name)
        for name in ("name", "service", "environment", "cron", "timezone", "duration_minutes")
    }
    try:
        body = FreezeIn(
            name=values["name"],
            service=values["service"],
            environment=values["environment"],
            cron=values["cron"],
            timezone=values["timezone"] or "UTC",
            duration_minutes=values["duration_minutes"],
        )
        window = controls.create_freeze(db, request, principal, body)
    except ValidationError as error:
        return redirect("/deploys", f"freeze window not added: {_first_error(error)}", "error")
    except DeployRefused as error:
        return redirect("/deploys", f"freeze window not added: {error.message}", "error")
    db.commit()
    return redirect("/deploys", f"freeze window {window.name!r} added")

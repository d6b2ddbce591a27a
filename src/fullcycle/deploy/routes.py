"""The deploy API: pipelines, deploys and rollbacks, approvals, the live event stream, locks,
freeze windows, externally performed deploys and the GitHub webhook.

Reading needs `read`; starting deploys, approving, locking and recording need `deploy` (anyone
who may deploy may deploy any service: protection comes from the pipeline's gates); breaking
someone else's lock and managing freeze windows need `admin`. Every change is audited.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fullcycle.audit.log import record
from fullcycle.auth.dependencies import RequireAdmin, RequireDeploy, RequireRead, get_db
from fullcycle.auth.principal import Principal
from fullcycle.deploy import controls
from fullcycle.deploy.controls import FreezeIn
from fullcycle.deploy.github import EVENTS, commit_time, record_delivery, signature_valid
from fullcycle.deploy.markers import marker_for
from fullcycle.deploy.models import Deploy, DeployLock, FreezeWindow
from fullcycle.deploy.pipeline_file import PipelineFileError, parse_pipeline
from fullcycle.deploy.pipeline_spec import NAME
from fullcycle.deploy.records import (
    TERMINAL,
    ApprovalIn,
    DeployIn,
    DeployOut,
    DeployRefused,
    ExternalDeployIn,
    RollbackIn,
    apply_pipeline,
    cancel,
    deploy_view,
    get_deploy,
    list_deploys,
    pipeline_of,
    record_external,
    redacted_source,
    start_deploy,
    start_rollback,
)
from fullcycle.store.database import Database, utcnow

router = APIRouter(prefix="/api/v1", tags=["deploys"])

STREAM_POLL_SECONDS = 0.4
Name = Annotated[str, Field(pattern=NAME)]


def refused(error: DeployRefused) -> HTTPException:
    return HTTPException(error.status, error.message)


# --- pipelines --------------------------------------------------------------------------------


class PipelineSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Annotated[str, Field(max_length=256 * 1024)]


def _problems(error: PipelineFileError) -> list[dict[str, Any]]:
    return [{"line": p.line, "field": p.field, "message": p.message} for p in error.problems]


@router.post("/pipelines/check", dependencies=[RequireRead])
def check_pipeline(body: PipelineSource) -> dict[str, Any]:
    """Validate a fullcycle.yaml without storing it: its problems with line and field."""
    try:
        spec = parse_pipeline(body.source)
    except PipelineFileError as error:
        return {"valid": False, "problems": _problems(error)}
    return {
        "valid": True,
        "problems": [],
        "service": spec.service,
        "environments": [env.name for env in spec.environments],
    }


@router.put("/pipelines")
def apply_pipeline_route(
    body: PipelineSource,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> Any:
    try:
        spec = parse_pipeline(body.source)
    except PipelineFileError as error:
        return JSONResponse(
            {"detail": str(error), "problems": _problems(error)},
            status_code=422,
        )
    try:
        apply_pipeline(db, spec, body.source, principal.actor)
    except DeployRefused as error:
        raise refused(error) from None
    record(
        db,
        request,
        principal,
        "pipeline.apply",
        spec.service,
        environments=[env.name for env in spec.environments],
    )
    db.commit()
    return {"service": spec.service, "environments": [env.name for env in spec.environments]}


@router.get("/services/{name}/pipeline", dependencies=[RequireRead])
def get_pipeline(name: str, db: Session = Depends(get_db)) -> dict[str, Any]:
    try:
        pipeline, spec = pipeline_of(db, name)
    except DeployRefused as error:
        raise refused(error) from None
    return {
        "service": name,
        "source": redacted_source(pipeline.source, spec),
        "updated_by": pipeline.updated_by,
        "updated_at": pipeline.updated_at,
        "environments": [env.name for env in spec.environments],
    }


# --- deploys ----------------------------------------------------------------------------------


def _audit_start(
    db: Session, request: Request, principal: Principal, deploy: Deploy, overridden: str
) -> None:
    action = "rollback.start" if deploy.kind == "rollback" else "deploy.start"
    record(
        db,
        request,
        principal,
        action,
        deploy.service,
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
            deploy.service,
            id=deploy.id,
            environment=deploy.environment,
            window=overridden,
            reason=deploy.freeze_override,
        )


@router.post("/services/{name}/deploys", response_model=DeployOut, status_code=201)
def start_deploy_route(
    name: str,
    body: DeployIn,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> DeployOut:
    """Queue a deploy of `version`; the runner starts it when the environment is free."""
    if body.commit and body.commit_time is None:
        body = body.model_copy(update={"commit_time": commit_time(db, body.commit.lower())})
    try:
        deploy, overridden = start_deploy(db, name, body, principal.actor, principal.user.name)
    except DeployRefused as error:
        raise refused(error) from None
    _audit_start(db, request, principal, deploy, overridden)
    db.commit()
    return deploy_view(deploy)


@router.post("/services/{name}/rollbacks", response_model=DeployOut, status_code=201)
def start_rollback_route(
    name: str,
    body: RollbackIn,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> DeployOut:
    try:
        deploy, overridden = start_rollback(db, name, body, principal.actor, principal.user.name)
    except DeployRefused as error:
        raise refused(error) from None
    _audit_start(db, request, principal, deploy, overridden)
    db.commit()
    return deploy_view(deploy)


@router.post("/deploys", response_model=DeployOut, status_code=201)
async def record_external_route(
    body: ExternalDeployIn,
    request: Request,
    principal: Principal = RequireDeploy,
) -> DeployOut:
    """Record a deploy another system performed (CI, a script): same history, same markers."""
    database: Database = request.app.state.database

    def write() -> DeployOut:
        with database.session() as db:
            if body.commit and body.commit_time is None:
                known = commit_time(db, body.commit.lower())
                deploy = record_external(
                    db,
                    body.model_copy(update={"commit_time": known}),
                    principal.actor,
                    principal.user.name,
                )
            else:
                deploy = record_external(db, body, principal.actor, principal.user.name)
            record(
                db,
                request,
                principal,
                "deploy.record",
                deploy.service,
                id=deploy.id,
                environment=deploy.environment,
                version=deploy.version,
            )
            return deploy_view(deploy)

    view = await run_in_threadpool(write)
    if view.live_at is not None:
        await request.app.state.telemetry.append([marker_for(view)])
    return view


@router.get("/deploys", response_model=list[DeployOut], dependencies=[RequireRead])
def list_deploys_route(
    service: str | None = None,
    environment: str | None = None,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: int | None = None,
    db: Session = Depends(get_db),
) -> list[DeployOut]:
    """Newest first; stage logs are left out (read one deploy for them)."""
    deploys = list_deploys(
        db,
        service=service,
        environment=environment,
        status=status_filter,
        limit=limit,
        before_id=before,
    )
    return [deploy_view(deploy, with_logs=False) for deploy in deploys]


def _deploy_or_404(db: Session, deploy_id: int) -> Deploy:
    try:
        return get_deploy(db, deploy_id)
    except DeployRefused as error:
        raise refused(error) from None


@router.get("/deploys/{deploy_id}", response_model=DeployOut, dependencies=[RequireRead])
def get_deploy_route(deploy_id: int, db: Session = Depends(get_db)) -> DeployOut:
    return deploy_view(_deploy_or_404(db, deploy_id))


@router.post("/deploys/{deploy_id}/approvals", response_model=DeployOut, status_code=201)
def approve_route(
    deploy_id: int,
    body: ApprovalIn,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> DeployOut:
    deploy = _deploy_or_404(db, deploy_id)
    try:
        controls.approve_deploy(db, request, principal, deploy, body)
    except DeployRefused as error:
        raise refused(error) from None
    db.commit()
    db.refresh(deploy)
    return deploy_view(deploy)


@router.post("/deploys/{deploy_id}/cancel", response_model=DeployOut)
def cancel_route(
    deploy_id: int,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> DeployOut:
    deploy = _deploy_or_404(db, deploy_id)
    try:
        cancel(db, deploy)
    except DeployRefused as error:
        raise refused(error) from None
    record(db, request, principal, "deploy.cancel", deploy.service, id=deploy.id)
    db.commit()
    return deploy_view(deploy)


@router.get("/deploys/{deploy_id}/events", dependencies=[RequireRead])
async def deploy_events(deploy_id: int, request: Request) -> StreamingResponse:
    """Server-sent events: `deploy` (the record without logs) whenever it changes, `log` with
    each stage's new output, `end` once the deploy is over."""
    database: Database = request.app.state.database
    first = await run_in_threadpool(_snapshot, database, deploy_id)
    if first is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no deploy with id {deploy_id}")
    return StreamingResponse(
        _event_stream(database, deploy_id, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _snapshot(database: Database, deploy_id: int) -> DeployOut | None:
    with database.session() as db:
        deploy = db.get(Deploy, deploy_id)
        return deploy_view(deploy) if deploy is not None else None


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"


async def _event_stream(database: Database, deploy_id: int, request: Request) -> AsyncIterator[str]:
    sent_logs: dict[str, int] = {}
    last_state = ""
    while True:
        view = await run_in_threadpool(_snapshot, database, deploy_id)
        if view is None:
            return
        for stage in view.stages:
            text = stage.log or ""
            already = sent_logs.get(stage.name, 0)
            if len(text) > already:
                yield _event("log", {"stage": stage.name, "text": text[already:].lstrip("\n")})
                sent_logs[stage.name] = len(text)
        summary = view.model_copy(
            update={"stages": [s.model_copy(update={"log": None}) for s in view.stages]}
        )
        state = summary.model_dump_json()
        if state != last_state:
            yield _event("deploy", summary.model_dump(mode="json"))
            last_state = state
        if view.status in TERMINAL:
            yield _event(
                "end",
                {
                    "status": view.status,
                    "reason": view.reason,
                    "rolled_back_by": view.rolled_back_by,
                },
            )
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(STREAM_POLL_SECONDS)


# --- locks ------------------------------------------------------------------------------------


class LockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: Name
    environment: Name = "production"
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


def _lock_view(lock: DeployLock) -> dict[str, Any]:
    return {
        "service": lock.service,
        "environment": lock.environment,
        "locked_by": lock.locked_by,
        "reason": lock.locked_reason,
        "locked_at": lock.locked_at,
        "deploy": lock.deploy_id,
    }


@router.get("/locks", dependencies=[RequireRead])
def list_locks(db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    """Manual locks and the deploys running now."""
    now = utcnow()
    locks = db.scalars(select(DeployLock).order_by(DeployLock.service, DeployLock.environment))
    return [
        _lock_view(lock)
        for lock in locks
        if lock.locked_reason or (lock.lease_until is not None and lock.lease_until > now)
    ]


@router.post("/locks", status_code=201)
def take_lock(
    body: LockIn,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    """Lock a service's environment by hand (say, during an incident): no deploy starts."""
    try:
        lock = controls.take_lock(
            db, request, principal, body.service, body.environment, body.reason
        )
    except DeployRefused as error:
        raise refused(error) from None
    db.commit()
    return _lock_view(lock)


@router.delete("/locks/{service}/{environment}", status_code=204)
def release_lock(
    service: str,
    environment: str,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> Response:
    """The one who locked releases; anyone else needs `admin` (breaking it is audited)."""
    try:
        controls.release_lock(db, request, principal, service, environment)
    except DeployRefused as error:
        raise refused(error) from None
    db.commit()
    return Response(status_code=204)


# --- freeze windows ---------------------------------------------------------------------------


def _freeze_view(window: FreezeWindow) -> dict[str, Any]:
    return {
        "id": window.id,
        "name": window.name,
        "service": window.service,
        "environment": window.environment,
        "cron": window.cron,
        "duration_minutes": window.duration_minutes,
        "timezone": window.timezone,
        "created_by": window.created_by,
    }


@router.get("/freeze-windows", dependencies=[RequireRead])
def list_freezes(db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    return [_freeze_view(w) for w in db.scalars(select(FreezeWindow).order_by(FreezeWindow.id))]


@router.post("/freeze-windows", status_code=201)
def create_freeze(
    body: FreezeIn,
    request: Request,
    principal: Principal = RequireAdmin,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    try:
        window = controls.create_freeze(db, request, principal, body)
    except DeployRefused as error:
        raise refused(error) from None
    db.commit()
    return _freeze_view(window)


@router.delete("/freeze-windows/{window_id}", status_code=204)
def delete_freeze(
    window_id: int,
    request: Request,
    principal: Principal = RequireAdmin,
    db: Session = Depends(get_db),
) -> Response:
    window = db.get(FreezeWindow, window_id)
    if window is None:
        raise HTTPException(404, f"no freeze window with id {window_id}")
    record(
        db,
        request,
        principal,
        "freeze.delete",
        window.service or "*",
        id=window.id,
        name=window.name,
    )
    db.delete(window)
    db.commit()
    return Response(status_code=204)


# --- GitHub -----------------------------------------------------------------------------------


@router.post("/webhooks/github")
async def github_webhook(request: Request) -> dict[str, Any]:
    """Authenticated by the HMAC-SHA256 signature of the body, not by a token."""
    secret = request.app.state.settings.github_webhook_secret
    raw = await request.body()
    if not secret or not signature_valid(secret, raw, request.headers.get("x-hub-signature-256")):
        raise HTTPException(
            401,
            "missing or wrong X-Hub-Signature-256 (HMAC-SHA256 of the body "
            "with the webhook secret)",
        )
    event = request.headers.get("x-github-event", "")
    delivery = request.headers.get("x-github-delivery", "")
    if event not in EVENTS:
        raise HTTPException(
            422, f"X-GitHub-Event: {event!r} is not one of {', '.join(sorted(EVENTS))}"
        )
    if not delivery:
        raise HTTPException(422, "X-GitHub-Delivery: missing")
    try:
        payload = json.loads(raw)
    except ValueError as error:
        raise HTTPException(422, f"body: not JSON ({error})") from None
    if not isinstance(payload, dict):
        raise HTTPException(422, "body: expected a JSON object")
    database: Database = request.app.state.database

    def write() -> tuple[int, DeployOut | None]:
        with database.session() as db:
            added = record_delivery(db, delivery[:100], event, payload)
            return added.recorded, deploy_view(added.deploy) if added.deploy else None

    recorded, deploy = await run_in_threadpool(write)
    if deploy is not None and deploy.live_at is not None:
        await request.app.state.telemetry.append([marker_for(deploy)])
    return {"event": event, "recorded": recorded}

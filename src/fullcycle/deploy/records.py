"""Deploy records: starting deploys and rollbacks (with the lock and freeze checks), recording
deploys other systems ran, approvals, and the JSON views. Functions flush but never commit: the
caller commits together with its audit event."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.catalog.models import Service
from fullcycle.deploy.freeze import Window, active_window
from fullcycle.deploy.models import (
    Approval,
    Deploy,
    DeployLock,
    DeployStage,
    FreezeWindow,
    Pipeline,
)
from fullcycle.deploy.pipeline_spec import NAME, Environment, PipelineSpec
from fullcycle.deploy.shell import redact
from fullcycle.store.database import utcnow

TERMINAL = frozenset({"succeeded", "failed", "rolled_back", "cancelled"})
Name = Annotated[str, Field(pattern=NAME)]
Version = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s]+$")]
Commit = Annotated[str, Field(max_length=64, pattern=r"^[0-9a-fA-F]*$")]


class DeployRefused(Exception):
    """A deploy that cannot start or a change that cannot be made; `status` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DeployIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    environment: Name = "production"
    version: Version
    commit: Commit = ""
    commit_time: datetime | None = None
    freeze_override: Annotated[str, Field(max_length=1000)] = ""


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    environment: Name = "production"
    to_version: Version | None = None
    freeze_override: Annotated[str, Field(max_length=1000)] = ""


class ExternalDeployIn(BaseModel):
    """A deploy another system performed."""

    model_config = ConfigDict(extra="forbid")

    service: Name
    environment: Name = "production"
    version: Version
    commit: Commit = ""
    commit_time: datetime | None = None
    outcome: Literal["succeeded", "failed", "rolled_back", "cancelled"] = "succeeded"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    actor: Annotated[str, Field(max_length=200)] = ""


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checklist: list[Annotated[str, Field(max_length=200)]] = []
    comment: Annotated[str, Field(max_length=2000)] = ""


class StageOut(BaseModel):
    name: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    log: str | None
    results: list[dict[str, Any]]


class ApprovalOut(BaseModel):
    approver: str
    checklist: list[str]
    comment: str
    at: datetime


class DeployOut(BaseModel):
    id: int
    url: str
    service: str
    environment: str
    version: str
    commit: str
    commit_time: datetime | None
    kind: str
    actor: str
    deployer: str
    status: str
    reason: str
    freeze_override: str
    created_at: datetime
    started_at: datetime | None
    live_at: datetime | None
    finished_at: datetime | None
    rollback_of: int | None
    rolled_back_by: int | None
    approval_needed: dict[str, Any] | None
    approvals: list[ApprovalOut]
    stages: list[StageOut]


def deploy_view(deploy: Deploy, with_logs: bool = True) -> DeployOut:
    return DeployOut(
        id=deploy.id,
        url=f"/deploys/{deploy.id}",
        service=deploy.service,
        environment=deploy.environment,
        version=deploy.version,
        commit=deploy.commit_sha,
        commit_time=deploy.commit_time,
        kind=deploy.kind,
        actor=deploy.actor,
        deployer=deploy.actor_user or deploy.actor,
        status=deploy.status,
        reason=deploy.outcome_reason,
        freeze_override=deploy.freeze_override,
        created_at=deploy.created_at,
        started_at=deploy.started_at,
        live_at=deploy.live_at,
        finished_at=deploy.finished_at,
        rollback_of=deploy.rollback_of_id,
        rolled_back_by=deploy.rolled_back_by_id,
        approval_needed=(deploy.pipeline or {}).get("approval"),
        approvals=[
            ApprovalOut(
                approver=a.approver, checklist=a.checklist, comment=a.comment, at=a.created_at
            )
            for a in deploy.approvals
        ],
        stages=[
            StageOut(
                name=stage.name,
                status=stage.status,
                started_at=stage.started_at,
                finished_at=stage.finished_at,
                log=stage.log if with_logs else None,
                results=stage.results,
            )
            for stage in deploy.stages
        ],
    )


# --- pipelines --------------------------------------------------------------------------------


def apply_pipeline(db: Session, spec: PipelineSpec, source: str, actor: str) -> Pipeline:
    service = db.scalar(select(Service).where(Service.name == spec.service))
    if service is None:
        raise DeployRefused(
            422, f"service: no service named {spec.service!r} in the catalog; add it first"
        )
    pipeline = db.scalar(select(Pipeline).where(Pipeline.service_id == service.id))
    if pipeline is None:
        pipeline = Pipeline(service_id=service.id)
        db.add(pipeline)
    pipeline.source = source
    pipeline.definition = spec.model_dump(mode="json")
    pipeline.updated_by = actor
    db.flush()
    return pipeline


def redacted_source(source: str, spec: PipelineSpec) -> str:
    """The pipeline as readers may see it: literal secret values masked. (Whoever may deploy
    may edit the pipeline, and with it run any command: they see it whole.)"""
    secrets = {
        f"{env.name}.{name}": value
        for env in spec.environments
        for name, value in env.deploy.secrets.items()
    }
    return redact(source, secrets)


def pipeline_of(db: Session, service_name: str) -> tuple[Pipeline, PipelineSpec]:
    row = db.execute(
        select(Pipeline)
        .join(Service, Service.id == Pipeline.service_id)
        .where(Service.name == service_name)
    ).scalar_one_or_none()
    if row is None:
        raise DeployRefused(
            404,
            f"service {service_name!r} has no pipeline: register its fullcycle.yaml with "
            "`fullcycle pipelines apply FILE`",
        )
    return row, PipelineSpec.model_validate(row.definition)


def _environment(spec: PipelineSpec, name: str) -> Environment:
    environment = spec.environment(name)
    if environment is None:
        known = ", ".join(env.name for env in spec.environments)
        raise DeployRefused(
            422, f"environment: the pipeline of {spec.service!r} has no {name!r} (it has {known})"
        )
    return environment


# --- starting deploys -------------------------------------------------------------------------


def stage_names(environment: Environment, kind: str) -> list[str]:
    if kind == "rollback":
        return ["deploy", "verify"]
    names = []
    if environment.build:
        names.append("build")
    if environment.test:
        names.append("test")
    if environment.approval is not None:
        names.append("approval")
    return [*names, "deploy", "verify"]


def check_not_locked(db: Session, service: str, environment: str) -> None:
    lock = db.scalar(
        select(DeployLock).where(
            DeployLock.service == service,
            DeployLock.environment == environment,
            DeployLock.locked_reason != "",
        )
    )
    if lock is not None:
        raise DeployRefused(
            409,
            f"{service}/{environment} is locked by {lock.locked_by}: {lock.locked_reason} "
            "(the lock must be released before anyone deploys)",
        )


def check_freeze(db: Session, service: str, environment: str, override: str) -> str:
    """The name of the freeze window overridden, '' if none is active; refuses a deploy in a
    window without a written reason."""
    rows = db.scalars(select(FreezeWindow)).all()
    windows = [
        Window(row.name, row.cron, row.duration_minutes, row.timezone)
        for row in rows
        if row.service in ("", service) and row.environment in ("", environment)
    ]
    window = active_window(windows, utcnow())
    if window is None:
        return ""
    if not override.strip():
        raise DeployRefused(
            409,
            f"deploys to {service}/{environment} are frozen ({window.name!r}, "
            f"{window.cron} {window.timezone}); override with a written reason "
            "(freeze_override, `--override-freeze REASON`)",
        )
    return window.name


def start_deploy(
    db: Session, service: str, body: DeployIn, actor: str, actor_user: str
) -> tuple[Deploy, str]:
    """Queue a deploy; returns it and the freeze window it overrides ('' if none)."""
    _, spec = pipeline_of(db, service)
    environment = _environment(spec, body.environment)
    check_not_locked(db, service, environment.name)
    overridden = check_freeze(db, service, environment.name, body.freeze_override)
    deploy = _new_deploy(
        service,
        environment,
        "deploy",
        body.version,
        actor,
        actor_user,
        commit=body.commit.lower(),
        commit_time=body.commit_time,
        freeze_override=body.freeze_override.strip() if overridden else "",
    )
    db.add(deploy)
    db.flush()
    return deploy, overridden


def start_rollback(
    db: Session, service: str, body: RollbackIn, actor: str, actor_user: str
) -> tuple[Deploy, str]:
    """Queue a rollback to `to_version` or to the good release before the live one."""
    _, spec = pipeline_of(db, service)
    environment = _environment(spec, body.environment)
    check_not_locked(db, service, environment.name)
    overridden = check_freeze(db, service, environment.name, body.freeze_override)
    live = last_good(db, service, environment.name)
    if body.to_version is not None:
        target = last_good(db, service, environment.name, version=body.to_version)
        if target is None:
            raise DeployRefused(
                422,
                f"to_version: {body.to_version!r} never went live in "
                f"{service}/{environment.name} and stayed (its deploys failed, were rolled "
                "back or never ran); roll back only to a release that succeeded",
            )
    else:
        target = last_good(db, service, environment.name, other_than=live.version) if live else None
        if target is None:
            raise DeployRefused(
                409, f"{service}/{environment.name} has no earlier good release to roll back to"
            )
    deploy = _new_deploy(
        service,
        environment,
        "rollback",
        target.version,
        actor,
        actor_user,
        commit=target.commit_sha,
        commit_time=target.commit_time,
        freeze_override=body.freeze_override.strip() if overridden else "",
    )
    deploy.rollback_of_id = live.id if live is not None else None
    db.add(deploy)
    db.flush()
    return deploy, overridden


def _new_deploy(
    service: str,
    environment: Environment,
    kind: str,
    version: str,
    actor: str,
    actor_user: str,
    *,
    commit: str,
    commit_time: datetime | None,
    freeze_override: str,
) -> Deploy:
    return Deploy(
        service=service,
        environment=environment.name,
        version=version,
        commit_sha=commit,
        commit_time=commit_time,
        kind=kind,
        actor=actor,
        actor_user=actor_user,
        status="queued",
        freeze_override=freeze_override,
        pipeline=environment.model_dump(mode="json"),
        stages=[
            DeployStage(position=index, name=name)
            for index, name in enumerate(stage_names(environment, kind))
        ],
    )


def last_good(
    db: Session,
    service: str,
    environment: str,
    *,
    version: str | None = None,
    other_than: str | None = None,
    before_id: int | None = None,
) -> Deploy | None:
    """The latest deploy of the service and environment that went live and stayed."""
    query = (
        select(Deploy)
        .where(
            Deploy.service == service,
            Deploy.environment == environment,
            Deploy.status == "succeeded",
        )
        .order_by(Deploy.id.desc())
        .limit(1)
    )
    if version is not None:
        query = query.where(Deploy.version == version)
    if other_than is not None:
        query = query.where(Deploy.version != other_than)
    if before_id is not None:
        query = query.where(Deploy.id < before_id)
    return db.scalar(query)


def record_external(db: Session, body: ExternalDeployIn, actor: str, actor_user: str) -> Deploy:
    now = utcnow()
    deploy = Deploy(
        service=body.service,
        environment=body.environment,
        version=body.version,
        commit_sha=body.commit.lower(),
        commit_time=body.commit_time,
        kind="external",
        actor=actor,
        actor_user=body.actor or actor_user,
        status=body.outcome,
        started_at=body.started_at or now,
        live_at=(body.finished_at or now) if body.outcome == "succeeded" else None,
        finished_at=body.finished_at or now,
    )
    db.add(deploy)
    db.flush()
    return deploy


# --- reading ----------------------------------------------------------------------------------


def get_deploy(db: Session, deploy_id: int) -> Deploy:
    deploy = db.get(Deploy, deploy_id)
    if deploy is None:
        raise DeployRefused(404, f"no deploy with id {deploy_id}")
    return deploy


def list_deploys(
    db: Session,
    *,
    service: str | None = None,
    environment: str | None = None,
    status: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[Deploy]:
    query = select(Deploy).order_by(Deploy.id.desc()).limit(limit)
    if service:
        query = query.where(Deploy.service == service)
    if environment:
        query = query.where(Deploy.environment == environment)
    if status:
        query = query.where(Deploy.status == status)
    if before_id is not None:
        query = query.where(Deploy.id < before_id)
    return list(db.scalars(query))


# --- approvals --------------------------------------------------------------------------------


def approve(db: Session, deploy: Deploy, body: ApprovalIn, approver: str) -> Approval:
    """Record an approval; the deployer cannot be the reviewer, checklist items must exist."""
    needed = (deploy.pipeline or {}).get("approval")
    if deploy.kind == "external" or not needed:
        raise DeployRefused(409, f"deploy {deploy.id} has no approval stage")
    if deploy.status in TERMINAL:
        raise DeployRefused(409, f"deploy {deploy.id} is over ({deploy.status})")
    unknown = [item for item in body.checklist if item not in needed.get("checklist", [])]
    if unknown:
        raise DeployRefused(
            422, f"checklist: {unknown[0]!r} is not an item of this deploy's checklist"
        )
    if needed.get("reviewer") and approver == deploy.actor_user and not body.checklist:
        raise DeployRefused(
            403,
            "you started this deploy: a reviewer other than the deployer must approve it; "
            "you may only tick checklist items",
        )
    approval = Approval(
        deploy_id=deploy.id, approver=approver, checklist=body.checklist, comment=body.comment
    )
    db.add(approval)
    db.flush()
    return approval


def approval_complete(needed: dict[str, Any], deployer: str, approvals: list[Approval]) -> bool:
    """A reviewer other than the deployer approved (if asked) and every item is ticked."""
    reviewed = not needed.get("reviewer") or any(a.approver != deployer for a in approvals)
    ticked = {item for a in approvals for item in a.checklist}
    return reviewed and set(needed.get("checklist", [])) <= ticked


def cancel(db: Session, deploy: Deploy) -> None:
    if deploy.status != "queued":
        raise DeployRefused(
            409, f"deploy {deploy.id} is {deploy.status}; only queued deploys can be cancelled"
        )
    deploy.status = "cancelled"
    deploy.outcome_reason = "cancelled before it started"
    deploy.finished_at = utcnow()
    for stage in deploy.stages:
        stage.status = "skipped"
    db.flush()

"""Deploy tables. Deploys name their service by name (not a foreign key): they are history and
stay readable after the service is renamed or removed from the catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from fullcycle.store.database import Base, UTCDateTime, utcnow


class Pipeline(Base):
    """A service's pipeline as registered from its `fullcycle.yaml` (source and parsed form)."""

    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), unique=True
    )
    source: Mapped[str] = mapped_column(Text)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Deploy(Base):
    """One deploy or rollback, run here or recorded from elsewhere (`kind`)."""

    __tablename__ = "deploys"
    __table_args__ = (
        Index("ix_deploys_service_environment", "service", "environment", "id"),
        Index("ix_deploys_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(63))
    environment: Mapped[str] = mapped_column(String(63))
    version: Mapped[str] = mapped_column(String(200))
    commit_sha: Mapped[str] = mapped_column(String(64), default="")
    commit_time: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    kind: Mapped[str] = mapped_column(String(20), default="deploy")  # deploy|rollback|external
    actor: Mapped[str] = mapped_column(String(200))
    actor_user: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(20), default="queued")
    outcome_reason: Mapped[str] = mapped_column(Text, default="")
    freeze_override: Mapped[str] = mapped_column(Text, default="")
    pipeline: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rollback_of_id: Mapped[int | None] = mapped_column(ForeignKey("deploys.id"), default=None)
    rolled_back_by_id: Mapped[int | None] = mapped_column(ForeignKey("deploys.id"), default=None)
    live_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    leased_by: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    stages: Mapped[list[DeployStage]] = relationship(
        cascade="all, delete-orphan", order_by="DeployStage.position"
    )
    approvals: Mapped[list[Approval]] = relationship(
        cascade="all, delete-orphan", order_by="Approval.id"
    )


class DeployStage(Base):
    __tablename__ = "deploy_stages"
    __table_args__ = (UniqueConstraint("deploy_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deploy_id: Mapped[int] = mapped_column(ForeignKey("deploys.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    log: Mapped[str] = mapped_column(Text, default="")
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Approval(Base):
    """A reviewer's approval or a completed QA checklist, by a named person."""

    __tablename__ = "deploy_approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deploy_id: Mapped[int] = mapped_column(ForeignKey("deploys.id", ondelete="CASCADE"))
    approver: Mapped[str] = mapped_column(String(100))
    checklist: Mapped[list[str]] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeployLock(Base):
    """The one slot per service and environment. The runner holds it with a lease while a deploy
    runs (several server processes share the database); a person can also lock it by hand."""

    __tablename__ = "deploy_locks"
    __table_args__ = (UniqueConstraint("service", "environment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(63))
    environment: Mapped[str] = mapped_column(String(63))
    deploy_id: Mapped[int | None] = mapped_column(Integer, default=None)
    leased_by: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    locked_by: Mapped[str] = mapped_column(String(200), default="")
    locked_reason: Mapped[str] = mapped_column(Text, default="")
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


def ensure_lock_row(db: Session, service: str, environment: str) -> None:
    """Make the slot's row exist. The runner and a person locking by hand may both make it at
    the same moment: `ON CONFLICT DO NOTHING` lets the second one use the first one's row
    instead of failing its whole transaction on the unique constraint."""
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    db.execute(
        dialect.insert(DeployLock)
        .values(service=service, environment=environment)
        .on_conflict_do_nothing(index_elements=["service", "environment"])
    )


class FreezeWindow(Base):
    """A recurring time in which deploys are refused unless overridden with a reason."""

    __tablename__ = "freeze_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(63), default="")  # "" = every service
    environment: Mapped[str] = mapped_column(String(63), default="")  # "" = every environment
    cron: Mapped[str] = mapped_column(String(100))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GithubEvent(Base):
    """Commits and GitHub deployments received by the webhook (commit times give lead time)."""

    __tablename__ = "github_events"
    __table_args__ = (UniqueConstraint("delivery_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(40))
    repository: Mapped[str] = mapped_column(String(200), default="")
    commit_sha: Mapped[str] = mapped_column(String(64), default="")
    commit_time: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

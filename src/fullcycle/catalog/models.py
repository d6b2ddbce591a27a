"""Catalog tables. Relations to other entities are stored as normalised reference strings
(see refs.py) and resolved on read, so unknown targets are kept and shown as unresolved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fullcycle.store.database import Base, UTCDateTime, utcnow


class Service(Base):
    """A Backstage Component: a service or website some team owns and runs."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(50), default="service")
    lifecycle: Mapped[str] = mapped_column(String(50), default="production")
    tier: Mapped[str] = mapped_column(String(50), default="")
    system: Mapped[str] = mapped_column(String(63), default="")
    repository_url: Mapped[str] = mapped_column(String(500), default="")
    runbook_url: Mapped[str] = mapped_column(String(500), default="")
    oncall_contact: Mapped[str] = mapped_column(String(320), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    provides_apis: Mapped[list[str]] = mapped_column(JSON, default=list)
    consumes_apis: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owners: Mapped[list[ServiceOwner]] = relationship(
        cascade="all, delete-orphan", order_by="ServiceOwner.position"
    )
    dependencies: Mapped[list[ServiceDependency]] = relationship(
        cascade="all, delete-orphan", order_by="ServiceDependency.position"
    )

    @property
    def owner_refs(self) -> list[str]:
        return [owner.ref for owner in self.owners]

    @property
    def dependency_refs(self) -> list[str]:
        return [dependency.ref for dependency in self.dependencies]


class ServiceOwner(Base):
    __tablename__ = "service_owners"
    __table_args__ = (UniqueConstraint("service_id", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    ref: Mapped[str] = mapped_column(String(200), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class ServiceDependency(Base):
    __tablename__ = "service_dependencies"
    __table_args__ = (UniqueConstraint("service_id", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    ref: Mapped[str] = mapped_column(String(200), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Team(Base):
    """A Backstage Group: the unit that owns services and is on call for them."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(50), default="team")
    email: Mapped[str] = mapped_column(String(320), default="")
    parent_ref: Mapped[str] = mapped_column(String(200), default="")
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    members: Mapped[list[TeamMember]] = relationship(
        cascade="all, delete-orphan", order_by="TeamMember.position"
    )

    @property
    def member_names(self) -> list[str]:
        return [member.user_name for member in self.members]


class TeamMember(Base):
    """Membership by user name, so a Group may list people before their User entity exists."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user_name: Mapped[str] = mapped_column(String(100), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class System(Base):
    """A Backstage System: a named group of services that together provide a capability."""

    __tablename__ = "systems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    owner_ref: Mapped[str] = mapped_column(String(200), default="")
    domain: Mapped[str] = mapped_column(String(63), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class Api(Base):
    """A Backstage API entity, kept as a described link (its definition is not interpreted)."""

    __tablename__ = "apis"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(50), default="")
    lifecycle: Mapped[str] = mapped_column(String(50), default="")
    owner_ref: Mapped[str] = mapped_column(String(200), default="")
    system: Mapped[str] = mapped_column(String(63), default="")
    definition: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ScrapeTarget(Base):
    """A Prometheus endpoint of a service that fullcycle scrapes in the background.

    `lease_until`/`leased_by` let several server or worker processes share the scraping: a
    process takes a due target by setting a lease in one UPDATE, so each scrape runs once.
    """

    __tablename__ = "scrape_targets"
    __table_args__ = (UniqueConstraint("service_id", "url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(500))
    interval_seconds: Mapped[int] = mapped_column(Integer, default=30)
    timeout_seconds: Mapped[int] = mapped_column(Integer, default=10)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    next_scrape_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    leased_by: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_scrape_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_duration_ms: Mapped[float | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_samples: Mapped[int] = mapped_column(Integer, default=0)

    service: Mapped[Service] = relationship()

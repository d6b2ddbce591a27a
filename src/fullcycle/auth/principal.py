"""Who is calling: resolve a bearer token or a session cookie into a Principal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.auth.credentials import hash_token
from fullcycle.auth.models import ApiToken, User, WebSession
from fullcycle.auth.scopes import Scope, effective_scopes

SESSION_COOKIE = "fullcycle_session"
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class PageIdentity:
    """What every page shows of the caller, copied when the caller is resolved. A write that
    fails (a unique constraint hit by a concurrent write) rolls back and expires the ORM rows;
    the error page still shows who is logged in and keeps its CSRF token from these values."""

    name: str
    display_name: str
    is_admin: bool
    csrf_token: str


@dataclass(frozen=True)
class Principal:
    user: User
    scopes: frozenset[Scope]
    via: str  # "token" or "session"
    page_identity: PageIdentity
    token: ApiToken | None = None
    web_session: WebSession | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        if self.token is not None:
            return f"{self.user.name} (token {self.token.name})"
        return self.user.name

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes


def user_scopes(user: User) -> frozenset[Scope]:
    """What a logged-in person may do: everyone reads and ingests; writing needs a right."""
    granted = [Scope.READ, Scope.INGEST]
    if user.can_deploy:
        granted.append(Scope.DEPLOY)
    if user.is_admin:
        granted.append(Scope.ADMIN)
    return effective_scopes(frozenset(granted))


def principal_from_token(db: Session, token: str, now: datetime) -> Principal | None:
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or not row.is_usable(now) or not row.user.is_active:
        return None
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now  # at most one write a minute per token, not one per request
    # A token never grants more than its owner holds now (a demoted admin's token loses admin).
    scopes = effective_scopes(row.scopes) & user_scopes(row.user)
    identity = page_identity(row.user, csrf_token="")
    return Principal(row.user, scopes, "token", identity, token=row)


def principal_from_session(db: Session, secret: str, now: datetime) -> Principal | None:
    row = db.scalar(select(WebSession).where(WebSession.secret_hash == hash_token(secret)))
    if row is None or row.expires_at <= now or not row.user.is_active:
        return None
    identity = page_identity(row.user, row.csrf_token)
    return Principal(row.user, user_scopes(row.user), "session", identity, web_session=row)


def page_identity(user: User, csrf_token: str) -> PageIdentity:
    return PageIdentity(user.name, user.display_name, user.is_admin, csrf_token)

"""Creating, listing and revoking API tokens; and the headless admin token for automation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.auth.credentials import hash_token, new_token
from fullcycle.auth.models import ApiToken, User
from fullcycle.auth.principal import user_scopes
from fullcycle.auth.scopes import Scope, effective_scopes
from fullcycle.store.database import utcnow


class TokenScopeError(ValueError):
    """The user asked for a scope they do not hold themselves."""


def create_token(
    db: Session,
    user: User,
    name: str,
    scopes: list[Scope],
    expires_at: datetime | None = None,
    secret: str | None = None,
    service: str | None = None,
) -> tuple[ApiToken, str]:
    """Store a new token for `user`; returns the row and the secret, which is shown only once."""
    missing = effective_scopes(frozenset(scopes)) - user_scopes(user)
    if missing:
        names = ", ".join(sorted(scope.value for scope in missing))
        raise TokenScopeError(f"user {user.name!r} cannot grant scopes they lack: {names}")
    if expires_at is not None and expires_at <= utcnow():
        raise ValueError("expires_at must be in the future")
    value = secret or new_token()
    row = ApiToken(
        user=user,
        name=name,
        token_hash=hash_token(value),
        prefix=value[:8],
        scopes=[scope.value for scope in scopes],
        expires_at=expires_at,
        service=service,
    )
    db.add(row)
    db.flush()
    return row, value


def tokens_of(db: Session, user: User | None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(db.scalars(query))


def revoke(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()


def ensure_token_with_value(db: Session, user: User, name: str, value: str) -> bool:
    """Make sure an admin token with exactly `value` exists; True if it had to be created.

    Used for FULLCYCLE_ADMIN_TOKEN: idempotent across restarts, never a duplicate. A revoked or
    expired token with that value is brought back, since the operator asked for it explicitly.
    """
    existing = db.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(value)))
    if existing is not None:
        existing.revoked_at = None
        existing.expires_at = None
        existing.scopes = [Scope.ADMIN.value]
        existing.user = user
        return False
    create_token(db, user, name, [Scope.ADMIN], secret=value)
    return True

"""Browser sessions: log in with a password, get a cookie; log out deletes the session."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy.orm import Session

from fullcycle.auth.credentials import hash_token, verify_password
from fullcycle.auth.models import User, WebSession
from fullcycle.auth.users import find_user
from fullcycle.store.database import utcnow


def check_password(db: Session, name: str, password: str) -> User | None:
    user = find_user(db, name)
    if user is None or not user.can_log_in or not verify_password(user.password_hash, password):
        return None
    return user


def start_session(db: Session, user: User, hours: int) -> tuple[WebSession, str]:
    """Returns the session and the cookie secret (only its hash is stored)."""
    secret = secrets.token_urlsafe(32)
    row = WebSession(
        user=user,
        secret_hash=hash_token(secret),
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    db.add(row)
    db.flush()
    return row, secret

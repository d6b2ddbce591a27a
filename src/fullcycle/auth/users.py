"""User accounts: creation, lookup and the bootstrap admin."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fullcycle.auth.credentials import hash_password, new_password
from fullcycle.auth.models import User

BOOTSTRAP_ADMIN = "admin"


def find_user(db: Session, name: str) -> User | None:
    return db.scalar(select(User).where(User.name == name))


def all_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.name)))


def create_user(
    db: Session,
    name: str,
    password: str | None = None,
    *,
    display_name: str = "",
    email: str = "",
    is_admin: bool = False,
    can_deploy: bool = True,
) -> User:
    user = User(
        name=name,
        display_name=display_name,
        email=email,
        password_hash=hash_password(password) if password else None,
        is_admin=is_admin,
        can_deploy=can_deploy,
    )
    db.add(user)
    db.flush()
    return user


def ensure_bootstrap_admin(db: Session) -> str | None:
    """On an empty database create the 'admin' user; returns its one-time password, else None."""
    if db.scalar(select(func.count()).select_from(User).where(User.is_admin)):
        return None
    existing = find_user(db, BOOTSTRAP_ADMIN)
    password = new_password()
    if existing is None:
        create_user(db, BOOTSTRAP_ADMIN, password, display_name="Administrator", is_admin=True)
    else:
        existing.is_admin = True
        existing.password_hash = hash_password(password)
    return password


def reset_password(db: Session, name: str) -> str:
    """Give `name` a new random password (the `fullcycle users reset-password` command)."""
    user = find_user(db, name)
    if user is None:
        raise LookupError(f"no user named {name!r}")
    password = new_password()
    user.password_hash = hash_password(password)
    user.is_active = True
    return password

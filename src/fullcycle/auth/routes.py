"""The auth API: who am I, users, API tokens, and password login for the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from fullcycle.audit.log import record
from fullcycle.auth.credentials import hash_password
from fullcycle.auth.dependencies import RequireAdmin, RequireRead, current_principal, get_db
from fullcycle.auth.models import ApiToken, User
from fullcycle.auth.principal import Principal
from fullcycle.auth.schemas import (
    LoginRequest,
    Me,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from fullcycle.auth.scopes import Scope, parse_scopes
from fullcycle.auth.sessions import check_password
from fullcycle.auth.tokens import TokenScopeError, create_token, revoke, tokens_of
from fullcycle.auth.users import all_users, create_user, find_user
from fullcycle.catalog.queries import team_names_by_member
from fullcycle.store.database import utcnow

router = APIRouter(prefix="/api/v1", tags=["auth"])


def user_out(user: User, teams: dict[str, list[str]]) -> UserOut:
    out = UserOut.model_validate(user)
    out.teams = teams.get(user.name, [])
    return out


def token_out(token: ApiToken, secret: str | None = None) -> TokenOut:
    fields = {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": token.scopes,
        "user": token.user.name,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
        "service": token.service,
    }
    return TokenCreated(**fields, token=secret) if secret else TokenOut(**fields)


def _user_or_404(db: Session, name: str) -> User:
    user = find_user(db, name)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user named {name!r}")
    return user


@router.get("/auth/me", response_model=Me)
def me(principal: Principal = Depends(current_principal), db: Session = Depends(get_db)) -> Me:
    return Me(
        user=user_out(principal.user, team_names_by_member(db)),
        scopes=sorted(scope.value for scope in principal.scopes),
        via=principal.via,
    )


@router.post("/auth/login", response_model=TokenCreated, status_code=201)
def login(body: LoginRequest, request: Request, db: Session = Depends(get_db)) -> TokenOut:
    """Exchange a user name and password for a new API token (what `fullcycle login` does)."""
    user = check_password(db, body.username, body.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    token, secret = _create_checked(db, user, body.token_name, body.scopes, expires)
    record(db, request, user.name, "token.create", token.name, scopes=token.scopes, via="login")
    db.commit()
    return token_out(token, secret)


def _create_checked(
    db: Session,
    user: User,
    name: str,
    scopes: list[str],
    expires: datetime | None,
    service: str | None = None,
) -> tuple[ApiToken, str]:
    try:
        return create_token(db, user, name, parse_scopes(scopes), expires, service=service)
    except TokenScopeError as error:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(error)) from error
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(
    all_users_tokens: bool = False,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> list[TokenOut]:
    """Your own tokens; admins may pass `all_users_tokens=true` to see everyone's."""
    if all_users_tokens and not principal.has(Scope.ADMIN):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "listing every user's tokens needs 'admin'")
    return [token_out(t) for t in tokens_of(db, None if all_users_tokens else principal.user)]


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_api_token(
    body: TokenCreate,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> TokenOut:
    """Create a token for yourself with scopes you hold; the secret is in this response only."""
    expires = body.expires_at
    if body.expires_in_days is not None:
        expires = utcnow() + timedelta(days=body.expires_in_days)
    token, secret = _create_checked(
        db, principal.user, body.name, body.scopes, expires, body.service
    )
    record(db, request, principal, "token.create", token.name, scopes=token.scopes)
    db.commit()
    return token_out(token, secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_api_token(
    token_id: int,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> TokenOut:
    """Revoke one of your tokens (admins: anyone's). Revoking twice is harmless."""
    token = db.get(ApiToken, token_id)
    if token is None or (token.user_id != principal.user.id and not principal.has(Scope.ADMIN)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no token with id {token_id}")
    revoke(token)
    record(db, request, principal, "token.revoke", token.name, token_id=token.id)
    db.commit()
    return token_out(token)


@router.get("/users", response_model=list[UserOut], dependencies=[RequireRead])
def list_users(db: Session = Depends(get_db)) -> list[UserOut]:
    teams = team_names_by_member(db)
    return [user_out(user, teams) for user in all_users(db)]


@router.get("/users/{name}", response_model=UserOut, dependencies=[RequireRead])
def get_user(name: str, db: Session = Depends(get_db)) -> UserOut:
    return user_out(_user_or_404(db, name), team_names_by_member(db))


@router.post("/users", response_model=UserOut, status_code=201)
def create_user_account(
    body: UserCreate,
    request: Request,
    principal: Principal = RequireAdmin,
    db: Session = Depends(get_db),
) -> UserOut:
    if find_user(db, body.name) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"a user named {body.name!r} exists")
    user = create_user(
        db,
        body.name,
        body.password,
        display_name=body.display_name,
        email=body.email,
        is_admin=body.is_admin,
        can_deploy=body.can_deploy,
    )
    record(db, request, principal, "user.create", user.name, is_admin=user.is_admin)
    db.commit()
    return user_out(user, team_names_by_member(db))


@router.patch("/users/{name}", response_model=UserOut)
def update_user_account(
    name: str,
    body: UserUpdate,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> UserOut:
    """Admins change anyone; a user may change their own name, e-mail and password."""
    user = _user_or_404(db, name)
    changes = body.model_dump(exclude_unset=True)
    rights = {"is_admin", "can_deploy", "is_active"}
    if not principal.has(Scope.ADMIN) and (user.id != principal.user.id or rights & set(changes)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs the 'admin' scope")
    password = changes.pop("password", None)
    if password:
        user.password_hash = hash_password(password)
    for field, value in changes.items():
        setattr(user, field, value)
    record(db, request, principal, "user.update", user.name, fields=sorted(body.model_fields_set))
    db.commit()
    return user_out(user, team_names_by_member(db))

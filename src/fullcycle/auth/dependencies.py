"""FastAPI dependencies: the database session, the caller, scope checks and CSRF."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from fullcycle.auth.credentials import same_secret
from fullcycle.auth.principal import (
    SESSION_COOKIE,
    Principal,
    principal_from_session,
    principal_from_token,
)
from fullcycle.auth.scopes import Scope
from fullcycle.store.database import utcnow

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


class NotAuthenticated(Exception):
    """No valid token or session: 401 for the API, a redirect to the login page for pages."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(Exception):
    """Authenticated, but lacking a scope or failing the CSRF check: 403."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.database.session() as session:
        yield session


def bearer_token(request: Request) -> str | None:
    """The API token of the request: `Authorization: Bearer <token>`, or Basic auth with the
    token as the password (the user name is ignored) for shippers that only speak Basic auth,
    such as rsyslog's Elasticsearch output."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            _, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or None
    return None


async def _check_csrf(request: Request, principal: Principal) -> None:
    """Cookie-authenticated writes must echo the session's CSRF token (header or form field)."""
    if principal.via != "session" or request.method in SAFE_METHODS:
        return
    assert principal.web_session is not None
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not same_secret(sent, principal.web_session.csrf_token):
        raise Forbidden("CSRF token missing or wrong: reload the page and submit the form again")


def resolved_principal(request: Request, db: Session = Depends(get_db)) -> Principal:
    """The caller, from the request's API token or session cookie. A plain function on purpose:
    FastAPI runs it in a worker thread, so its database reads never hold up the event loop."""
    now = utcnow()
    token = bearer_token(request)
    if token is not None:
        principal = principal_from_token(db, token, now)
        if principal is None:
            raise NotAuthenticated("invalid, expired or revoked API token")
        return principal
    secret = request.cookies.get(SESSION_COOKIE)
    principal = principal_from_session(db, secret, now) if secret else None
    if principal is None:
        raise NotAuthenticated("authentication required: send 'Authorization: Bearer <token>'")
    return principal


async def current_principal(
    request: Request, principal: Principal = Depends(resolved_principal)
) -> Principal:
    """The resolved caller, once a cookie-authenticated write has passed the CSRF check (which
    may read the request's form, so it awaits)."""
    await _check_csrf(request, principal)
    request.state.principal = principal
    request.state.actor = principal.actor
    return principal


async def caller_in_own_session(request: Request) -> Principal:
    """`current_principal` for code that decides before FastAPI's dependencies run (the metrics
    scrape's own token, the ingest token cache): the reads in a worker thread and a session of
    their own."""
    return await current_principal(request, await run_in_threadpool(_resolved_apart, request))


def _resolved_apart(request: Request) -> Principal:
    with request.app.state.database.session() as db:
        return resolved_principal(request, db)


def require(scope: Scope) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """Dependency factory: the caller must hold `scope` (403 naming it otherwise)."""

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.has(scope):
            raise Forbidden(f"this needs the '{scope.value}' scope, which your credentials lack")
        return principal

    return dependency


RequireRead = Depends(require(Scope.READ))
RequireDeploy = Depends(require(Scope.DEPLOY))
RequireAdmin = Depends(require(Scope.ADMIN))

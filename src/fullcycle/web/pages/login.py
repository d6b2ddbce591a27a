"""Logging in and out of the web UI.

The login form is protected against cross-site posting with a double-submit cookie: the form
carries a random value that must equal a cookie set when the form was shown.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from fullcycle.audit.log import record
from fullcycle.auth.credentials import same_secret
from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import SESSION_COOKIE, Principal
from fullcycle.auth.sessions import check_password, start_session
from fullcycle.web.pages.flash import page
from fullcycle.web.rendering import render_error

router = APIRouter()
LOGIN_CSRF_COOKIE = "fullcycle_login_csrf"


def _safe_next(target: str) -> str:
    """Only same-site relative paths, so the login page cannot be used as an open redirect."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def secure_cookies(request: Request) -> bool:
    configured = request.app.state.settings.secure_cookies
    return configured if configured is not None else request.url.scheme == "https"


def _login_page(
    request: Request, next_url: str, error: str = "", username: str = "", status_code: int = 200
) -> Response:
    token = secrets.token_urlsafe(24)
    response = page(
        request,
        "auth/login.html",
        {"login_csrf": token, "next": next_url, "error": error, "username": username},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request)
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    return _login_page(request, _safe_next(next))


@router.post("/login")
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/"),
    db: Session = Depends(get_db),
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not same_secret(csrf_token, expected):
        return render_error(request, 403, "The login form expired; reload the page and try again.")
    user = check_password(db, username, password)
    if user is None:
        return _login_page(
            request, _safe_next(next), "Wrong user name or password.", username, status_code=401
        )
    settings = request.app.state.settings
    _, secret = start_session(db, user, settings.session_hours)
    record(db, request, user.name, "session.login", user.name)
    db.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    if principal.web_session is not None:
        db.delete(principal.web_session)
        record(db, request, principal, "session.logout", principal.user.name)
        db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home(principal: Principal = Depends(current_principal)) -> Response:
    return RedirectResponse("/catalog", status_code=303)

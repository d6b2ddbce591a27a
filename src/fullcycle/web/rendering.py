"""Rendering pages: one Jinja2 environment (autoescaping on), shared context for the layout."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from fullcycle import __version__
from fullcycle.settings import Settings

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"


def as_moment(value: datetime | str | None) -> datetime | None:
    """A time as a datetime: the API views the pages reuse (alerts, on-call) hold ISO text,
    which `m.when` would otherwise print raw, microseconds and offset included."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) and value else value
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return moment.astimezone(UTC)
    return moment or None


def readable_number(value: float | None) -> str:
    """A measured value as a person reads it: 0.2306, 11.76, 3,830, not 0.23057927011157095."""
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def templates_for(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    templates.env.globals["version"] = __version__
    templates.env.filters["moment"] = as_moment
    templates.env.filters["readable"] = readable_number
    return templates


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render a page with the caller (if any) and their CSRF token available to the layout."""
    principal = getattr(request.state, "principal", None)
    identity = getattr(principal, "page_identity", None)
    full_context = {
        "principal": principal,
        "user": identity,
        "csrf_token": identity.csrf_token if identity else "",
        **(context or {}),
    }
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, full_context, status_code=status_code)


def render_error(request: Request, status_code: int, message: str) -> HTMLResponse:
    return render(
        request, "error.html", {"status_code": status_code, "message": message}, status_code
    )

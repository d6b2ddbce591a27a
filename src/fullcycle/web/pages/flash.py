"""One-time messages across a redirect ("post, redirect, get").

After a successful form post the page redirects with a short message in a cookie; the next
page shows it once and deletes the cookie. Messages are plain text and autoescaped when shown.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from fullcycle.web.rendering import render

FLASH_COOKIE = "fullcycle_flash"
KINDS = {"success", "warning", "error"}


def redirect(url: str, message: str = "", kind: str = "success") -> RedirectResponse:
    """303 to `url`, carrying `message` to be shown there once."""
    response = RedirectResponse(url, status_code=303)
    if message:
        response.set_cookie(
            FLASH_COOKIE, quote(f"{kind}|{message}"), max_age=60, httponly=True, samesite="lax"
        )
    return response


def _pending(request: Request) -> list[tuple[str, str]]:
    kind, _, text = unquote(request.cookies.get(FLASH_COOKIE, "")).partition("|")
    return [(kind, text)] if kind in KINDS and text else []


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page, showing (and consuming) a message left by the previous redirect."""
    flashes = _pending(request)
    response = render(request, template, {"flashes": flashes, **(context or {})}, status_code)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE)
    return response

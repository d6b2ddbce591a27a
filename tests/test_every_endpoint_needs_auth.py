"""Every route the app serves refuses an anonymous caller, except the few meant to be open.

The list of routes comes from the app itself, so a new endpoint that forgets its auth
dependency fails here without anyone having to remember to add a test for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from fullcycle.app import is_machine_path

# Open by design: health checks, the login form, and password login for the CLI (its
# credentials are in the body).
OPEN = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/api/v1/auth/login"),
}


def _api_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Walk included routers too (FastAPI keeps them nested since 0.160, flat before)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix, route
        elif hasattr(route, "original_router"):
            nested_prefix = prefix + route.include_context.prefix
            yield from _api_routes(route.original_router.routes, nested_prefix)


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for prefix, route in _api_routes(app.routes):
        path = re.sub(r"\{[^}]+\}", "x1", prefix + route.path)
        found += [(method, path) for method in sorted(route.methods) if method != "HEAD"]
    return found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_refuses_anonymous_callers(client: TestClient, app: FastAPI) -> None:
    routes = _routes(app)
    assert len(routes) > 40  # the app's API and pages, not an empty list
    for method, path in routes:
        if (method, path) in OPEN:
            continue
        response = client.request(method, path, follow_redirects=False)
        if is_machine_path(path):
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
        else:
            assert response.status_code == 303, f"{method} {path}: {response.status_code}"
            assert response.headers["location"].startswith("/login?next="), (method, path)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_open_routes_are_only_the_intended_ones(client: TestClient, app: FastAPI) -> None:
    routes = set(_routes(app))
    assert routes >= OPEN
    assert client.get("/healthz").status_code == 200
    assert client.get("/login").status_code == 200

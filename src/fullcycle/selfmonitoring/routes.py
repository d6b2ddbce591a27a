"""Health checks (no auth) and the /metrics endpoint (read scope or the metrics token)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session

from fullcycle.auth.credentials import same_secret
from fullcycle.auth.dependencies import bearer_token, caller_in_own_session, get_db, require
from fullcycle.auth.scopes import Scope

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


def _problem(check: Callable[[], object]) -> str:
    """'ok', or the name of the error the check raised."""
    try:
        check()
    except Exception as error:  # any driver error means "not ready", reported, not raised
        return type(error).__name__
    return "ok"


@router.get("/readyz")
def readyz(request: Request, db: Session = Depends(get_db)) -> JSONResponse:
    """The process can serve requests: its control-plane database and telemetry store answer."""
    checks = {
        "database": _problem(lambda: db.execute(text("SELECT 1"))),
        "telemetry": _problem(request.app.state.telemetry.ping),
    }
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", **checks}, status_code=200 if ready else 503
    )


async def _metrics_auth(request: Request) -> None:
    """A dedicated FULLCYCLE_METRICS_TOKEN lets Prometheus scrape without a user token."""
    metrics_token = request.app.state.settings.metrics_token
    token = bearer_token(request)
    if metrics_token and token and same_secret(token, metrics_token):
        return
    await require(Scope.READ)(await caller_in_own_session(request))


@router.get("/metrics", dependencies=[Depends(_metrics_auth)], include_in_schema=False)
def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(content=generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

"""/services/{name}/dashboard: the automatic dashboard of a service (charts drawn in the browser
with uPlot from GET /api/v1/services/{name}/dashboard)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import Principal
from fullcycle.catalog.service import get_service
from fullcycle.web.rendering import render

router = APIRouter()

RANGES = ("15m", "1h", "6h", "24h", "7d")
REFRESH_SECONDS = (0, 10, 30, 60, 300)


@router.get("/services/{name}/dashboard")
def service_dashboard_page(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    service = get_service(db, name)
    if service is None:
        raise HTTPException(404, f"There is no service named '{name}' in the catalog.")
    return render(
        request,
        "dashboards/service.html",
        {
            "nav": "catalog",
            "service": service,
            "ranges": RANGES,
            "refresh_seconds": REFRESH_SECONDS,
        },
    )

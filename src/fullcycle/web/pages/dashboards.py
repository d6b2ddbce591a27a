"""Dashboard pages: a service's automatic dashboard (/services/{name}/dashboard) and dashboards
as code (/dashboards: list, view, edit with a live preview). Charts are drawn in the browser
with uPlot from the dashboard API (web/static/dashboards.js)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.catalog.service import get_service
from fullcycle.metrics.dashboards import get_dashboard, list_dashboards
from fullcycle.metrics.models import Dashboard
from fullcycle.web.pages.access import require_deploy
from fullcycle.web.rendering import render

router = APIRouter()

RANGES = ("15m", "1h", "6h", "24h", "7d")
REFRESH_SECONDS = (0, 10, 30, 60, 300)
CONTROLS = {"ranges": RANGES, "refresh_seconds": REFRESH_SECONDS}
NEW_DASHBOARD = """name: my-dashboard
title: My dashboard
variables:
  service: checkout
rows:
  - title: Traffic
    panels:
      - title: Requests per second
        type: timeseries
        unit: reqps
        queries:
          - expr: sum by (code) (rate(http_requests_total{job="$service"}[5m]))
            legend: "{{code}}"
"""


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
        {"nav": "catalog", "service": service, **CONTROLS},
    )


def _dashboard_or_404(db: Session, name: str) -> Dashboard:
    dashboard = get_dashboard(db, name)
    if dashboard is None:
        raise HTTPException(404, f"There is no dashboard named '{name}'.")
    return dashboard


@router.get("/dashboards")
def dashboards_page(
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    return render(
        request,
        "dashboards/list.html",
        {
            "nav": "dashboards",
            "dashboards": list_dashboards(db),
            "may_edit": principal.has(Scope.DEPLOY),
        },
    )


@router.get("/dashboards/new")
def new_dashboard_page(
    request: Request, principal: Principal = Depends(current_principal)
) -> Response:
    require_deploy(principal, "Making a dashboard")
    context = {"nav": "dashboards", "name": "", "source": NEW_DASHBOARD, **CONTROLS}
    return render(request, "dashboards/edit.html", context)


@router.get("/dashboards/{name}")
def dashboard_page(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    dashboard = _dashboard_or_404(db, name)
    context = {
        "nav": "dashboards",
        "dashboard": dashboard,
        "may_edit": principal.has(Scope.DEPLOY),
        **CONTROLS,
    }
    return render(request, "dashboards/view.html", context)


@router.get("/dashboards/{name}/edit")
def edit_dashboard_page(
    name: str,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Editing a dashboard")
    dashboard = _dashboard_or_404(db, name)
    context = {"nav": "dashboards", "name": name, "source": dashboard.source, **CONTROLS}
    return render(request, "dashboards/edit.html", context)

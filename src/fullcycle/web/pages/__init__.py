"""Page routes of the web UI, one module per area."""

from fastapi import APIRouter

from fullcycle.web.pages import (
    alerts,
    audit,
    catalog,
    contacts,
    dashboards,
    deploys,
    login,
    logs,
    rules,
    services,
    teams,
    telemetry,
    tokens,
    users,
)

router = APIRouter(include_in_schema=False)
for area in (
    login,
    catalog,
    services,
    dashboards,
    teams,
    users,
    tokens,
    audit,
    telemetry,
    logs,
    deploys,
    alerts,
    contacts,
    rules,
):
    router.include_router(area.router)

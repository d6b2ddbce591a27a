"""Alert pages: the alerts of every service (/alerts) and one alert (/alerts/{id}) with the way
to its cause (dashboard and logs of its window, the suspect deploy with a rollback) and the
delivery of its notifications; acknowledging and resolving from the page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.ack_links import redeem
from fullcycle.alerting.dispatch import alert_links
from fullcycle.alerting.models import Alert, AlertRule, Silence
from fullcycle.alerting.oncall_routes import schedules_for_service
from fullcycle.alerting.records import (
    STATES,
    AlertRefused,
    acknowledge,
    alert_detail,
    alert_view,
    get_alert,
    list_alerts,
    resolve_by_hand,
)
from fullcycle.alerting.silences import silence_view
from fullcycle.anomaly.watch import last_verdict
from fullcycle.audit.log import record
from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.catalog.models import Service
from fullcycle.store.database import utcnow
from fullcycle.web.pages.access import require_deploy
from fullcycle.web.pages.flash import page, redirect
from fullcycle.web.rendering import render_error

router = APIRouter()
PAGE_SIZE = 100
STATE_PILL = {"firing": "pill-bad", "pending": "pill-warn", "resolved": "pill-good"}


def service_alerting(db: Session, service: Service) -> dict[str, Any]:
    """The service page's alerting section: open alerts, its rules, who is on call."""
    open_alerts = [
        alert_view(a)
        for a in list_alerts(db, None, service.name, PAGE_SIZE)
        if a.state != "resolved"
    ]
    rules = db.execute(
        select(AlertRule.id, AlertRule.name)
        .where(AlertRule.service == service.name)
        .order_by(AlertRule.name)
    ).all()
    return {
        "alerts": open_alerts,
        "rules": [{"id": rule_id, "name": name} for rule_id, name in rules],
        "oncall": schedules_for_service(db, service, utcnow()),
        "state_pill": STATE_PILL,
    }


@router.get("/alerts")
def alerts_page(
    request: Request,
    state: str = "",
    service: str = "",
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    chosen = state if state in STATES else None
    alerts = list_alerts(db, chosen, service or None, PAGE_SIZE)
    now = utcnow()
    silences = [
        silence_view(s, now)
        for s in db.scalars(select(Silence).where(Silence.ends_at > now).order_by(Silence.id))
    ]
    context: dict[str, Any] = {
        "nav": "alerts",
        "alerts": [alert_view(alert) for alert in alerts],
        "filters": {"state": chosen or "", "service": service},
        "states": STATES,
        "state_pill": STATE_PILL,
        "silences": silences,
    }
    return page(request, "alerts/list.html", context)


@router.get("/alerts/{alert_id}")
def alert_page(
    alert_id: int,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    try:
        alert = get_alert(db, alert_id)
    except AlertRefused as error:
        raise HTTPException(error.status, str(error)) from None
    context = {
        "nav": "alerts",
        "alert": alert_detail(db, alert),
        "band": last_verdict(db, alert.rule_id, alert.labels),
        "links": alert_links("", alert),
        "state_pill": STATE_PILL,
        "may_act": principal.has(Scope.DEPLOY),
    }
    return page(request, "alerts/detail.html", context)


@router.post("/alerts/{alert_id}/ack")
def acknowledge_from_page(
    alert_id: int,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Acknowledging an alert")
    try:
        acknowledge(db, alert_id, principal.user.name, utcnow())
    except AlertRefused as error:
        return redirect(f"/alerts/{alert_id}", str(error), "error")
    record(db, request, principal, "alert.ack", str(alert_id))
    db.commit()
    return redirect(f"/alerts/{alert_id}", "acknowledged: you are on it")


@router.post("/alerts/{alert_id}/resolve")
def resolve_from_page(
    alert_id: int,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Resolving an alert")
    try:
        resolve_by_hand(db, alert_id, principal.user.name, utcnow())
    except AlertRefused as error:
        return redirect(f"/alerts/{alert_id}", str(error), "error")
    record(db, request, principal, "alert.resolve", str(alert_id))
    db.commit()
    return redirect(f"/alerts/{alert_id}", "resolved")


def _login_instead(alert_id: str) -> Response:
    """No valid token (expired, wrong, another alert's): acknowledging needs logging in, and
    the login page says why it is shown instead of the confirmation."""
    return redirect(
        f"/login?next={quote(f'/alerts/{alert_id}')}",
        "That acknowledge link has expired or is not valid: log in to acknowledge the alert.",
        "warning",
    )


@router.get("/alerts/{alert_id}/ack-link")
def ack_link_page(
    alert_id: str, request: Request, token: str = "", db: Session = Depends(get_db)
) -> Response:
    """The page an acknowledge link in a notification opens: it asks to confirm (a GET
    changes nothing, so mail scanners following links acknowledge nothing)."""
    if not alert_id.isdigit():
        return _login_instead(alert_id)
    receiver = redeem(db, int(alert_id), token, utcnow())
    alert = db.get(Alert, int(alert_id))
    if receiver is None or alert is None:
        return _login_instead(alert_id)
    context = {"alert": alert_view(alert), "token": token, "receiver": receiver}
    return page(request, "alerts/ack_link.html", context)


@router.post("/alerts/{alert_id}/ack-link")
async def ack_by_link(alert_id: str, request: Request, db: Session = Depends(get_db)) -> Response:
    form = await request.form()
    token = form.get("token")
    if not alert_id.isdigit() or not isinstance(token, str):
        return _login_instead(alert_id)
    receiver = redeem(db, int(alert_id), token, utcnow())
    if receiver is None:
        return _login_instead(alert_id)
    actor = f"link from {receiver}"
    try:
        acknowledge(db, int(alert_id), actor, utcnow())
    except AlertRefused as error:
        return render_error(request, error.status, str(error))
    record(db, request, actor, "alert.ack", alert_id, via="link")
    db.commit()
    alert = db.get_one(Alert, int(alert_id))
    return page(request, "alerts/ack_link.html", {"alert": alert_view(alert), "done": True})

"""/rules/{id}: one alert rule, its recent alerts, and editing it (people with `deploy`), each
problem shown next to its field. A rule from a rule file can be edited; the page says that the
file's next apply replaces the edit. /rules/apply: a rule file pasted or uploaded, checked or
applied the way `fullcycle rules check|apply` do."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.models import Alert, AlertRule
from fullcycle.alerting.records import alert_view
from fullcycle.alerting.rules.editing import edit_rule, rule_fields
from fullcycle.alerting.rules.file import RuleFileError, parse_rule_file
from fullcycle.alerting.rules.store import apply_rule_file, rule_view
from fullcycle.anomaly.detector import MetricKind, Sensitivity
from fullcycle.audit.log import record
from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.web.pages.access import require_deploy
from fullcycle.web.pages.flash import page, redirect

router = APIRouter()
RECENT_ALERTS = 20
STATE_PILL = {"firing": "pill-bad", "pending": "pill-warn", "resolved": "pill-good"}
FIELDS_BY_KIND = {
    "metric": ("expr",),
    "log": ("query", "window", "threshold", "op"),
    "absence": ("expr", "query", "window"),
    "anomaly": ("expr", "metric_kind", "sensitivity", "direction", "step", "history"),
}
CHOICES = {
    "op": [">", ">=", "<", "<=", "==", "!="],
    "metric_kind": [kind.value for kind in MetricKind],
    "sensitivity": [level.value for level in Sensitivity],
    "direction": ["both", "above", "below"],
}
MAPPINGS = ("labels", "annotations")


def _rule(db: Session, rule_id: int) -> AlertRule:
    rule = db.get(AlertRule, rule_id)
    if rule is None:
        raise HTTPException(404, f"there is no rule {rule_id}")
    return rule


def form_values(rule: AlertRule) -> dict[str, str]:
    """The rule's fields as the form shows them; labels and annotations as YAML lines."""
    fields = rule_fields(rule)
    values = {name: str(value) for name, value in fields.items() if name not in MAPPINGS}
    for name in MAPPINGS:
        values[name] = "\n".join(_yaml_line(key, value) for key, value in fields[name].items())
    return values


def _yaml_line(key: str, value: str) -> str:
    """`key: value`, the value quoted when YAML would read it otherwise (`{{ $value }}`)."""
    line = f"{key}: {value}"
    try:
        if YAML(typ="safe").load(line) == {key: value}:
            return line
    except YAMLError:
        pass
    return f"{key}: {json.dumps(value)}"


def submitted_fields(
    rule: AlertRule, form: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The rule-file fields the form gives (empty ones left to their defaults), and the
    problems of fields that are not even mappings."""
    names = ("alert", "for", "interval", *FIELDS_BY_KIND[rule.kind])
    fields: dict[str, Any] = {"kind": rule.kind}
    fields |= {name: form[name] for name in names if form.get(name, "").strip()}
    errors = {}
    for name in MAPPINGS:
        try:
            mapping = YAML(typ="safe").load(form.get(name, "")) or {}
        except YAMLError:
            mapping = None
        if not isinstance(mapping, dict):
            errors[name] = "one `name: value` per line"
            continue
        fields[name] = mapping
    return fields, errors


def _rule_page(
    request: Request,
    db: Session,
    rule: AlertRule,
    principal: Principal,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    alerts = db.scalars(
        select(Alert).where(Alert.rule_id == rule.id).order_by(Alert.id.desc()).limit(RECENT_ALERTS)
    )
    context = {
        "nav": "alerts",
        "rule": rule_view(rule),
        "values": values or form_values(rule),
        "errors": errors or {},
        "fields": FIELDS_BY_KIND[rule.kind],
        "choices": CHOICES,
        "alerts": [alert_view(alert) for alert in alerts],
        "state_pill": STATE_PILL,
        "may_edit": principal.has(Scope.DEPLOY),
    }
    return page(request, "rules/detail.html", context, 422 if errors else 200)


@router.get("/rules/apply")
def apply_form(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    require_deploy(principal, "Applying a rule file")
    return page(request, "rules/apply.html", {"nav": "alerts", "name": "ui", "text": ""})


@router.post("/rules/apply")
async def apply_submitted(
    request: Request,
    file: UploadFile | None = File(None),
    text: str = Form(""),
    name: str = Form("ui"),
    mode: str = Form("check"),
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    """Check (nothing changes) or apply a rule file under `name`: applying again under the same
    name makes that file's rules what it says, as `PUT /api/v1/rules` does."""
    require_deploy(principal, "Applying a rule file")
    if file is not None and file.filename:
        text = (await file.read()).decode("utf-8", errors="replace")
    name = name.strip() or "ui"
    context: dict[str, Any] = {"nav": "alerts", "name": name, "text": text, "mode": mode}
    if not text.strip():
        context["problems"] = [
            "Choose a file or paste a rule file first: there is nothing to apply."
        ]
        return page(request, "rules/apply.html", context, 422)
    try:
        spec = parse_rule_file(text)
        applied = apply_rule_file(db, spec, name) if mode == "apply" else None
    except RuleFileError as error:
        db.rollback()
        context["problems"] = [str(problem) for problem in error.problems]
        return page(request, "rules/apply.html", context, 422)
    if applied is None:
        context["checked"] = [
            f"{group.service_of(rule)}/{rule.alert}"
            for group in spec.groups
            for rule in group.rules
        ]
        return page(request, "rules/apply.html", context)
    result = {"created": applied.created, "updated": applied.updated, "removed": applied.removed}
    record(db, request, principal, "rules.apply", name, **result)
    db.commit()
    return page(request, "rules/apply.html", context | {"applied": result})


@router.get("/rules/{rule_id}")
def rule_page(
    rule_id: int,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    return _rule_page(request, db, _rule(db, rule_id), principal)


@router.post("/rules/{rule_id}")
async def save_rule(
    rule_id: int,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Editing an alert rule")
    rule = _rule(db, rule_id)
    form = {name: str(value) for name, value in (await request.form()).items()}
    fields, errors = submitted_fields(rule, form)
    try:
        edit_rule(db, rule, fields)
    except RuleFileError as error:
        for problem in error.problems:
            errors.setdefault(_form_field(problem.field), problem.message)
    if errors:
        db.rollback()
        return _rule_page(request, db, rule, principal, form, errors)
    record(db, request, principal, "rule.edit", str(rule_id), service=rule.service, name=rule.name)
    db.commit()
    return redirect(f"/rules/{rule_id}", f"rule {rule.name} saved")


@router.post("/rules/{rule_id}/delete")
def delete_rule_from_page(
    rule_id: int,
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    require_deploy(principal, "Deleting an alert rule")
    rule = _rule(db, rule_id)
    service, name = rule.service, rule.name
    record(db, request, principal, "rule.delete", str(rule_id), service=service, name=name)
    db.delete(rule)
    db.commit()
    return redirect(f"/services/{service}", f"rule {name} deleted")


def _form_field(field: str) -> str:
    """The form field a problem belongs to (`annotations.summary` -> `annotations`)."""
    name = field.split(".", 1)[0].split("[", 1)[0]
    return name or "form"

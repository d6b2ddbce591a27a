"""One rule through the API: `GET`, `PUT` (edit) and `DELETE /api/v1/rules/{id}`. Reading needs
`read`, changing needs `deploy` (as applying a rule file does); every change is audited. A rule
from a rule file can be edited and deleted here; the next apply of that file wins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from fullcycle.alerting.models import AlertRule
from fullcycle.alerting.rules.editing import edit_rule, rule_fields
from fullcycle.alerting.rules.file import RuleFileError
from fullcycle.alerting.rules.store import rule_view
from fullcycle.audit.log import record
from fullcycle.auth.dependencies import RequireDeploy, RequireRead, get_db
from fullcycle.auth.principal import Principal

router = APIRouter(prefix="/api/v1/rules", tags=["alerting"])


def stored_rule(db: Session, rule_id: int) -> AlertRule:
    rule = db.get(AlertRule, rule_id)
    if rule is None:
        raise HTTPException(404, f"there is no rule {rule_id}")
    return rule


def rule_detail(rule: AlertRule) -> dict[str, Any]:
    """The rule's view, with `rule`: the rule as a rule file writes it (what PUT takes)."""
    return {**rule_view(rule), "rule": rule_fields(rule)}


@router.get("/{rule_id}", dependencies=[RequireRead])
def show_rule(rule_id: int, db: Session = Depends(get_db)) -> dict[str, Any]:
    return rule_detail(stored_rule(db, rule_id))


@router.put("/{rule_id}")
def update_rule(
    rule_id: int,
    request: Request,
    fields: dict[str, Any] = Body(...),
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> Any:
    """Edit the rule: the body is the rule as in a rule file (`alert`, `expr`, `for`, `labels`,
    `annotations`, …) and its `interval`. 422 names the field of every problem."""
    rule = stored_rule(db, rule_id)
    try:
        edit_rule(db, rule, fields)
    except RuleFileError as error:
        db.rollback()
        problems = [problem.as_dict() for problem in error.problems]
        return JSONResponse({"detail": str(error), "problems": problems}, status_code=422)
    record(db, request, principal, "rule.edit", str(rule_id), service=rule.service, name=rule.name)
    db.commit()
    return rule_detail(rule)


@router.delete("/{rule_id}", status_code=204)
def delete_rule(
    rule_id: int,
    request: Request,
    principal: Principal = RequireDeploy,
    db: Session = Depends(get_db),
) -> None:
    """Delete the rule with its alerts (a rule file that has it brings it back when applied)."""
    rule = stored_rule(db, rule_id)
    what = {"service": rule.service, "name": rule.name}
    record(db, request, principal, "rule.delete", str(rule_id), **what)
    db.delete(rule)
    db.commit()

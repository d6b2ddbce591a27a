"""Editing one stored rule (API `PUT /api/v1/rules/{id}`, the rule's page).

A rule is edited in the form a rule file gives it (`alert`, `expr`, `for: 5m`, `labels`, …)
plus its group's `interval`, and validated by the same models, so a problem names the field.
A rule that came from a file may be edited too: the edit holds until that file is applied
again, which makes the rule what the file says (the file wins; the rule's page says so).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.models import AlertRule
from fullcycle.alerting.rules.file import Problem, RuleFileError
from fullcycle.alerting.rules.spec import ANOMALY_FIELDS, GroupSpec, format_duration
from fullcycle.alerting.rules.store import fill_rule

RULE_LOCATION = ("rules", 0)


def rule_fields(rule: AlertRule) -> dict[str, Any]:
    """The rule as a rule file would write it (what `PUT` takes back), with its `interval`."""
    definition = rule.definition
    fields: dict[str, Any] = {"alert": rule.name, "kind": rule.kind}
    if rule.kind in ("metric", "anomaly") or definition.get("expr"):
        fields["expr"] = definition["expr"]
    if rule.kind in ("log", "absence") and definition.get("query"):
        fields["query"] = definition["query"]
    if rule.kind in ("log", "absence"):
        fields["window"] = format_duration(definition["window"])
    if rule.kind == "log":
        fields |= {"threshold": definition["threshold"], "op": definition["op"]}
    if rule.kind == "anomaly":
        fields |= {name: definition[name] for name in ANOMALY_FIELDS}
        fields |= {name: format_duration(definition[name]) for name in ("step", "history")}
    fields["for"] = format_duration(rule.for_seconds)
    if definition.get("keep_firing_for"):
        fields["keep_firing_for"] = format_duration(definition["keep_firing_for"])
    fields |= {"labels": dict(rule.labels), "annotations": dict(rule.annotations)}
    fields["interval"] = format_duration(rule.interval_seconds)
    return fields


def edit_rule(db: Session, rule: AlertRule, fields: dict[str, Any]) -> None:
    """Make the rule what `fields` say; RuleFileError names each problem's field and changes
    nothing. The service stays the rule's."""
    fields = dict(fields)
    interval = fields.pop("interval", rule.interval_seconds)
    service = fields.pop("service", rule.service)
    if service != rule.service:
        problem = f"a rule stays with its service ({rule.service!r}); move it in its rule file"
        raise RuleFileError([Problem(None, "service", problem)])
    try:
        group = GroupSpec.model_validate(
            {
                "name": rule.group_name or "api",
                "interval": interval,
                "service": rule.service,
                "rules": [fields],
            }
        )
    except ValidationError as invalid:
        raise RuleFileError([_problem(item) for item in invalid.errors()]) from None
    (spec,) = group.rules
    if spec.alert != rule.name:
        taken = db.scalar(
            select(AlertRule.id).where(
                AlertRule.service == rule.service, AlertRule.name == spec.alert
            )
        )
        if taken is not None:
            message = f"service {rule.service!r} already has a rule {spec.alert!r}"
            raise RuleFileError([Problem(None, "alert", message)])
        rule.name = spec.alert
    fill_rule(db, rule, group, spec)


def _problem(item: Any) -> Problem:
    location = list(item["loc"])
    if tuple(location[:2]) == RULE_LOCATION:
        location = location[2:]
    field = ".".join(str(part) for part in location)
    message = str(item["msg"]).removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        message = "unknown field"
    return Problem(None, "for" if field == "for_" else field, message)

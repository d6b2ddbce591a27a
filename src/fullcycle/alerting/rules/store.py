"""Storing rules: applying a rule file (create, update, and remove the rules the same file no
longer has) and the rule's API view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fullcycle.alerting.models import AlertRule
from fullcycle.alerting.rules.file import Problem, RuleFileError
from fullcycle.alerting.rules.spec import GroupSpec, RuleFileSpec, RuleSpec
from fullcycle.anomaly.models import AnomalyDetectorState
from fullcycle.catalog.models import Service
from fullcycle.store.database import utcnow


@dataclass(frozen=True)
class Applied:
    created: list[str]
    updated: list[str]
    removed: list[str]


def apply_rule_file(db: Session, spec: RuleFileSpec, source: str) -> Applied:
    """Make the stored rules of `source` what the file says. A rule of the same service and
    name from another source is refused: a rule has one home."""
    _require_services(db, spec)
    existing = {
        (rule.service, rule.name): rule
        for rule in db.scalars(select(AlertRule).where(AlertRule.source == source))
    }
    created: list[str] = []
    updated: list[str] = []
    seen: set[tuple[str, str]] = set()
    for group_index, group in enumerate(spec.groups):
        for rule_index, spec_rule in enumerate(group.rules):
            key = (group.service_of(spec_rule), spec_rule.alert)
            seen.add(key)
            stored = existing.get(key)
            if stored is None:
                _refuse_taken_name(db, key, source, f"groups[{group_index}].rules[{rule_index}]")
                stored = AlertRule(service=key[0], name=spec_rule.alert, source=source)
                db.add(stored)
                created.append(f"{key[0]}/{spec_rule.alert}")
            else:
                updated.append(f"{key[0]}/{spec_rule.alert}")
            fill_rule(db, stored, group, spec_rule)
    removed = []
    for key, stale in existing.items():
        if key not in seen:
            db.delete(stale)
            removed.append(f"{key[0]}/{key[1]}")
    db.flush()
    return Applied(created, updated, removed)


def _refuse_taken_name(db: Session, key: tuple[str, str], source: str, where: str) -> None:
    other = db.scalar(
        select(AlertRule).where(AlertRule.service == key[0], AlertRule.name == key[1])
    )
    if other is not None and other.source != source:
        home = other.source or "the API"
        message = f"service {key[0]!r} already has a rule {key[1]!r} (from {home})"
        raise RuleFileError([Problem(None, f"{where}.alert", message)])


def _require_services(db: Session, spec: RuleFileSpec) -> None:
    wanted = {group.service_of(rule) for group in spec.groups for rule in group.rules}
    known = set(db.scalars(select(Service.name).where(Service.name.in_(wanted))))
    problems = [
        Problem(None, f"groups[{gi}].rules[{ri}]", f"no service {group.service_of(rule)!r}")
        for gi, group in enumerate(spec.groups)
        for ri, rule in enumerate(group.rules)
        if group.service_of(rule) not in known
    ]
    if problems:
        raise RuleFileError(problems)


def fill_rule(db: Session, stored: AlertRule, group: GroupSpec, rule: RuleSpec) -> None:
    """Make the stored rule what the spec says. When what an anomaly rule watches changes,
    its detectors start learning again."""
    before = (stored.kind, stored.definition)
    stored.group_name = group.name
    stored.kind = rule.kind
    stored.definition = {
        "expr": rule.expr,
        "query": rule.query,
        "window": rule.window,
        "threshold": rule.threshold,
        "op": rule.op,
        "keep_firing_for": rule.keep_firing_for,
    }
    if rule.kind == "anomaly":
        stored.definition |= {
            "metric_kind": rule.metric_kind.value,
            "sensitivity": rule.sensitivity.value,
            "direction": rule.direction,
            "step": rule.step or group.interval,
            "history": rule.history,
        }
    stored.interval_seconds = group.interval
    stored.for_seconds = rule.for_
    stored.severity = rule.severity
    stored.labels = dict(rule.labels)
    stored.annotations = dict(rule.annotations)
    stored.next_eval_at = utcnow()
    if stored.id is not None and before != (stored.kind, stored.definition):
        db.execute(delete(AnomalyDetectorState).where(AnomalyDetectorState.rule_id == stored.id))


def rule_view(rule: AlertRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "service": rule.service,
        "name": rule.name,
        "group": rule.group_name,
        "source": rule.source,
        "kind": rule.kind,
        **rule.definition,
        "interval_seconds": rule.interval_seconds,
        "for_seconds": rule.for_seconds,
        "severity": rule.severity,
        "labels": rule.labels,
        "annotations": rule.annotations,
        "last_eval_at": rule.last_eval_at.isoformat() if rule.last_eval_at else None,
        "last_error": rule.last_error,
    }

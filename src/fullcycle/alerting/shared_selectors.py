"""Evaluating many threshold rules on the same metric with one query.

Most metric rules compare one series selector with a number: `queue_depth{shard="7"} > 100`.
Evaluated alone, each costs a query of the telemetry store. Rules of that shape that watch the
same metric are evaluated together: the engine evaluates the metric's selector once, with the
equality matchers all of them share, and each rule keeps the series its own matchers select
whose value passes its comparison. An instant selector's value for a series does not depend on
which other series it selects, so each rule gets exactly what evaluating it alone would give.

Only rules whose matchers are equalities and inequalities are batched (regular expressions are
left to the engine, so that their dialect stays the engine's), and only where at least
MIN_BATCH rules share a metric.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import promql_parser

from fullcycle.alerting.evaluation import COMPARISONS, Active
from fullcycle.deploy.metric_queries import MetricQueries

MIN_BATCH = 2
METRIC_NAME = "__name__"
_OPERATORS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!="}


@dataclass(frozen=True)
class ThresholdRule:
    """`metric{matchers} <comparison> threshold`."""

    metric: str
    matchers: frozenset[tuple[str, str, str]]  # (label, "=" or "!=", value)
    comparison: str
    threshold: float

    def selects(self, labels: dict[str, str]) -> bool:
        for name, operator, value in self.matchers:
            if (labels.get(name, "") == value) != (operator == "="):
                return False
        return True


def threshold_rule(expr: str) -> ThresholdRule | None:
    """The rule as a threshold on one selector, or None when it has another shape."""
    try:
        node = promql_parser.parse(expr)
    except ValueError:
        return None
    if not isinstance(node, promql_parser.BinaryExpr):
        return None
    comparison = str(node.op)
    if comparison not in COMPARISONS or node.modifier is not None:
        return None
    selector, number = node.lhs, node.rhs
    if not isinstance(selector, promql_parser.VectorSelector) or not isinstance(
        number, promql_parser.NumberLiteral
    ):
        return None
    if selector.offset is not None or selector.at is not None or selector.matchers.or_matchers:
        return None
    matchers = set()
    metric = selector.name or ""
    for matcher in selector.matchers.matchers:
        operator = _OPERATORS.get(str(matcher.op))
        if operator is None:
            return None
        if matcher.name == METRIC_NAME and operator == "=" and not metric:
            metric = matcher.value
        else:
            matchers.add((matcher.name, operator, matcher.value))
    if not metric:
        return None
    return ThresholdRule(metric, frozenset(matchers), comparison, float(number.val))


def evaluate_together(
    rules: dict[int, ThresholdRule], at: datetime, metrics: MetricQueries
) -> dict[int, tuple[list[Active], str]]:
    """(active label sets, error) of each rule (by id) evaluated in a batch; the error is the
    one that stopped its batch. Rules not batched (alone on their metric) are not in it."""
    by_metric: dict[str, list[int]] = defaultdict(list)
    for rule_id, rule in rules.items():
        by_metric[rule.metric].append(rule_id)
    outcomes: dict[int, tuple[list[Active], str]] = {}
    for metric, ids in by_metric.items():
        if len(ids) < MIN_BATCH:
            continue
        batch = [rules[rule_id] for rule_id in ids]
        try:
            found = metrics.instant(_shared_selector(metric, batch), at)
        except ValueError as error:
            outcomes.update(dict.fromkeys(ids, ([], str(error))))
            continue
        index = SeriesIndex([(s.labels, s.points[-1][1]) for s in found if s.points])
        for rule_id, rule in zip(ids, batch, strict=True):
            outcomes[rule_id] = (_actives(rule, index.candidates(rule)), "")
    return outcomes


class SeriesIndex:
    """The series of a batch, looked up by one label's value (built per label on first use),
    so that a thousand rules over a thousand series do not compare every pair."""

    def __init__(self, series: list[tuple[dict[str, str], float]]) -> None:
        self.series = series
        self._by_label: dict[str, dict[str, list[tuple[dict[str, str], float]]]] = {}

    def candidates(self, rule: ThresholdRule) -> list[tuple[dict[str, str], float]]:
        """The series that can match the rule: those with its first equality's value."""
        equalities = sorted((n, v) for n, op, v in rule.matchers if op == "=")
        if not equalities:
            return self.series
        name, value = equalities[0]
        if name not in self._by_label:
            by_value: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
            for one in self.series:
                by_value[one[0].get(name, "")].append(one)
            self._by_label[name] = by_value
        return self._by_label[name].get(value, [])


def _shared_selector(metric: str, rules: Iterable[ThresholdRule]) -> str:
    """The metric with the equality matchers every rule of the batch has."""
    common = frozenset.intersection(*(rule.matchers for rule in rules))
    equalities = sorted((name, value) for name, operator, value in common if operator == "=")
    inside = ",".join(f"{name}={_quoted(value)}" for name, value in equalities)
    return f"{{{METRIC_NAME}={_quoted(metric)}{',' if inside else ''}{inside}}}"


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _actives(rule: ThresholdRule, series: list[tuple[dict[str, str], float]]) -> list[Active]:
    compare = COMPARISONS[rule.comparison]
    return [
        Active({k: v for k, v in labels.items() if k != METRIC_NAME}, value)
        for labels, value in series
        if rule.selects(labels) and compare(value, rule.threshold)
    ]

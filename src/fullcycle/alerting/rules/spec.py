"""What a rule says, validated. Rule files are Prometheus rule files (`groups: - name, interval,
rules: - alert, expr, for, labels, annotations`) with fullcycle's additions: the service a group
or rule belongs to, and the `log`, `absence` and `anomaly` kinds."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import promql_parser
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fullcycle.anomaly.detector import MetricKind, Sensitivity
from fullcycle.logs.query import LogQueryError, parse

DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
DURATION_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}
SERVICE_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SEVERITIES = ("critical", "warning", "info")
Comparison = Literal[">", ">=", "<", "<=", "==", "!="]
MAX_RULES_PER_FILE = 5000
MAX_ANOMALY_HISTORY_STEPS = 100_000
"""An anomaly rule learns from at most this many steps of history (14 days at 15 s)."""
DEFAULT_ANOMALY_HISTORY = 14 * 86400


def duration_seconds(text: str) -> int:
    """A Prometheus duration (`30s`, `5m`, `1h30m`) in whole seconds."""
    text = text.strip()
    position = 0
    total = 0.0
    for match in DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += int(match.group(1)) * DURATION_SECONDS[match.group(2)]
        position = match.end()
    if not text or position != len(text):
        raise ValueError(f"{text!r} is not a duration; expected e.g. 30s, 5m, 1h30m")
    return int(total)


def format_duration(seconds: int) -> str:
    """Whole seconds as a Prometheus duration (`90` -> `1m30s`, `0` -> `0s`)."""
    parts = []
    for suffix, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{suffix}")
            seconds %= size
    return "".join(parts) or "0s"


def _duration(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("expected a duration such as 30s, 5m, 1h")
    return value if isinstance(value, int) else duration_seconds(value)


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    alert: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_:][\w:.-]*$")]
    kind: Literal["metric", "log", "absence", "anomaly"] = "metric"
    service: Annotated[str | None, Field(pattern=SERVICE_NAME)] = None
    expr: str = ""
    query: str = ""
    window: int = 300
    threshold: float = 0.0
    op: Comparison = ">"
    for_: Annotated[int, Field(alias="for", ge=0)] = 0
    keep_firing_for: int = 0
    metric_kind: MetricKind = MetricKind.OPS
    sensitivity: Sensitivity = Sensitivity.MEDIUM
    direction: Literal["above", "below", "both"] = "both"
    step: Annotated[int, Field(ge=0)] = 0  # 0: the group's interval
    history: Annotated[int, Field(ge=0)] = DEFAULT_ANOMALY_HISTORY
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("window", "for_", "keep_firing_for", "step", "history", mode="before")
    @classmethod
    def durations(cls, value: object) -> int:
        return _duration(value)

    @field_validator("history")
    @classmethod
    def history_steps(cls, history: int, info: ValidationInfo) -> int:
        step = info.data.get("step") or 0
        if step and history // step > MAX_ANOMALY_HISTORY_STEPS:
            raise ValueError(
                f"{history // step:,} steps of `step`; at most "
                f"{MAX_ANOMALY_HISTORY_STEPS:,}: use a larger step or a shorter history"
            )
        return history

    @field_validator("labels", "annotations", mode="before")
    @classmethod
    def string_values(cls, value: object) -> object:
        if isinstance(value, dict):
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
        return value

    @field_validator("labels")
    @classmethod
    def label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for name in labels:
            if not LABEL_NAME.match(name):
                raise ValueError(f"{name!r} is not a label name")
        severity = labels.get("severity")
        if severity is not None and severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        return labels

    @field_validator("expr")
    @classmethod
    def promql(cls, expr: str) -> str:
        if expr:
            try:
                promql_parser.parse(expr)
            except ValueError as error:
                raise ValueError(f"not valid PromQL: {error}") from None
        return expr

    @field_validator("query")
    @classmethod
    def log_query(cls, query: str) -> str:
        if query:
            try:
                parse(query)
            except LogQueryError as error:
                raise ValueError(f"not a valid log query: {error}") from None
        return query

    @model_validator(mode="after")
    def what_is_watched(self) -> RuleSpec:
        if self.kind == "metric" and not self.expr:
            raise ValueError("a metric rule needs `expr`")
        if self.kind == "log" and not self.query:
            raise ValueError("a log rule needs `query`")
        if self.kind == "absence" and bool(self.expr) == bool(self.query):
            raise ValueError("an absence rule needs either `expr` (metrics) or `query` (logs)")
        if self.kind == "anomaly":
            self._check_anomaly_fields()
        elif set(ANOMALY_FIELDS) & self.model_fields_set:
            given = [name for name in ANOMALY_FIELDS if name in self.model_fields_set]
            fields = ", ".join(f"`{name}`" for name in given)
            raise ValueError(f"{fields}: only for `kind: anomaly` rules")
        if self.kind in ("log", "absence") and self.window <= 0:
            raise ValueError("`window` must be longer than 0s")
        return self

    def _check_anomaly_fields(self) -> None:
        if not self.expr:
            raise ValueError("an anomaly rule needs `expr`, the PromQL query it watches")
        if self.query:
            raise ValueError("an anomaly rule watches `expr`; `query` is for log rules")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "warning")


ANOMALY_FIELDS = ("metric_kind", "sensitivity", "direction", "step", "history")


class GroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    interval: int = 60
    service: Annotated[str | None, Field(pattern=SERVICE_NAME)] = None
    rules: list[RuleSpec] = Field(default_factory=list)

    @field_validator("interval", mode="before")
    @classmethod
    def interval_duration(cls, value: object) -> int:
        seconds = _duration(value)
        if seconds < 1:
            raise ValueError("the interval must be at least 1s")
        return seconds

    @model_validator(mode="after")
    def each_rule_has_a_service(self) -> GroupSpec:
        for rule in self.rules:
            if not (rule.service or self.service or rule.labels.get("service")):
                raise ValueError(
                    f"rule {rule.alert!r} belongs to no service: set `service` on the group "
                    "or the rule, or a `service` label"
                )
        for rule in self.rules:
            if rule.kind == "anomaly" and not rule.step:
                steps = rule.history // self.interval
                if steps > MAX_ANOMALY_HISTORY_STEPS:
                    raise ValueError(
                        f"rule {rule.alert!r}: `history` is {steps:,} steps of the group's "
                        f"interval; at most {MAX_ANOMALY_HISTORY_STEPS:,}: set a larger `step`"
                    )
        names = [rule.alert for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"alert names repeat within the group: {', '.join(duplicates)}")
        return self

    def service_of(self, rule: RuleSpec) -> str:
        return rule.service or self.service or rule.labels["service"]


class RuleFileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    groups: list[GroupSpec] = Field(default_factory=list, max_length=MAX_RULES_PER_FILE)

    @model_validator(mode="after")
    def unique_group_names(self) -> RuleFileSpec:
        names = [group.name for group in self.groups]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"group names repeat: {', '.join(duplicates)}")
        return self

"""Dashboards as code: the YAML format, read and checked.

```yaml
name: checkout-overview          # lower case, digits and dashes; the dashboard's address
title: Checkout overview
variables:                       # $service and $env in queries; defaults, changed in the URL
  service: checkout
  env: production
rows:
  - title: Traffic
    panels:
      - title: Requests per second
        type: timeseries         # timeseries | stat | table | logs | kpi
        unit: reqps              # reqps | percent | seconds | bytes | cores | count | currency
        thresholds: [{value: 100, color: red}]
        queries:
          - expr: sum(rate(http_requests_total{job="$service"}[5m]))
            legend: "{{code}}"
```

A `kpi` panel shows its query's value now next to the same time a week earlier. A timeseries
panel with `band: {kind: money, sensitivity: medium}` also draws the expected band of its first
query (docs/anomaly.md; kind says whether a step without data is a zero or unknown). A `logs` panel
holds a log query (the logs page runs it). Errors name the place: `rows[0].panels[1].type: ...`.
"""

from __future__ import annotations

import re
from io import StringIO
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fullcycle.metrics.engine import PromQLError, check_syntax

NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
VARIABLE = re.compile(r"\$([a-zA-Z_][a-zA-Z0-9_]*)")
PanelType = Literal["timeseries", "stat", "table", "logs", "kpi"]
Unit = Literal["reqps", "percent", "seconds", "bytes", "cores", "count", "currency", ""]


class DashboardError(ValueError):
    """A dashboard source that cannot be used; the message names where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Threshold(_Strict):
    value: float
    color: Annotated[str, StringConstraints(pattern=r"^(#[0-9a-fA-F]{3,8}|[a-z]{3,20})$")] = "red"


class Query(_Strict):
    expr: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    legend: Annotated[str, StringConstraints(max_length=200)] = ""


class BandSpec(_Strict):
    """The expected band of the panel's first query, learnt by the anomaly detector."""

    kind: Literal["money", "count", "ratio", "ops"] = "ops"
    sensitivity: Literal["low", "medium", "high"] = "medium"


class PanelSpec(_Strict):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    type: PanelType = "timeseries"
    unit: Unit = ""
    thresholds: list[Threshold] = Field(default_factory=list, max_length=10)
    queries: list[Query] = Field(min_length=1, max_length=10)
    band: BandSpec | None = None


class RowSpec(_Strict):
    title: Annotated[str, StringConstraints(max_length=200)] = ""
    panels: list[PanelSpec] = Field(min_length=1, max_length=24)


class DashboardSpec(_Strict):
    name: Annotated[str, StringConstraints(pattern=NAME)]
    title: Annotated[str, StringConstraints(max_length=200)] = ""
    variables: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")],
        Annotated[str, StringConstraints(max_length=200)],
    ] = Field(default_factory=dict, max_length=20)
    rows: list[RowSpec] = Field(min_length=1, max_length=20)


def _place(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "dashboard"


def parse_dashboard(source: str) -> DashboardSpec:
    """The dashboard a YAML source describes; DashboardError naming the first problems."""
    try:
        data: Any = YAML(typ="safe").load(StringIO(source))
    except YAMLError as error:
        raise DashboardError(f"not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise DashboardError("a dashboard is a YAML mapping with name, title, variables and rows")
    try:
        spec = DashboardSpec.model_validate(data)
    except ValidationError as error:
        problems = [f"{_place(tuple(item['loc']))}: {item['msg']}" for item in error.errors()[:5]]
        raise DashboardError("; ".join(problems)) from None
    _check_queries(spec)
    return spec


def _check_queries(spec: DashboardSpec) -> None:
    """PromQL that does not parse is refused when the dashboard is saved, not when viewed."""
    for row_index, row in enumerate(spec.rows):
        for panel_index, panel in enumerate(row.panels):
            if panel.type == "logs":
                continue
            for query_index, query in enumerate(panel.queries):
                place = f"rows[{row_index}].panels[{panel_index}].queries[{query_index}].expr"
                try:
                    check_syntax(substitute(query.expr, spec.variables))
                except PromQLError as error:
                    raise DashboardError(f"{place}: {error}") from None


def _promql_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def substitute(expr: str, variables: dict[str, str]) -> str:
    """`$name` replaced by the variable's value, escaped for use inside a quoted string
    (`job="$service"`); unknown variables are left as they are."""
    return VARIABLE.sub(
        lambda match: (
            _promql_escaped(variables[match.group(1)])
            if match.group(1) in variables
            else match.group(0)
        ),
        expr,
    )

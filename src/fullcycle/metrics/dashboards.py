"""Dashboards as code: saving, listing and deleting them in the control plane, and evaluating
one for a time window. Like the catalog's service layer, writes flush but never commit: the
route commits together with its audit event."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.anomaly.band import BandRequest, band
from fullcycle.anomaly.detector import MetricKind, Sensitivity
from fullcycle.metrics.dashboard_spec import (
    BandSpec,
    DashboardError,
    DashboardSpec,
    parse_dashboard,
    substitute,
)
from fullcycle.metrics.models import Dashboard
from fullcycle.metrics.panel_data import (
    ChartPanel,
    TimeRange,
    latest_values,
    timeseries,
    week_over_week,
)
from fullcycle.metrics.service_dashboard import window_json
from fullcycle.telemetry.store import TelemetryStore


def list_dashboards(db: Session) -> list[Dashboard]:
    return list(db.scalars(select(Dashboard).order_by(Dashboard.name)))


def get_dashboard(db: Session, name: str) -> Dashboard | None:
    return db.scalar(select(Dashboard).where(Dashboard.name == name))


def apply_dashboard(db: Session, name: str, source: str, actor: str) -> tuple[Dashboard, bool]:
    """Create or replace the dashboard `name` from its YAML; returns it and whether it is new.
    DashboardError for a source that does not parse or names another dashboard."""
    spec = parse_dashboard(source)
    if spec.name != name:
        raise DashboardError(f"name: the YAML names {spec.name!r}, but it is saved as {name!r}")
    dashboard = get_dashboard(db, name)
    created = dashboard is None
    if dashboard is None:
        dashboard = Dashboard(name=name, source=source)
        db.add(dashboard)
    dashboard.title = spec.title
    dashboard.source = source
    dashboard.updated_by = actor
    db.flush()
    return dashboard, created


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    return {
        "name": dashboard.name,
        "title": dashboard.title,
        "updated_by": dashboard.updated_by,
        "updated_at": dashboard.updated_at.isoformat() if dashboard.updated_at else None,
        "yaml": dashboard.source,
    }


def _panels(
    store: TelemetryStore, spec: DashboardSpec, variables: dict[str, str], window: TimeRange
) -> list[ChartPanel]:
    panels = []
    for row in spec.rows:
        for panel in row.panels:
            exprs = [substitute(query.expr, variables) for query in panel.queries]
            chart = ChartPanel(
                panel.title,
                panel.unit,
                exprs,
                type=panel.type,
                row=row.title,
                thresholds=[threshold.model_dump() for threshold in panel.thresholds],
            )
            if panel.type == "timeseries":
                if panel.band is not None:
                    chart.band = expected_band(store, exprs[0], panel.band, window)
                queries = [(e, q.legend) for e, q in zip(exprs, panel.queries, strict=True)]
                chart.series.extend(timeseries(store, queries, window))
            for expr, query in zip(exprs, panel.queries, strict=True):
                if panel.type in ("stat", "table"):
                    chart.values.extend(latest_values(store, expr, query.legend, window.end))
                elif panel.type == "kpi":
                    chart.values.extend(week_over_week(store, expr, query.legend, window.end))
            panels.append(chart)
    return panels


def expected_band(
    store: TelemetryStore, expr: str, spec: BandSpec, window: TimeRange
) -> dict[str, list[float | None]] | None:
    """expected / lower / upper / alert of the query's first series at the chart's timestamps,
    or None when the query returns no series."""
    request = BandRequest(
        expr,
        window.start,
        window.end,
        window.step,
        MetricKind(spec.kind),
        Sensitivity(spec.sensitivity),
    )
    bands = band(store, request)
    if not bands:
        return None
    by_time = {round(point.timestamp * 1000): point for point in bands[0].points}
    points = [by_time.get(round(moment * 1000)) for moment in window.timestamps]
    return {
        "expected": [point.expected if point else None for point in points],
        "lower": [point.lower if point else None for point in points],
        "upper": [point.upper if point else None for point in points],
        "alert": [float(point.alert) if point else None for point in points],
    }


def evaluate_dashboard(
    store: TelemetryStore,
    spec: DashboardSpec,
    overrides: dict[str, str],
    window: TimeRange,
) -> dict[str, Any]:
    """Every panel's data over the window, with the variables (defaults, then `overrides`);
    markers of `$service` when the dashboard has that variable."""
    variables = {**spec.variables, **overrides}
    return {
        **window_json(store, variables.get("service", ""), window),
        "name": spec.name,
        "title": spec.title,
        "variables": variables,
        "panels": [asdict(panel) for panel in _panels(store, spec, variables, window)],
    }

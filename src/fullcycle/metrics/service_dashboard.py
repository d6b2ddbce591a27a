"""The automatic dashboard of a service, built from the conventions its telemetry follows.

Each panel lists alternatives, one per convention: OpenTelemetry semantic conventions for HTTP
servers (`http.server.request.duration`, as stored from OTLP), the older OTel name
(`http.server.duration` in milliseconds), and Prometheus client library defaults
(`http_requests_total`, `http_request_duration_seconds`, `process_*`). The first alternative
that has data in the time range is shown; a panel without data is left out. A service's series
are those with `job="<service>"`, the label OTLP ingest (from `service.name`) and scraping set.
An alternative that reads only metrics the service has no series of is passed over without
querying it: one look-up in the series table tells which of the conventions' metrics the
service has (each empty alternative cost a read and a labels look-up; a service following one
convention has up to 13 such queries on its dashboard).

Log volume by level comes from the logs table, and the service's deploy/incident markers are
sent with the panels so that every chart can draw them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fullcycle.metrics.engine import selected_metrics
from fullcycle.metrics.panel_data import ChartPanel, ChartSeries, TimeRange, timeseries
from fullcycle.telemetry.dashboard_queries import (
    log_counts_by_level,
    markers_between,
    metrics_with_series,
)
from fullcycle.telemetry.store import TelemetryStore


@dataclass(frozen=True)
class PanelQuery:
    expr: str
    legend: str = ""  # "p95", or a template such as "{{code}}"


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str  # "reqps" | "percent" (a ratio 0..1) | "seconds" | "bytes" | "cores" | "count"
    alternatives: tuple[tuple[PanelQuery, ...], ...]


def promql_string(value: str) -> str:
    """`value` as a PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _latency(bucket: str, selector: str, scale: str = "") -> tuple[PanelQuery, ...]:
    return tuple(
        PanelQuery(
            f"histogram_quantile({q}, sum by (le) (rate({bucket}{{{selector}}}[5m]))){scale}",
            name,
        )
        for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))
    )


def _ratio(metric: str, selector: str, errors: str) -> tuple[PanelQuery, ...]:
    return (
        PanelQuery(
            f"sum(rate({metric}{{{selector},{errors}}}[5m]))"
            f" / sum(rate({metric}{{{selector}}}[5m]))",
            "errors",
        ),
    )


def service_panels(service: str) -> list[Panel]:
    job = f"job={promql_string(service)}"
    otel = "http_server_request_duration_seconds"
    otel_old = "http_server_duration_milliseconds"
    return [
        Panel(
            "Requests per second",
            "reqps",
            (
                (PanelQuery(f"sum(rate({otel}_count{{{job}}}[5m]))", "requests"),),
                (PanelQuery(f"sum(rate({otel_old}_count{{{job}}}[5m]))", "requests"),),
                (PanelQuery(f"sum(rate(http_requests_total{{{job}}}[5m]))", "requests"),),
            ),
        ),
        Panel(
            "Error ratio",
            "percent",
            (
                _ratio(f"{otel}_count", job, 'http_response_status_code=~"5.."'),
                _ratio(f"{otel_old}_count", job, 'http_status_code=~"5.."'),
                _ratio("http_requests_total", job, 'code=~"5.."'),
            ),
        ),
        Panel(
            "Latency",
            "seconds",
            (
                _latency(f"{otel}_bucket", job),
                _latency(f"{otel_old}_bucket", job, " / 1000"),
                _latency("http_request_duration_seconds_bucket", job),
            ),
        ),
        Panel(
            "CPU",
            "cores",
            (
                (PanelQuery(f"sum(rate(process_cpu_time_seconds_total{{{job}}}[5m]))", "cpu"),),
                (PanelQuery(f"sum(rate(process_cpu_seconds_total{{{job}}}[5m]))", "cpu"),),
                (PanelQuery(f"avg(system_cpu_utilization_ratio{{{job}}})", "cpu"),),
            ),
        ),
        Panel(
            "Memory",
            "bytes",
            (
                (PanelQuery(f"sum(process_memory_usage_bytes{{{job}}})", "memory"),),
                (PanelQuery(f"sum(process_resident_memory_bytes{{{job}}})", "memory"),),
                (PanelQuery(f"sum(system_memory_usage_bytes{{{job}}})", "memory"),),
            ),
        ),
        Panel(
            "Instances up",
            "count",
            (
                (PanelQuery(f"sum(up{{{job}}})", "up"),),
                (PanelQuery(f"count(count by (instance) ({{{job}}}))", "instances"),),
            ),
        ),
    ]


def _metrics(alternative: tuple[PanelQuery, ...]) -> set[str] | None:
    """The metrics an alternative's queries read (None: one of them reads unnamed series)."""
    names: set[str] = set()
    for query in alternative:
        selected = selected_metrics(query.expr)
        if selected is None:
            return None
        names |= selected
    return names


def _service_metrics(store: TelemetryStore, service: str, panels: list[Panel]) -> set[str]:
    """Which of the metrics the panels' alternatives name the service has series of."""
    named = (_metrics(alternative) for panel in panels for alternative in panel.alternatives)
    wanted = sorted(set().union(*(names for names in named if names is not None)))
    return metrics_with_series(store, wanted, service) if wanted else set()


def _evaluate_panel(
    store: TelemetryStore, panel: Panel, window: TimeRange, present: set[str]
) -> ChartPanel | None:
    """The first alternative with data; those whose metrics the service has no series of
    (`present` lists those it has) would have none and are not queried."""
    for alternative in panel.alternatives:
        names = _metrics(alternative)
        if names and not names & present:
            continue
        chart = ChartPanel(panel.title, panel.unit, [query.expr for query in alternative])
        queries = [(query.expr, query.legend) for query in alternative]
        chart.series.extend(timeseries(store, queries, window))
        if chart.series:
            return chart
    return None


def _log_volume(store: TelemetryStore, service: str, window: TimeRange) -> ChartPanel | None:
    timestamps = window.timestamps
    counts = log_counts_by_level(
        store,
        service,
        round(window.start.timestamp() * 1000),
        round(window.end.timestamp() * 1000),
        round(window.step.total_seconds() * 1000),
    )
    if not counts:
        return None
    chart = ChartPanel("Log volume by level", "count", [])
    for level, per_step in sorted(counts.items()):
        values: list[float | None] = [float(per_step.get(round(t * 1000), 0)) for t in timestamps]
        chart.series.append(ChartSeries(level, "", {"level": level}, values))
    return chart


def window_json(store: TelemetryStore, service: str, window: TimeRange) -> dict[str, Any]:
    """The window's times and the service's markers in it, as every dashboard answer has."""
    start_ms = round(window.start.timestamp() * 1000)
    end_ms = round(window.end.timestamp() * 1000)
    markers = markers_between(store, service, start_ms, end_ms) if service else []
    return {
        "service": service,
        "start": window.start.timestamp(),
        "end": window.end.timestamp(),
        "step": window.step.total_seconds(),
        "timestamps": window.timestamps,
        "markers": [asdict(marker) for marker in markers],
    }


def service_dashboard(store: TelemetryStore, service: str, window: TimeRange) -> dict[str, Any]:
    """The panels with data, their series aligned to common timestamps, and the markers."""
    panels = service_panels(service)
    present = _service_metrics(store, service, panels)
    charts = [_evaluate_panel(store, panel, window, present) for panel in panels]
    charts.append(_log_volume(store, service, window))
    return {
        **window_json(store, service, window),
        "panels": [asdict(chart) for chart in charts if chart is not None],
    }

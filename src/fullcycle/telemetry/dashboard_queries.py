"""The SQL behind dashboard panels that are not PromQL: deploy and incident markers of a
service, its log volume by level, and which metrics a service has at all
(`fullcycle.metrics.service_dashboard` uses them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fullcycle.telemetry.connection import DATABASE
from fullcycle.telemetry.store import TelemetryStore


@dataclass(frozen=True)
class Marker:
    timestamp_ms: int
    kind: str
    title: str
    reference: str
    attributes: dict[str, str]


def markers_between(
    store: TelemetryStore, service: str, start_ms: int, end_ms: int, limit: int = 500
) -> list[Marker]:
    """Deploys, rollbacks and incidents of `service` in [start_ms, end_ms], oldest first."""
    sql = f"""
        SELECT toUnixTimestamp64Milli(timestamp), kind, title, reference, attributes
        FROM {DATABASE}.markers
        WHERE service = {{service:String}}
          AND timestamp >= fromUnixTimestamp64Milli({{start:Int64}})
          AND timestamp <= fromUnixTimestamp64Milli({{end:Int64}})
        ORDER BY timestamp LIMIT {{limit:UInt32}}
    """  # noqa: S608 - only the database name is formatted in; values are bound
    rows = store.query(sql, {"service": service, "start": start_ms, "end": end_ms, "limit": limit})
    return [
        Marker(int(at), str(kind), str(title), str(reference), dict(attributes))
        for at, kind, title, reference, attributes in rows
    ]


def log_counts_by_level(
    store: TelemetryStore, service: str, start_ms: int, end_ms: int, step_ms: int
) -> dict[str, dict[int, int]]:
    """Log records of `service` per level (lower-case severity text, "unset" without one) and
    per step: the step at `t` counts the records in (t - step, t]."""
    sql = f"""
        SELECT if(severity_text = '', 'unset', lower(severity_text)) AS level,
               {{start:Int64}} + {{step:Int64}} * intDiv(
                   toUnixTimestamp64Milli(timestamp) - {{start:Int64}} + {{step:Int64}} - 1,
                   {{step:Int64}}) AS step_ms,
               count()
        FROM {DATABASE}.logs
        WHERE service = {{service:String}}
          AND timestamp > fromUnixTimestamp64Milli({{start:Int64}} - {{step:Int64}})
          AND timestamp <= fromUnixTimestamp64Milli({{end:Int64}})
        GROUP BY level, step_ms ORDER BY level, step_ms
    """  # noqa: S608 - only the database name is formatted in; values are bound
    rows = store.query(sql, {"service": service, "start": start_ms, "end": end_ms, "step": step_ms})
    counts: dict[str, dict[int, int]] = {}
    for level, at, count in rows:
        counts.setdefault(str(level), {})[int(at)] = int(count)
    return counts


def metrics_with_series(store: TelemetryStore, names: Sequence[str], job: str) -> set[str]:
    """Which of the metric `names` have a series labelled `job="<job>"` (from the `series`
    table: no sample is read)."""
    sql = f"""
        SELECT DISTINCT metric FROM {DATABASE}.series
        WHERE metric IN {{names:Array(String)}} AND labels['job'] = {{job:String}}
    """  # noqa: S608 - only the database name is formatted in; values are bound
    return {str(row[0]) for row in store.query(sql, {"names": list(names), "job": job})}

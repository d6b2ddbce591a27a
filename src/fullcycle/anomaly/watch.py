"""Detectors that watch the series of a PromQL query incrementally, for anomaly alert rules.

Every series the query returns gets its own `Detector`. Its state is kept in the control plane
(`AnomalyDetectorState`) with the time of the last point it was fed, so that each evaluation
reads only the steps after it (one range query at the rule's `step`) and a restart continues
where the detectors stopped instead of learning again. A series seen for the first time learns
once from `history` before it, from its first step with a value there (the steps before are
before the series existed, not zeros of a count). Steps are aligned to multiples of `step`
(unix time), and a step is read only once it is SETTLE_SECONDS old, so that samples still on
their way are not missed and taught as a drop for good.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.alerting.fingerprints import fingerprint
from fullcycle.anomaly.detector import Detector, MetricKind, Point, Sensitivity
from fullcycle.anomaly.models import AnomalyDetectorState
from fullcycle.deploy.metric_queries import MetricQueries
from fullcycle.metrics.engine import MAX_POINTS_PER_SERIES

SETTLE_SECONDS = 30
LabelKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class WatchRule:
    """What an anomaly rule watches and how (its definition's anomaly fields)."""

    expr: str
    kind: MetricKind
    sensitivity: Sensitivity
    direction: str  # above | below | both
    step: int  # seconds
    history: int  # seconds

    @classmethod
    def of(cls, definition: dict[str, object]) -> WatchRule:
        return cls(
            expr=str(definition["expr"]),
            kind=MetricKind(str(definition["metric_kind"])),
            sensitivity=Sensitivity(str(definition["sensitivity"])),
            direction=str(definition["direction"]),
            step=int(str(definition["step"])),
            history=int(str(definition["history"])),
        )

    def alerting(self, point: Point | None) -> bool:
        """The detector alerts on the point, in the rule's direction."""
        if point is None or not point.alert:
            return False
        return self.direction == "both" or point.direction == self.direction


@dataclass
class WatchedSeries:
    """One series' detector, the last step it was fed (0: none yet) and its verdict then."""

    labels: dict[str, str]
    detector: Detector
    last_timestamp: float = 0.0
    last_point: Point | None = None


class Watch:
    """The watched series of one rule: loaded from the control plane, advanced to a moment,
    saved back (in the transaction that records the rule's alerts)."""

    def __init__(self, rule: WatchRule, series: dict[str, WatchedSeries]) -> None:
        self.rule = rule
        self.series = series

    @classmethod
    def load(cls, db: Session, rule_id: int, rule: WatchRule) -> Watch:
        series = {}
        for row in db.scalars(
            select(AnomalyDetectorState).where(AnomalyDetectorState.rule_id == rule_id)
        ):
            detector = Detector.from_state(row.state.encode())
            last_point = Point(**row.last_point) if row.last_point else None
            series[row.fingerprint] = WatchedSeries(
                dict(row.labels), detector, row.last_timestamp, last_point
            )
        return cls(rule, series)

    def advance(self, at: datetime, metrics: MetricQueries) -> None:
        """Feed every series the steps up to `at` it has not seen; new series learn from
        `history` first."""
        step = self.rule.step
        end = math.floor((at.timestamp() - SETTLE_SECONDS) / step) * step
        earliest = end - math.floor(self.rule.history / step) * step
        known = [int(s.last_timestamp) for s in self.series.values() if s.last_timestamp]
        start = max(min(known) + step, earliest) if known else earliest
        if start <= end:
            values = self._read(metrics, start, end)
            new_labels = [labels for key, labels in values.labels.items() if key not in self.series]
            if new_labels and start > earliest:
                values.merge(self._read(metrics, earliest, start - step))
            for labels in new_labels:
                self.series[fingerprint(labels)] = WatchedSeries(
                    labels, Detector(self.rule.kind, self.rule.sensitivity)
                )
            for watched in self.series.values():
                series_values = values.of(watched.labels)
                if watched.last_timestamp:
                    first = int(watched.last_timestamp) + step
                else:
                    first = min(series_values, default=earliest)
                self._feed(watched, series_values, max(first, earliest), end)

    def alerting(self) -> list[WatchedSeries]:
        """The series whose detector alerts now, in the rule's direction."""
        return [s for s in self.series.values() if self.rule.alerting(s.last_point)]

    def save(self, db: Session, rule_id: int) -> None:
        rows = {
            row.fingerprint: row
            for row in db.scalars(
                select(AnomalyDetectorState).where(AnomalyDetectorState.rule_id == rule_id)
            )
        }
        for key, watched in self.series.items():
            row = rows.get(key)
            if row is None:
                row = AnomalyDetectorState(rule_id=rule_id, fingerprint=key)
                db.add(row)
            row.labels = watched.labels
            row.state = watched.detector.state().decode()
            row.last_timestamp = watched.last_timestamp
            row.last_point = _stored(watched.last_point)

    def _read(self, metrics: MetricQueries, start: int, end: int) -> SeriesValues:
        """The query's values at every step from `start` to `end`, in chunks the engine
        accepts."""
        values = SeriesValues()
        chunk = (MAX_POINTS_PER_SERIES - 1) * self.rule.step
        for chunk_start in range(start, end + 1, chunk):
            chunk_end = min(chunk_start + chunk - self.rule.step, end)
            found = metrics.range(
                self.rule.expr,
                _moment(chunk_start),
                _moment(chunk_end),
                timedelta(seconds=self.rule.step),
            )
            for series in found:
                values.add(_without_name(series.labels), series.points)
        return values

    def _feed(self, watched: WatchedSeries, values: dict[int, float], first: int, end: int) -> None:
        for moment in range(first, end + 1, self.rule.step):
            watched.last_point = watched.detector.update(moment, values.get(moment))
            watched.last_timestamp = moment


def last_verdict(db: Session, rule_id: int, alert_labels: dict[str, str]) -> dict[str, object]:
    """The detector's verdict on the last point of the series an alert of the rule is about
    (its value and band), or {} when the rule watches no such series."""
    for row in db.scalars(
        select(AnomalyDetectorState).where(AnomalyDetectorState.rule_id == rule_id)
    ):
        if all(alert_labels.get(name) == value for name, value in row.labels.items()):
            return {**row.last_point, "at": _moment(int(row.last_timestamp)).isoformat()}
    return {}


class SeriesValues:
    """Values by series and step (whole unix seconds)."""

    def __init__(self) -> None:
        self.labels: dict[str, dict[str, str]] = {}
        self._values: dict[str, dict[int, float]] = {}

    def add(self, labels: dict[str, str], points: Iterable[tuple[float, float]]) -> None:
        key = fingerprint(labels)
        self.labels[key] = labels
        self._values.setdefault(key, {}).update((round(t), v) for t, v in points)

    def merge(self, other: SeriesValues) -> None:
        for key, labels in other.labels.items():
            self.add(labels, other._values[key].items())

    def of(self, labels: dict[str, str]) -> dict[int, float]:
        return self._values.get(fingerprint(labels), {})


def _stored(point: Point | None) -> dict[str, object]:
    """The point for a JSON column: a non-finite number (an unbounded band) becomes null."""
    if point is None:
        return {}
    return {
        name: None if isinstance(value, float) and not math.isfinite(value) else value
        for name, value in point._asdict().items()
    }


def _without_name(labels: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in labels.items() if name != "__name__"}


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)

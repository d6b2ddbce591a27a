"""Anomaly detection for business and ops metrics: learn the rhythm, draw the band, score points.

`Detector` is an online model for one series (see docs/anomaly.md for how it works);
`MetricKind` says what an absent point means; `Sensitivity` sets the band and the alert rule.
"""

from fullcycle.anomaly.detector import Detector, MetricKind, Point, Sensitivity

__all__ = ["Detector", "MetricKind", "Point", "Sensitivity"]

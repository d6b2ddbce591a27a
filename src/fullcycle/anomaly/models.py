"""The learnt state of the detectors that anomaly alert rules run, one per (rule, series)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fullcycle.store.database import Base, UTCDateTime, utcnow


class AnomalyDetectorState(Base):
    """One series watched by an anomaly rule: the detector's saved state (`Detector.state()`,
    strict JSON text), the time of the last point it was fed (unix seconds; the next
    evaluation reads only newer points) and its verdict on that point (for the alert's page).
    Written in the same transaction as the rule's alerts."""

    __tablename__ = "anomaly_detector_states"
    __table_args__ = (UniqueConstraint("rule_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(16))  # of the series' labels
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(Text)
    last_timestamp: Mapped[float] = mapped_column(Float)
    last_point: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

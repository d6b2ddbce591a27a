"""An online anomaly detector for one metric series; docs/anomaly.md explains the model.

Each `update(timestamp, value)` sees one point, updates a bounded state (about 10 KB: a daily
and a weekly profile, levels, error scales and a histogram of past surprises) and returns a
`Point` that depends only on that point and the ones before it. The arithmetic is plain Python
on floats: per point that is cheaper than a single numpy call.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

DAY = 86_400.0
WEEK = 7 * DAY
HOUR = 3_600.0
DAILY_SLOT = 300.0  # the daily profile has one value per 5 minutes
DAILY_SLOTS = int(DAY // DAILY_SLOT)
WEEKLY_SLOTS = int(WEEK // HOUR)  # the weekly correction has one value per hour
HOURLY_SLOTS = int(DAY // HOUR)  # the error scale of the seasonal forecast, per hour of the day

OFFSET_RATE = 0.05  # the seasonal forecast's offset follows lasting deviations over ~20 points
PLAIN_RATE = 0.3  # the plain (non-seasonal) forecast follows the series over ~3 points
DAILY_RATE = 0.15  # the share of a day's deviation the daily profile learns per visit
WEEKLY_RATE = 0.1
ERROR_RATE = 0.01  # the error scales remember about 100 points
CHOICE_RATE = 0.002  # which forecast to use is decided over ~500 points
CHOICE_HORIZON = 10  # ...comparing it with the plain level of 10 points before
CLIP = 3.0  # residuals are clipped at CLIP sigmas before the model learns from them
SEASONAL_ADVANTAGE = 1.0  # the seasonal forecast is used when it predicts at least as well
MEAN_ABSOLUTE_TO_SIGMA = 1.2533  # sqrt(pi / 2): mean |error| of a normal error, in sigmas

SUSTAINED_RATE = 0.25  # the sustained surprise averages z over about 4 points
SURPRISE_BINS = 80  # log-spaced bins of surprise, 8 per doubling, from 0.5 up
SURPRISE_BINS_PER_DOUBLING = 8.0
SURPRISE_MEMORY = 1_000.0  # the surprise histogram forgets with a horizon of ~1000 points
PEAK_DECAY = 0.995  # a high score masks lower ones for the next ~140 points (half-life)
ABSENT_FILL_LIMIT = 2_000  # at most this many absent points are filled in for one gap

ALERT_MIN_SECONDS = 180.0  # an alert needs the series outside the band this long...
ALERT_MIN_POINTS = 2  # ...and for at least this many points, so one odd point never pages
ALERT_RATE = 0.1  # alerts look at the average deviation of about the last 10 points
ALERT_NORM = math.sqrt((2 - ALERT_RATE) / ALERT_RATE)  # that average, in its own sigmas
ALERT_CLIP = 6.0


class MetricKind(StrEnum):
    """What the series measures; it decides what an absent point means and bounds the band.

    For money and counts an interval without rows is a real zero ("no orders"), so absent
    points are learned and scored as zero. For ratios and ops metrics (latency, CPU) nothing
    was measured, so an absent point is unknown: skipped, with no learning and no score.
    """

    MONEY = "money"
    COUNT = "count"
    RATIO = "ratio"
    OPS = "ops"

    @property
    def absent_is_zero(self) -> bool:
        return self in (MetricKind.MONEY, MetricKind.COUNT)


class Sensitivity(StrEnum):
    """How wide the band is, and so how far outside it a point must be to count for an alert."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def band_sigmas(self) -> float:
        return BAND_SIGMAS[self.value]


BAND_SIGMAS = {"low": 6.0, "medium": 4.5, "high": 3.5}


@dataclass(frozen=True, slots=True)
class Point:
    """The detector's verdict on one point.

    `expected` is the forecast made before seeing the value, `lower`/`upper` the band at the
    configured sensitivity, `anomaly_score` in [0, 1] how unusual the point is for this series,
    `alert` what an alert rule at that sensitivity would do now (1 = firing), and `direction`
    whether the value is "above" or "below" the expected one ("" when equal or unknown).
    `value` is None for an absent point of a kind where absent means unknown.
    """

    timestamp: float
    value: float | None
    expected: float
    lower: float
    upper: float
    anomaly_score: float
    alert: int
    direction: str


class Detector:
    """Learns one series online and scores each new point against what it learnt."""

    __slots__ = (
        "_alert_mean",
        "_band_sigmas",
        "_base",
        "_choice_plain",
        "_choice_seasonal",
        "_daily",
        "_deltas",
        "_error_plain",
        "_error_seasonal",
        "_first_timestamp",
        "_interval",
        "_last_timestamp",
        "_last_value",
        "_offset",
        "_outside_run",
        "_outside_sign",
        "_peak",
        "_plain",
        "_plain_history",
        "_quantum",
        "_seen",
        "_surprise_counts",
        "_surprise_total",
        "_surprise_weight",
        "_sustained",
        "_weekly",
        "_zero_when_absent",
        "kind",
        "sensitivity",
    )

    def __init__(
        self, kind: MetricKind = MetricKind.OPS, sensitivity: Sensitivity = Sensitivity.MEDIUM
    ) -> None:
        self.kind = MetricKind(kind)
        self.sensitivity = Sensitivity(sensitivity)
        self._band_sigmas = self.sensitivity.band_sigmas
        self._zero_when_absent = self.kind.absent_is_zero
        self._seen = 0
        self._first_timestamp = 0.0
        self._last_timestamp = 0.0
        self._last_value = 0.0
        self._deltas: list[float] = []
        self._interval = 0.0
        self._base = 0.0
        self._offset = 0.0
        self._plain = 0.0
        self._plain_history = [0.0] * CHOICE_HORIZON
        self._daily = [0.0] * DAILY_SLOTS
        self._weekly = [0.0] * WEEKLY_SLOTS
        self._error_seasonal = 0.0
        self._error_plain = 0.0
        self._choice_seasonal = 0.0
        self._choice_plain = 0.0
        self._quantum = 0.0
        self._peak = 0.0
        self._sustained = 0.0
        self._surprise_counts = [0.0] * SURPRISE_BINS
        self._surprise_total = 0.0
        self._surprise_weight = 1.0
        self._outside_run = 0
        self._alert_mean = 0.0
        self._outside_sign = 0

    # --- the public interface -----------------------------------------------------------

    def update(self, timestamp: float, value: float | None) -> Point:
        """Score the point at `timestamp` (unix seconds) and learn from it.

        `value` None means no data for this interval; so does a gap between timestamps longer
        than the series' usual interval. For money and counts that is a zero, for other kinds
        it is unknown (see MetricKind).
        """
        if self._zero_when_absent:
            self._fill_gap(timestamp)
            if value is None:
                value = 0.0
        if value is None or not math.isfinite(value):
            return self._unknown(timestamp)
        return self._step(timestamp, float(value))

    def state(self) -> bytes:
        """Everything the detector learnt, as JSON bytes; `from_state` continues from it."""
        fields = {name.lstrip("_"): getattr(self, name) for name in self.__slots__}
        return json.dumps(fields, separators=(",", ":")).encode()

    @classmethod
    def from_state(cls, state: bytes) -> Detector:
        """A detector that continues exactly where the one that saved `state` stopped."""
        fields: dict[str, Any] = json.loads(state)
        detector = cls(MetricKind(fields["kind"]), Sensitivity(fields["sensitivity"]))
        for name in cls.__slots__:
            if name not in ("kind", "sensitivity"):
                setattr(detector, name, fields[name.lstrip("_")])
        return detector

    # --- the model ----------------------------------------------------------------------

    def _fill_gap(self, timestamp: float) -> None:
        """Feed zeros for the intervals skipped since the last point (absent means zero)."""
        if self._seen < 2 or not self._interval:
            return
        missing = round((timestamp - self._last_timestamp) / self._interval) - 1
        for k in range(1, min(missing, ABSENT_FILL_LIMIT) + 1):
            self._step(self._last_timestamp + self._interval, 0.0)
            if k == ABSENT_FILL_LIMIT:
                break

    def _unknown(self, timestamp: float) -> Point:
        expected = self._forecast(timestamp)
        return Point(timestamp, None, expected, expected, expected, 0.0, 0, "")

    def _forecast(self, timestamp: float) -> float:
        if self._use_seasonal():
            return self._base + self._seasonal(timestamp) + self._offset
        return self._plain

    def _use_seasonal(self) -> bool:
        return self._choice_seasonal < SEASONAL_ADVANTAGE * self._choice_plain

    def _seasonal(self, timestamp: float) -> float:
        return (
            self._daily[int(timestamp % DAY // DAILY_SLOT)]
            + self._weekly[int(timestamp % WEEK // HOUR)]
        )

    def _learn_timing(self, timestamp: float, value: float) -> None:
        if self._seen == 0:
            self._first_timestamp = timestamp
            self._base = self._plain = value
            self._plain_history = [value] * CHOICE_HORIZON
            return
        delta = timestamp - self._last_timestamp
        if delta > 0 and len(self._deltas) < 15:
            self._deltas.append(delta)
            self._interval = sorted(self._deltas)[len(self._deltas) // 2]

    def _step(self, timestamp: float, value: float) -> Point:
        self._learn_timing(timestamp, value)
        daily_slot = int(timestamp % DAY // DAILY_SLOT)
        weekly_slot = int(timestamp % WEEK // HOUR)
        shape = self._daily[daily_slot] + self._weekly[weekly_slot]
        expected_seasonal = self._base + shape + self._offset
        if self._use_seasonal():
            expected, error = expected_seasonal, self._error_seasonal
        else:
            expected, error = self._plain, self._error_plain
        residual = value - expected

        if self._seen:
            step = abs(value - self._last_value)
            if step > 0 and (self._quantum == 0 or step < self._quantum):
                self._quantum = step
        scale = max(MEAN_ABSOLUTE_TO_SIGMA * error, self._quantum, 1e-9 * abs(expected), 1e-12)
        if self.kind is MetricKind.COUNT:
            scale = max(scale, math.sqrt(max(expected, 1.0)))
        z = residual / scale if self._seen > 1 else 0.0

        score = self._score(z)
        alert = self._alert(z)
        self._learn_model(timestamp, value, expected_seasonal, daily_slot, weekly_slot)
        band = self._band_sigmas * scale
        lower, upper = self._bounded(expected - band), self._bounded(expected + band)
        direction = "above" if residual > 0 else "below" if residual < 0 else ""
        return Point(timestamp, value, expected, lower, upper, score, alert, direction)

    def _bounded(self, value: float) -> float:
        if self.kind is MetricKind.RATIO:
            return min(max(value, 0.0), 1.0)
        if self._zero_when_absent:
            return max(value, 0.0)
        return value

    def _learn_model(
        self,
        timestamp: float,
        value: float,
        expected_seasonal: float,
        daily_slot: int,
        weekly_slot: int,
    ) -> None:
        seen = self._seen
        self._seen = seen + 1
        self._last_timestamp = timestamp
        self._last_value = value
        if seen == 0:
            return
        quantum = self._quantum
        limit_seasonal = CLIP * max(MEAN_ABSOLUTE_TO_SIGMA * self._error_seasonal, quantum)
        limit_plain = CLIP * max(MEAN_ABSOLUTE_TO_SIGMA * self._error_plain, quantum)
        clipped_seasonal = _clip(value - expected_seasonal, limit_seasonal, seen)
        clipped_plain = _clip(value - self._plain, limit_plain, seen)
        rate = max(ERROR_RATE, 1.0 / seen)
        self._error_seasonal += rate * (abs(clipped_seasonal) - self._error_seasonal)
        self._error_plain += rate * (abs(clipped_plain) - self._error_plain)
        rate = max(CHOICE_RATE, 1.0 / seen)
        slot = seen % CHOICE_HORIZON
        ahead_plain = _clip(value - self._plain_history[slot], limit_plain, seen)
        self._plain_history[slot] = self._plain + PLAIN_RATE * clipped_plain
        self._choice_seasonal += rate * (abs(clipped_seasonal) - self._choice_seasonal)
        self._choice_plain += rate * (abs(ahead_plain) - self._choice_plain)
        self._plain += PLAIN_RATE * clipped_plain

        interval = self._interval or DAILY_SLOT
        elapsed = timestamp - self._first_timestamp
        base_rate = max(1.0 / seen, interval / DAY)
        daily = self._daily[daily_slot]
        weekly = self._weekly[weekly_slot]
        self._base += base_rate * _clip(value - self._base - daily - weekly, limit_seasonal, seen)
        per_daily_visit = max(1.0, DAILY_SLOT / interval)
        daily_rate = max(DAILY_RATE, DAY / max(elapsed, DAY)) / per_daily_visit
        deviation = _clip(value - self._base - weekly - daily, limit_seasonal, seen)
        self._daily[daily_slot] = daily + daily_rate * deviation
        if elapsed > WEEK:
            per_weekly_visit = max(1.0, HOUR / interval)
            weekly_rate = max(WEEKLY_RATE, WEEK / elapsed) / per_weekly_visit
            self._weekly[weekly_slot] = weekly + weekly_rate * deviation
        self._offset += OFFSET_RATE * clipped_seasonal

    def _score(self, z: float) -> float:
        """How unusual this surprise is for this series: 1 - the share of past points at least
        as surprising, from a forgetting histogram of past surprises."""
        bounded = max(-50.0, min(50.0, z))
        self._sustained += SUSTAINED_RATE * (bounded - self._sustained)
        sustained = abs(self._sustained) * math.sqrt((2 - SUSTAINED_RATE) / SUSTAINED_RATE)
        surprise = max(abs(bounded), sustained)
        index = _surprise_bin(surprise)
        counts = self._surprise_counts
        total = self._surprise_total
        tail = sum(counts[index + 1 :]) + 0.5 * counts[index]
        prior = 1.0 / (1.0 + surprise * surprise)
        share = (tail + prior * self._surprise_weight) / (total + self._surprise_weight)
        self._remember_surprise(index)
        level = -math.log10(max(share, 1e-15))
        peak = self._peak
        self._peak = max(peak * PEAK_DECAY, level)
        if level < peak:
            return (1.0 - share) * level / peak
        return 1.0 - share

    def _remember_surprise(self, index: int) -> None:
        weight = self._surprise_weight
        self._surprise_counts[index] += weight
        self._surprise_total += weight
        weight /= 1.0 - 1.0 / SURPRISE_MEMORY
        if weight > 1e6:
            self._surprise_counts = [count / weight for count in self._surprise_counts]
            self._surprise_total /= weight
            weight = 1.0
        self._surprise_weight = weight

    def _alert(self, z: float) -> int:
        """Fire while the recent average deviation is beyond the band: one wild point moves
        the average by at most ALERT_CLIP/ALERT_NORM sigmas, a few minutes of zeros at a busy
        hour move it far."""
        bounded = max(-ALERT_CLIP, min(ALERT_CLIP, z))
        self._alert_mean += ALERT_RATE * (bounded - self._alert_mean)
        deviation = self._alert_mean * ALERT_NORM
        limit = self._band_sigmas
        sign = 1 if deviation > limit else -1 if deviation < -limit else 0
        if sign and sign == self._outside_sign:
            self._outside_run += 1
        else:
            self._outside_run = 1 if sign else 0
        self._outside_sign = sign
        needed = ALERT_MIN_POINTS
        if self._interval:
            needed = max(needed, math.ceil(ALERT_MIN_SECONDS / self._interval))
        return int(self._outside_run >= needed)


def _clip(residual: float, limit: float, seen: int) -> float:
    if seen < 10 or limit <= 0:
        return residual
    return max(-limit, min(limit, residual))


def _surprise_bin(surprise: float) -> int:
    if surprise <= 0.5:
        return 0
    index = int(SURPRISE_BINS_PER_DOUBLING * math.log2(surprise / 0.5))
    return min(index, SURPRISE_BINS - 1)

"""An online anomaly detector for one metric series; docs/anomaly.md explains the model.

Each `update(timestamp, value)` sees one point, updates a bounded state (16-49 KB of JSON by
kind: a daily and a weekly profile, levels, error scales, a histogram of past surprises and,
for money and counts, what the alert's evidence needs) and
returns a `Point` that depends only on that point and the ones before it. The arithmetic is
plain Python on floats, written with local variables and few calls: per point that is cheaper
than a single numpy call would be.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from typing import Any, NamedTuple

DAY = 86_400.0
WEEK = 7 * DAY
HOUR = 3_600.0
DAILY_SLOT = 300.0  # the daily profile has one value per 5 minutes
DAILY_SLOTS = int(DAY // DAILY_SLOT)
WEEKLY_SLOT = HOUR  # the weekly correction has one value per hour...
BUSINESS_WEEKLY_SLOT = 900.0  # ...or, for money, counts and ratios, per 15 minutes (a
# Saturday morning's ramp has its own shape, not just its own level)
QUARTERS_A_DAY = int(DAY // BUSINESS_WEEKLY_SLOT)  # the 15-minute slots of the week in a day
HOURLY_SLOTS = int(DAY // HOUR)  # the error scale, per hour of the day

# How fast each part learns. Rates are per point unless they say otherwise.
PLAIN_RATE = 0.3  # the plain forecast follows the series over ~3 points...
PLAIN_SECONDS = 60.0  # ...of at least a minute each (at a 15 s step it follows over ~12)
SLOW_RATE = 0.02  # the slow level, the reference for lasting shifts of the plain series
OFFSET_RATE = 0.05  # the seasonal forecast's offset follows lasting deviations...
OFFSET_SECONDS = 3_600.0  # ...over ~20 points, and at least an hour
OFFSET_SIGMAS = 1.0  # money, counts: a positive offset is at most 1 sigma of the hour's noise
# (a busier evening is not carried into the quiet night as an amount; the offset still falls
# without bound, as a shop's night at zero needs)
DAILY_RATE = 0.15  # the share of a day's deviation the daily profile learns per visit
WEEKLY_RATE = 0.1  # the same for the weekly correction, per weekly visit
ERROR_RATE = 0.01  # the error scales remember ~100 points
CHOICE_RATE = 0.002  # which forecast to use is decided over ~500 points, from day 2 on,
CHOICE_MARGIN = 0.03  # switching needs a 3% difference
CHOICE_HORIZON = 10  # comparing the seasonal forecast with the plain one of 10 points before
CLIP = 3.0  # residuals are clipped at CLIP sigmas before the model learns from them
CLIP_AFTER = 10  # (from the 10th point on: before that there is no scale to clip with)
UNUSUAL_CLIP = 1.0  # money, counts: a point outside the band, or while the alert fires,
# moves the level by at most 1 sigma (an outage is not the baseline)
MEAN_ABSOLUTE_TO_SIGMA = 1.2533  # sqrt(pi / 2): mean |error| of a normal error, in sigmas

# How surprising a point is, and how that becomes a score.
SUSTAINED_RATE = 0.25  # the sustained surprise averages z over ~4 points
SUSTAINED_NORM = math.sqrt((2 - SUSTAINED_RATE) / SUSTAINED_RATE)
POINT_WEIGHT = 0.5  # one odd point counts half as much as a shift of the median
SHIFT_POINTS = 3  # the shift is the median deviation of the last 3 points from the reference
VOLATILITY_RATE = 0.03  # the volatility averages |z| over ~33 points...
VOLATILITY_CAP = 5.0  # ...each clipped at 5, so one spike cannot make a noisy stretch
NORMAL_ABSOLUTE_Z = 0.8  # mean |z| of a normal error (1 / MEAN_ABSOLUTE_TO_SIGMA)...
NORMAL_ABSOLUTE_Z_SPREAD = 0.6  # ...and its standard deviation, sqrt(1 - 0.8 ** 2)
VOLATILITY_NORM = NORMAL_ABSOLUTE_Z_SPREAD * math.sqrt(
    VOLATILITY_RATE / (2 - VOLATILITY_RATE)
)  # the standard deviation of that average for a normal error
SURPRISE_CAP = 50.0
SURPRISE_BINS = 80  # log-spaced bins of surprise, 8 per doubling, from 0.5 up
SURPRISE_BINS_PER_DOUBLING = 8.0
SURPRISE_MEMORY = 2_000.0  # the surprise histogram forgets with a horizon of ~2000 points
SURPRISE_PRIOR_POINTS = 100.0  # the heavy-tailed prior weighs as much as 100 points in it,
# times the share of points that surprised at all (above the first bin): where surprises are
# routine, 2,000 points cannot tell 1 in 2,000 from 1 in 500 on their own; where nothing ever
# deviates (a clean series), the first small deviation is rare indeed
PEAK_DECAY = 0.995  # a high score damps lower ones for the next ~140 points (half-life)
REST_LEVEL = 2.7  # a point rarer than 1 in 10^2.7 (~500) that is a new peak...
REST_POINTS = 100  # ...is the anomaly's start: the next 100 points score at most...
REST_DAMPING = 0.99  # ...99 % of their share, below any new peak, so one anomaly reports once
REST_COUNT = 0.5  # and they count half in the histogram of surprises
STUCK_MIN_POINTS = 10  # a non-zero value repeated this often, and
STUCK_MIN_AMOUNTS = 5  # (an amount of money: sales do not repeat the same sum to the cent)
STUCK_FACTOR = 3  # this many times longer than any run before, is a flat-lined series
STUCK_SURPRISE = 10.0
STUCK_MIN_COUNTS = 3  # a count repeated this often, and too unlikely to repeat, is stuck too
# A new record of an ops series (a value beyond the range of all values before it, or a
# forecast error larger than all before it)
RECORD_AFTER = 100  # counts once the range has seen this many points...
RECORD_MARGIN = 0.02  # ...and the value is beyond it by at least 2 % of its width;
ERROR_RECORD_MARGIN = 0.1  # (an error must be 10 % larger than the largest before)
RECORD_GAP = 20  # a record within 20 points of the last one continues it: no new anomaly
RECORD_LEVEL = 2.7  # it is then at least as rare as 1 in 10^2.7 points (the rest's level)
# or, after N points, as 2 in N (the chance that the last of N exchangeable values is the
# highest or the lowest), and every two widths of the old range beyond it add a factor of 10

# When an alert fires.
ALERT_MIN_SECONDS = 180.0  # money, counts: the evidence must last 3 minutes...
ALERT_MIN_POINTS = 1  # ...or one point, when a point is longer than that
OPS_ALERT_MIN_SECONDS = 180.0  # ratios and ops series: outside the band 3 minutes...
OPS_ALERT_MIN_POINTS = 2  # ...and at least 2 points, so one odd point never pages
ALERT_RATE = 0.1  # alerts look at the average deviation of ~the last 10 points
ALERT_NORM = math.sqrt((2 - ALERT_RATE) / ALERT_RATE)  # that average, in its own sigmas
ALERT_CLIP = 3.0  # one point moves that average by at most 3 / ALERT_NORM = 0.7 sigmas

# Money and counts alert on evidence (see `_evidence_alert`): the sums over windows of about
EVIDENCE_MINUTES = (1, 8, 16, 64)  # this many minutes (at least a point)...
EVIDENCE_SPAN = EVIDENCE_MINUTES[-1] + 1  # ...of at most 64 points, from a ring of totals
EVIDENCE_COUNT = len(EVIDENCE_MINUTES)
EVIDENCE_LEARN_BOUND = 9.0  # each sum's squared residual is clipped at 3 sigmas when learnt
ALERT_HOLD = 0.8  # a firing alert holds while the evidence is above 80 % of the band
BUILDING = 0.3  # evidence below past 0.3 of the band's squared sigmas (2.5 of 4.5) builds up
ZERO_SHARE_FLOOR = 0.01  # a zero is taken as at least 1 in 100 at its time of day...
ZERO_RUN_LEARNING = 0.1  # (zeros in a run that is evidence teach that share a tenth as fast,
# and so do a ratio's repeats, see `_repeats`)
ZERO_SHARE_RARE = 0.05  # ...and a run of zeros is evidence where zeros are rarer than 1 in 20
EVIDENCE_FLOOR = 0.1  # an expected sum is at least this many (effective) events
SPARSE_EVENTS = 2.0  # a count whose busiest hour averages fewer events a point is sparse: its
# windows are judged against the offset as it was when each began (see `_evidence_alert`)
# A sparse count's silence (a run of zeros, see `_silence`) is judged against the share of its
# forecast the hour before it came to, that hour counting this many more events expected...
SILENCE_PRIOR_EVENTS = 1.5
SILENCE_DECAY = 0.5  # ...and its evidence fades over ~2 hours (a night's rhythm is less known)

# A ratio (payment success) pages below on the evidence of its shortfall from 1, the failed
# payments (see `_failure_deviance`): the sums over the last
RATIO_WINDOWS = (1, 4, 8, 16, 64)  # points (minutes with payments), each point counting...
RATIO_POINT_CAP = 6.0  # ...at most 6 of the hour's sigmas above its expected shortfall
# Money and counts: a day that keeps to another day of the week's rhythm (a public holiday like
# a Sunday) is judged as that day (see `_fit_days`), by each 15 minutes of the week's mean
# (learnt apart from the forecast: a night's weekly correction holds what it took of the
# base's errors, too rough to tell days by). Each 15 minutes adds how much better each other
# day's means explain them than the own day's, a Poisson log-likelihood ratio in effective
# events, forgotten over
DAY_FIT_HORIZON = 3 * 3_600.0  # ~3 hours (so the night after a holiday fades it)
DAY_FIT_PRIOR = 4.0  # another day is taken when it explains the series e^4 (~55) times better
DAY_FIT_APART = 0.25  # days (and 15 minutes) whose means differ by less are not told apart,
DAY_FIT_BUSY = 0.05  # nor do hours that average under 5 % of the busiest hour
DAY_FIT_MISFIT = 40.0  # and when its own deviance over those hours is under this: a sum that
# fits adds about 1 per 15 minutes (12 over 3 hours), a weekday at a quarter of its orders is
# explained better by a weekend's rhythm than by its own, but by neither
WEEK_MEAN_RATE = 0.25  # each 15 minutes of the week's mean remembers ~4 weeks
# A ratio is stuck when its points repeat the value of the point right before them (1 included:
# every payment went through) too often to be chance at this time of day (`_repeats`): -ln P
# of the run under the share of such repeats learnt per hour of the day (after a 1, after any
# other value), or under the share over about the last
REPEAT_RECENT_POINTS = 30.0  # points before the run began, when that is larger...
REPEAT_SHARE_FLOOR = 0.01  # ...and at least 1 in 100...
REPEAT_EVIDENCE = 1.5  # ...beyond 1.5 times the threshold the evidence of money and counts has
ABSENT_FILL_LIMIT = 2_000  # at most this many absent points are filled in for one gap
INTERVAL_SAMPLES = 15  # the sampling interval is the median of the first 15 steps (a
# ratio's: the shortest, since its absent points are skipped: its longer steps are gaps)


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


class Point(NamedTuple):
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
        "_alert_min_points",
        "_alert_min_seconds",
        "_alert_points",
        "_band_sigmas",
        "_base",
        "_building",
        "_busiest_hour",
        "_business_kind",
        "_choice_plain",
        "_choice_seasonal",
        "_compared",
        "_count_kind",
        "_daily",
        "_daily_visit_points",
        "_day_fits",
        "_day_levels",
        "_day_misfits",
        "_day_shift",
        "_deltas",
        "_error_daily",
        "_error_hourly",
        "_error_plain",
        "_error_seasonal",
        "_evidence_slot",
        "_excess_scale",
        "_excess_spread",
        "_first_timestamp",
        "_hour_visit_points",
        "_interval",
        "_largest_error",
        "_last_record",
        "_last_timestamp",
        "_last_value",
        "_levels_day",
        "_longest_run",
        "_lower_bound",
        "_mean_hourly",
        "_offset",
        "_offset_rate",
        "_offsets",
        "_outside_run",
        "_outside_sign",
        "_peak",
        "_plain",
        "_plain_history",
        "_plain_rate",
        "_quantum",
        "_range_high",
        "_range_low",
        "_range_points",
        "_ratio_kind",
        "_recent",
        "_repeat_hourly",
        "_repeat_recent",
        "_repeat_share",
        "_repeat_surprise",
        "_resting",
        "_same_run",
        "_seasonal_chosen",
        "_seen",
        "_silence_expected",
        "_silence_observed",
        "_silence_offset",
        "_silence_share",
        "_silence_surprise",
        "_slow",
        "_stuck_min_points",
        "_surprise_counts",
        "_surprise_total",
        "_surprise_weight",
        "_sustained",
        "_total_capped",
        "_total_expected",
        "_total_offset",
        "_total_value",
        "_total_variance",
        "_totals_capped",
        "_totals_expected",
        "_totals_offset",
        "_totals_value",
        "_totals_variance",
        "_upper_bound",
        "_volatility",
        "_warmup_seconds",
        "_week_mean_points",
        "_week_mean_slot",
        "_week_mean_start",
        "_week_mean_sum",
        "_week_means",
        "_weekly",
        "_weekly_after",
        "_weekly_slot",
        "_weekly_visit_points",
        "_windows",
        "_zero_hourly",
        "_zero_when_absent",
        "_zeros_surprise",
        "kind",
        "sensitivity",
    )

    def __init__(
        self, kind: MetricKind = MetricKind.OPS, sensitivity: Sensitivity = Sensitivity.MEDIUM
    ) -> None:
        self.kind = MetricKind(kind)
        self.sensitivity = Sensitivity(sensitivity)
        # what the kind and sensitivity imply, looked up once
        self._band_sigmas = self.sensitivity.band_sigmas
        self._zero_when_absent = self.kind.absent_is_zero
        self._count_kind = self.kind is MetricKind.COUNT
        self._ratio_kind = self.kind is MetricKind.RATIO
        self._business_kind = self.kind is not MetricKind.OPS
        self._stuck_min_points = (
            STUCK_MIN_AMOUNTS if self.kind is MetricKind.MONEY else STUCK_MIN_POINTS
        )
        self._lower_bound = 0.0 if self.kind is not MetricKind.OPS else -math.inf
        self._upper_bound = 1.0 if self.kind is MetricKind.RATIO else math.inf
        # a business series pages from its second week, so it learns what a weekday adds
        # from its second day (the second Saturday must not look like an outage)
        self._weekly_after = DAY if self._business_kind else WEEK
        self._weekly_slot = BUSINESS_WEEKLY_SLOT if self._business_kind else WEEKLY_SLOT
        # no alerts while normal is unknown: business series have a weekly rhythm (the first
        # Saturday is not an outage); ops series get a day
        self._warmup_seconds = WEEK if self._business_kind else DAY
        # money and counts alert on evidence (`_evidence_alert`), ratios and ops metrics on
        # the average deviation (`_alert`)
        self._alert_min_points = (
            ALERT_MIN_POINTS if self._zero_when_absent else OPS_ALERT_MIN_POINTS
        )
        self._alert_min_seconds = (
            ALERT_MIN_SECONDS if self._zero_when_absent else OPS_ALERT_MIN_SECONDS
        )
        # timing
        self._seen = 0
        self._first_timestamp = 0.0
        self._last_timestamp = 0.0
        self._last_value = 0.0
        self._deltas: list[float] = []
        self._interval = 0.0
        self._set_interval(DAILY_SLOT)
        # the two forecasts and their errors
        self._plain = 0.0
        self._slow = 0.0
        self._plain_history = [0.0] * CHOICE_HORIZON
        self._base = 0.0
        self._offset = 0.0
        self._daily = [0.0] * DAILY_SLOTS
        self._weekly = [0.0] * int(WEEK // self._weekly_slot)
        self._error_plain = 0.0
        self._error_seasonal = 0.0
        self._error_hourly = [0.0] * HOURLY_SLOTS
        self._error_daily = [0.0] * DAILY_SLOTS  # money, counts: per 5 minutes of the day
        self._choice_plain = 0.0
        self._choice_seasonal = 0.0
        self._compared = 0
        self._seasonal_chosen = False
        # surprise and score
        self._quantum = 0.0
        self._same_run = 0
        self._longest_run = 0
        self._recent = [0.0] * SHIFT_POINTS
        self._sustained = 0.0
        self._volatility = NORMAL_ABSOLUTE_Z
        self._surprise_counts = [0.0] * SURPRISE_BINS
        self._surprise_total = 0.0
        self._surprise_weight = 1.0
        self._peak = 0.0
        self._resting = 0
        # the range of the values seen (ops series), for the score of a new record
        self._range_low = self._range_high = 0.0
        self._range_points = 0
        self._largest_error = 0.0  # the largest forecast error, for the same
        self._last_record = -RECORD_GAP - 1  # the point count at the last record
        # alert
        self._alert_mean = 0.0
        self._outside_run = 0
        self._outside_sign = 0
        # the evidence of the last points' sums (money, counts, ratios)
        # each hour's mean value (a ratio's: the seasonal forecast's mean error, its bias)
        self._mean_hourly = [0.0] * HOURLY_SLOTS
        self._zero_hourly = [1.0] * HOURLY_SLOTS  # the share of points that are exactly zero
        self._zeros_surprise = 0.0  # -ln P of the current run of zeros
        self._repeat_surprise = 0.0  # -ln P of the current repeats of a count or a ratio
        # a ratio's share of points that repeat the point right before, per hour of the day
        # after a 1 (its bound) and after any other value, over the last points after each,
        # and the share the current run is judged against
        self._repeat_hourly = [1.0] * (2 * HOURLY_SLOTS)
        self._repeat_recent = [1.0, 1.0]
        self._repeat_share = 1.0
        # a sparse count's silence: its values and rhythm over about the last hour, the share
        # of the rhythm they came to when the silence began, and -ln P of the silence so far
        self._silence_observed = self._silence_expected = 0.0
        self._silence_share = 1.0
        self._silence_offset = 0.0
        self._silence_surprise = 0.0
        self._total_value = self._total_capped = self._total_expected = 0.0
        self._totals_value = [0.0] * EVIDENCE_SPAN
        self._totals_capped = [0.0] * EVIDENCE_SPAN
        self._totals_expected = [0.0] * EVIDENCE_SPAN
        self._total_variance = 0.0
        self._totals_variance = [0.0] * EVIDENCE_SPAN
        self._total_offset = 0.0  # the seasonal forecast's offset at each point, ring and sums
        self._totals_offset = [0.0] * EVIDENCE_SPAN
        self._offsets = [0.0] * EVIDENCE_SPAN
        self._evidence_slot = 0
        self._excess_spread = [0.0] * (EVIDENCE_COUNT * HOURLY_SLOTS)
        self._excess_scale = [0.0] * (EVIDENCE_COUNT * HOURLY_SLOTS)
        # money and counts: each 15 minutes of the week's mean value per point (-1: not yet
        # seen) and the 15 minutes being summed for it; how much better each other day of
        # the week (by days ahead, 1-6) explains the last hours than the own day and how
        # badly it explains them itself; the day a point is judged as (0: its own)
        self._week_means = [-1.0] * (
            int(WEEK // BUSINESS_WEEKLY_SLOT) if self._zero_when_absent else 0
        )
        self._week_mean_slot = -1
        self._week_mean_start = 0.0
        self._week_mean_sum = 0.0
        self._week_mean_points = 0
        self._day_fits = [0.0] * 7
        self._day_misfits = [0.0] * 7
        self._day_levels = [0.0] * 7  # (derived from the means once a day)
        self._busiest_hour = 0.0
        self._levels_day = -1
        self._day_shift = 0
        self._building = False

    # --- the public interface -----------------------------------------------------------

    def update(self, timestamp: float, value: float | None) -> Point:
        """Score the point at `timestamp` (unix seconds) and learn from it.

        `value` None means no data for this interval; so does a gap between timestamps longer
        than the series' usual interval. For money and counts that is a zero, for other kinds
        it is unknown (see MetricKind).
        """
        if self._zero_when_absent:
            if timestamp - self._last_timestamp >= 1.5 * self._interval:  # (a point skipped)
                self._fill_gap(timestamp)
            if value is None:
                value = 0.0
        if value is None or not math.isfinite(value):
            return self._unknown(timestamp)
        return self._step(timestamp, float(value))

    def state(self) -> bytes:
        """Everything the detector learnt, as strict JSON bytes (no NaN or Infinity, so it can
        go into a JSON column); `from_state` continues from it."""
        fields = {name.lstrip("_"): getattr(self, name) for name in _LEARNT}
        fields["kind"], fields["sensitivity"] = self.kind.value, self.sensitivity.value
        return json.dumps(fields, separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_state(cls, state: bytes) -> Detector:
        """A detector that continues exactly where the one that saved `state` stopped."""
        fields: dict[str, Any] = json.loads(state)
        detector = cls(MetricKind(fields["kind"]), Sensitivity(fields["sensitivity"]))
        for name in _LEARNT:
            key = name.lstrip("_")
            if key in fields:  # a state saved by an older version lacks the newer fields
                setattr(detector, name, fields[key])
        if len(detector._weekly) != int(WEEK // detector._weekly_slot):
            detector._weekly = [0.0] * int(WEEK // detector._weekly_slot)  # relearnt
        if "mean_hourly" not in fields:
            detector._seed_evidence()
        if "offsets" not in fields:
            detector._seed_offsets()
        detector._set_interval(detector._interval)  # rates follow the current constants
        return detector

    def _seed_evidence(self) -> None:
        """For a state saved before the evidence alert: start what it needs from what the
        detector already knows (each hour's mean from the daily profile, each 5 minutes' error
        from its hour's), so an upgraded detector does not have to relearn them for days."""
        per_hour = DAILY_SLOTS // HOURLY_SLOTS
        windows = [max(1, round(minutes * 60.0 / self._interval)) for minutes in EVIDENCE_MINUTES]
        for hour in range(HOURLY_SLOTS):
            profile = self._daily[hour * per_hour : (hour + 1) * per_hour]
            if not self._ratio_kind:  # (a ratio's is its forecast's mean error: none known)
                self._mean_hourly[hour] = max(0.0, self._base + sum(profile) / per_hour)
            for slot in range(hour * per_hour, (hour + 1) * per_hour):
                self._error_daily[slot] = self._error_hourly[hour]
            for index, window in enumerate(windows):  # no excess yet, as if learnt for a while
                spread = self._error_hourly[hour] * min(window, EVIDENCE_SPAN - 1)
                self._excess_spread[hour * EVIDENCE_COUNT + index] = spread
                self._excess_scale[hour * EVIDENCE_COUNT + index] = spread

    def _seed_offsets(self) -> None:
        """For a state saved before the offsets were kept: as if the offset had stayed where
        it is for the last EVIDENCE_SPAN points."""
        self._offsets = [self._offset] * EVIDENCE_SPAN
        self._total_offset = 0.0
        for back in range(EVIDENCE_SPAN):
            self._totals_offset[(self._evidence_slot - back) % EVIDENCE_SPAN] = -back * self._offset

    # --- absent points ------------------------------------------------------------------

    def _fill_gap(self, timestamp: float) -> None:
        """Feed zeros for the intervals skipped since the last point (absent means zero)."""
        if self._seen < 2 or not self._interval:
            return
        missing = round((timestamp - self._last_timestamp) / self._interval) - 1
        for _ in range(min(missing, ABSENT_FILL_LIMIT)):
            self._step(self._last_timestamp + self._interval, 0.0)

    def _unknown(self, timestamp: float) -> Point:
        if self._use_seasonal():
            expected = (
                self._base
                + self._daily[int(timestamp % DAY // DAILY_SLOT)]
                + self._weekly[int(timestamp % WEEK // self._weekly_slot)]
                + self._offset
            )
        else:
            expected = self._plain
        return Point(timestamp, None, expected, expected, expected, 0.0, 0, "")

    # --- one step -----------------------------------------------------------------------

    def _use_seasonal(self) -> bool:
        """Whether the seasonal forecast is in use (see `_learn_choice`)."""
        return self._seasonal_chosen

    def _step(self, timestamp: float, value: float) -> Point:
        seen = self._seen
        if seen == 0:
            self._start(timestamp, value)
        else:
            self._learn_interval(timestamp - self._last_timestamp)
        elapsed = timestamp - self._first_timestamp
        daily_slot = int(timestamp % DAY // DAILY_SLOT)
        weekly_slot = int(timestamp % WEEK // self._weekly_slot)
        hour = int(timestamp % DAY // HOUR)
        if self._zero_when_absent:
            if weekly_slot != self._week_mean_slot:
                self._close_quarter(timestamp, weekly_slot, elapsed)
            self._week_mean_sum += value
            self._week_mean_points += 1
        own_rhythm = self._base + self._daily[daily_slot] + self._weekly[weekly_slot] + self._offset
        expected_seasonal, offset = own_rhythm, self._offset
        shift = self._day_shift
        if shift:  # judged as another day of the week: by that day's mean, without the offset
            expected_seasonal = self._week_mean_at(weekly_slot + shift * QUARTERS_A_DAY, timestamp)
            offset = 0.0
        seasonal = self._seasonal_chosen
        if seasonal:
            expected, error, reference = expected_seasonal, self._error_seasonal, expected_seasonal
        else:
            expected, error, reference = self._plain, self._error_plain, self._slow
        forecast = expected
        # a sparse count's silences are judged against its rhythm (`_silence`)
        sparse = self._count_kind and elapsed > DAY and max(self._mean_hourly) < SPARSE_EVENTS
        rhythm = -math.inf
        if sparse:
            rhythm = self._silence_rhythm(
                expected_seasonal - offset, weekly_slot, timestamp, elapsed
            )
            if 4.0 * self._silence_surprise > self._band_sigmas * self._band_sigmas:
                # its silence being judged: what was expected is what it is judged against,
                # not a forecast that followed it down
                expected = rhythm + self._silence_offset
                if expected < 0.0:
                    expected = 0.0
        if self._business_kind and elapsed > DAY:
            error = math.sqrt(self._error_hourly[hour]) / MEAN_ABSOLUTE_TO_SIGMA
        elif seasonal and elapsed > DAY:
            error = self._error_hourly[hour]
        stuck = seen > 0 and self._is_stuck(value)
        scale = self._sigma(expected, error)
        residual = value - expected
        z = residual / scale if seen > 1 else 0.0
        shift_z = (value - reference) / scale if seen > 1 else 0.0

        band = self._band_sigmas * scale
        lower = expected - band
        upper = expected + band
        if lower < self._lower_bound:
            lower = self._lower_bound
        if upper > self._upper_bound:
            upper = self._upper_bound

        score = self._score(z, shift_z, stuck)
        if not self._business_kind:
            score = self._record_score(value, residual, score)
        if self._zero_when_absent:
            variance = MEAN_ABSOLUTE_TO_SIGMA * MEAN_ABSOLUTE_TO_SIGMA * error * error
            if self._error_daily[daily_slot] > variance:  # a slot the forecast often misses
                variance = self._error_daily[daily_slot]
            # (a sparse count's windows are judged against the offset as it was when each
            # began)
            alert = self._evidence_alert(
                value,
                forecast,
                seasonal and sparse,
                rhythm,
                -offset if seasonal and offset < 0.0 else 0.0,
                variance,
                hour,
                daily_slot,
                elapsed,
                stuck,
            )
        elif self._ratio_kind:
            stuck = self._repeats(timestamp, value, hour, elapsed) or stuck
            failing = None
            if elapsed > DAY:
                failures = self._failure_deviance(value, expected, self._error_hourly[hour], hour)
                failing = failures > self._limit_squared()
            alert = self._alert(z, stuck, failing)
        else:
            alert = self._alert(z, stuck)
        firing = alert == 1
        # (a day judged as another is learnt like an outage: its own rhythm did not happen;
        # and so are points while evidence below builds up, once the forecast is at or below
        # the rhythm: the offset must not take a lasting drop in before it pages, but may come
        # back down from a busier afternoon)
        unusual = (
            firing
            or shift != 0
            or (self._building and self._offset <= 0.0)
            or not lower <= value <= upper
        )
        if elapsed < self._warmup_seconds:
            alert = 0
        self._learn(
            timestamp,
            value,
            own_rhythm,
            seasonal,
            unusual,
            firing,
            daily_slot,
            weekly_slot,
            hour,
        )
        direction = "above" if residual > 0 else "below" if residual < 0 else ""
        return Point(timestamp, value, expected, lower, upper, score, alert, direction)

    def _sigma(self, expected: float, error: float) -> float:
        """The error scale: from the forecast's errors, never below the series' quantum (or a
        billionth of its size), and for counts never below the Poisson noise."""
        sigma = MEAN_ABSOLUTE_TO_SIGMA * error
        floor = max(self._quantum, 1e-9 * abs(expected), 1e-12)
        if sigma < floor:
            sigma = floor
        if self._count_kind and sigma * sigma < max(expected, 1.0):
            sigma = math.sqrt(max(expected, 1.0))
        return sigma

    def _close_quarter(self, timestamp: float, weekly_slot: int, elapsed: float) -> None:
        """The 15 minutes summed so far are over: into the days' fits (`_fit_days`) and
        their mean of the week; start summing `weekly_slot`'s."""
        points, closed, observed = (
            self._week_mean_points,
            self._week_mean_start,
            self._week_mean_sum,
        )
        shift = 0
        if points and elapsed > WEEK and self._seasonal_chosen:
            shift = self._fit_days(points, closed, observed, timestamp)
        if shift != self._day_shift:
            self._day_shift = shift
            self._restart_evidence()
        self._learn_week_mean(timestamp, weekly_slot)
        self._week_mean_start = timestamp

    def _learn_week_mean(self, timestamp: float, weekly_slot: int) -> None:
        """Close the 15 minutes summed so far into their mean of the week (not while an
        alert fires: an outage is not a day's rhythm), and start summing `weekly_slot`'s."""
        points, closed = self._week_mean_points, self._week_mean_slot
        if points and closed >= 0 and self._outside_run < self._alert_points:
            means = self._week_means
            mean = self._week_mean_sum / points
            visit = (timestamp - self._first_timestamp) // WEEK + 1.0
            rate = 1.0 / visit if visit * WEEK_MEAN_RATE < 1.0 else WEEK_MEAN_RATE
            means[closed] = (
                mean if means[closed] < 0.0 else means[closed] + rate * (mean - means[closed])
            )
        self._week_mean_slot, self._week_mean_sum, self._week_mean_points = weekly_slot, 0.0, 0

    def _fit_days(self, points: int, closed: float, observed: float, timestamp: float) -> int:
        """Add to each other day of the week how much better its means explain the 15
        minutes from `closed` (`points` of them, summing to `observed`) than the own day's,
        and its deviance from them; the day (days ahead) that explains the last hours best,
        by more than DAY_FIT_PRIOR and with a deviance under DAY_FIT_MISFIT, else 0.

        A quasi-Poisson log-likelihood ratio of the sum (in effective events, as the evidence
        counts them), from the second week on and while the seasonal forecast is in use, and
        only of days whose whole day differs from the own day's by DAY_FIT_APART (a Saturday
        is not told from a Sunday, nor a Monday from a Tuesday: their means differ by noise).
        A weekday outage at 08:00 does not turn into a Sunday: the morning's rise before it
        told the two apart by hundreds of nats."""
        levels = self._day_levels_of(int(closed % WEEK // DAY))
        fits, misfits = self._day_fits, self._day_misfits
        forget = math.exp(-(timestamp - closed) / DAY_FIT_HORIZON)
        hour = int(closed % DAY // HOUR)
        typical = self._mean_hourly[hour]
        telling = typical >= DAY_FIT_BUSY * self._busiest_hour  # (in a quiet hour they fade)
        if telling:
            least = self._quantum if self._quantum > 1e-12 else 1e-12
            dispersion = self._error_hourly[hour] / (typical if typical > least else least)
            if self._count_kind and dispersion < 1.0:
                dispersion = 1.0
            floor = EVIDENCE_FLOOR * (dispersion if dispersion > least else least)
            means = self._week_means
            slot = int(closed % WEEK // BUSINESS_WEEKLY_SLOT)
            own = max(floor, points * means[slot])
        best, best_fit = 0, DAY_FIT_PRIOR
        for ahead in range(1, 7):
            if levels[ahead] <= 0.0:  # alike, or not yet seen whole
                fits[ahead] = misfits[ahead] = 0.0
                continue
            fit = forget * fits[ahead]
            misfit = forget * misfits[ahead]
            if telling:
                rate = max(floor, points * means[(slot + ahead * QUARTERS_A_DAY) % len(means)])
                if abs(rate - own) > DAY_FIT_APART * own:
                    fit += (observed * math.log(rate / own) - rate + own) / dispersion
                    misfit += _deviance(observed / dispersion, rate / dispersion)
            fits[ahead], misfits[ahead] = fit, misfit
            if fit > best_fit and misfit < DAY_FIT_MISFIT:
                best, best_fit = ahead, fit
        return best

    def _week_mean_at(self, slot: int, timestamp: float) -> float:
        """The mean per point of the 15 minutes of the week `slot` at `timestamp`'s place in
        them: each slot's mean is its middle's, in between they are joined by straight
        lines (a morning's rise within 15 minutes is not a step)."""
        means = self._week_means
        count = len(means)
        here = means[slot % count]
        place = timestamp % BUSINESS_WEEKLY_SLOT / BUSINESS_WEEKLY_SLOT - 0.5
        other = means[(slot + 1) % count if place > 0.0 else (slot - 1) % count]
        if other < 0.0:
            return here
        value = here + abs(place) * (other - here)
        return value if value > 0.0 else 0.0

    def _day_levels_of(self, day: int) -> list[float]:
        """By days ahead of `day` (a day of the week, 0 = the epoch's Thursday): the other
        day's mean per point if it differs from `day`'s by more than DAY_FIT_APART, else 0
        (worked out once a day, with the busiest hour's mean)."""
        if day != self._levels_day:
            means, per_day = self._week_means, QUARTERS_A_DAY
            days = [means[d * per_day : (d + 1) * per_day] for d in range(7)]
            mean = [sum(slots) / per_day if min(slots) >= 0.0 else -1.0 for slots in days]
            own = mean[day]
            self._day_levels = [
                mean[(day + ahead) % 7]
                if own > 0.0 and abs(mean[(day + ahead) % 7] - own) > DAY_FIT_APART * own
                else 0.0
                for ahead in range(7)
            ]
            self._busiest_hour = max(self._mean_hourly)
            self._levels_day = day
        return self._day_levels

    def _restart_evidence(self) -> None:
        """Let the evidence go that was gathered against the day no longer judged by: each
        window's expected sum becomes what came."""
        self._totals_expected = list(self._totals_value)
        self._total_expected = self._total_value

    def _start(self, timestamp: float, value: float) -> None:
        self._first_timestamp = timestamp
        self._base = self._plain = self._slow = value
        self._plain_history = [value] * CHOICE_HORIZON

    def _learn_interval(self, delta: float) -> None:
        if delta > 0 and len(self._deltas) < INTERVAL_SAMPLES:
            self._deltas.append(delta)
            ordered = sorted(self._deltas)
            self._set_interval(ordered[0] if self._ratio_kind else ordered[len(ordered) // 2])

    def _set_interval(self, interval: float) -> None:
        """The sampling interval, and the rates that depend on it."""
        self._interval = interval
        self._daily_visit_points = max(1.0, DAILY_SLOT / interval)
        self._hour_visit_points = max(1.0, HOUR / interval)
        self._weekly_visit_points = max(1.0, self._weekly_slot / interval)
        self._windows = tuple(
            min(EVIDENCE_SPAN - 1, max(1, round(minutes * 60.0 / interval)))
            for minutes in EVIDENCE_MINUTES
        )
        self._offset_rate = min(OFFSET_RATE, interval / OFFSET_SECONDS)
        self._plain_rate = (
            PLAIN_RATE
            if interval >= PLAIN_SECONDS
            else 1.0 - (1.0 - PLAIN_RATE) ** (interval / PLAIN_SECONDS)
        )
        self._alert_points = max(
            self._alert_min_points, math.ceil(self._alert_min_seconds / interval)
        )

    def _is_stuck(self, value: float) -> bool:
        """Whether the series is stuck: the same non-zero value repeated far longer than it
        ever was before (a flat-lined exporter), in a series that does move. Also learns the
        quantum, the smallest step the series makes, which floors the error scale."""
        step = abs(value - self._last_value)
        # a run of zeros is "nothing happened", and a ratio at its bound (every payment went
        # through) is its most common value: neither is a stuck value nor makes one look normal
        if step > 0 or value == 0 or value == self._upper_bound:
            if step > 0 and (self._quantum == 0 or step < self._quantum):
                self._quantum = step
            if self._same_run > self._longest_run:
                self._longest_run = self._same_run
            self._same_run = 0
            return False
        self._same_run += 1
        return self._quantum > 0 and self._same_run >= max(
            self._stuck_min_points, STUCK_FACTOR * self._longest_run
        )

    def _score(self, z: float, shift_z: float, stuck: bool) -> float:
        """How unusual this point is for this series.

        The surprise is the largest of: the point's own deviation (half weight), its average
        over the last ~4 points, the median deviation of the last 3 points from the slow
        reference (a lasting shift, which single spikes do not move), and how far the average
        size of the last ~33 deviations is above that of a normal error (the series got
        noisier or spikier: a change of shape that leaves the average where it was). The
        score is 1 - the share of past points at least as surprising, from a forgetting
        histogram, so a series with wild swings needs a wilder one to score high. A score
        below the recent peak is damped in proportion, so an anomaly scores highest where it
        starts; after a rare new peak the next REST_POINTS points are damped further, so a
        lasting anomaly is reported once, at its start, and not again at every point that is
        as rare.
        """
        if z > SURPRISE_CAP:
            z = SURPRISE_CAP
        elif z < -SURPRISE_CAP:
            z = -SURPRISE_CAP
        sustained = self._sustained + SUSTAINED_RATE * (z - self._sustained)
        self._sustained = sustained
        recent = self._recent
        recent[self._seen % SHIFT_POINTS] = shift_z
        shift = abs(sorted(recent)[SHIFT_POINTS // 2])
        size = -z if z < 0 else z
        self._volatility += VOLATILITY_RATE * (
            (size if size < VOLATILITY_CAP else VOLATILITY_CAP) - self._volatility
        )
        surprise = max(
            (self._volatility - NORMAL_ABSOLUTE_Z) / VOLATILITY_NORM,
            POINT_WEIGHT * abs(z),
            POINT_WEIGHT * SUSTAINED_NORM * abs(sustained),
            shift if shift < SURPRISE_CAP else SURPRISE_CAP,
            STUCK_SURPRISE if stuck else 0.0,
        )
        index = 0
        if surprise > 0.5:
            index = int(SURPRISE_BINS_PER_DOUBLING * math.log2(surprise / 0.5))
            if index >= SURPRISE_BINS:
                index = SURPRISE_BINS - 1
        counts = self._surprise_counts
        weight = self._surprise_weight
        total = self._surprise_total
        half = 0.5 * counts[index]
        if index < SURPRISE_BINS // 2:  # the shorter of the two sums: what lies below
            tail = total - sum(counts[:index]) - half
        else:
            tail = sum(counts[index + 1 :]) + half
        prior = 1.0 / (1.0 + surprise * surprise)
        if total > 0.0:  # the prior weighs more where surprises are routine
            weight += weight * SURPRISE_PRIOR_POINTS * (total - counts[0]) / total
        share = (tail + prior * weight) / (total + weight)
        self._remember_surprise(index)
        level = -math.log10(share) if share > 1e-15 else 15.0
        peak = self._peak
        self._peak = peak * PEAK_DECAY if peak * PEAK_DECAY > level else level
        if self._resting:
            self._resting -= 1
            return (1.0 - share) * REST_DAMPING
        if level >= peak and level > REST_LEVEL:
            self._resting = REST_POINTS
        if level < peak:
            return (1.0 - share) * level / peak
        return 1.0 - share

    def _record_score(self, value: float, residual: float, score: float) -> float:
        """The score, raised for a new record: a value beyond the range of every value the
        series had before, or a forecast error larger than every one before (both after
        RECORD_AFTER points), is at least as rare as 1 in 10^2.7, or as 2 in the number of
        points seen when that is rarer, and rarer by a factor of 10 per two old range widths
        (or old largest errors) beyond it.

        The surprise above measures a deviation against the forecast's recent errors, so a
        series that often swings wildly needs a wilder swing to score high; but the highest
        value it ever had, or its forecast's worst miss, is rare whatever its noise (a cost
        per click twice as high as ever, a daily peak at half its usual height). Only ops
        series: a growing shop sets records every good week. Like any new peak, a record
        starts the rest of the points after it.
        """
        points = self._range_points
        self._range_points = points + 1
        low, high = self._range_low, self._range_high
        if points == 0:
            self._range_low = self._range_high = value
            return score
        width = high - low
        excess = 0.0
        if value > high:
            self._range_high = value
            excess = (value - high) / width if width > 0.0 else 0.0
        elif value < low:
            self._range_low = value
            excess = (low - value) / width if width > 0.0 else 0.0
        if points >= CLIP_AFTER:  # the first forecasts are guesses, not errors to beat
            size = -residual if residual < 0.0 else residual
            largest = self._largest_error
            if size > largest:
                self._largest_error = size
                beyond = (size - largest) / largest if largest > 0.0 else 0.0
                if beyond > ERROR_RECORD_MARGIN and beyond > excess:
                    excess = beyond
        if points < RECORD_AFTER or excess <= RECORD_MARGIN:
            return score
        level = math.log10(points / 2.0)
        level = (level if level > RECORD_LEVEL else RECORD_LEVEL) + excess / 2.0
        record = 1.0 - 10.0**-level if level < 15.0 else 1.0 - 1e-15
        if record <= score:
            return score
        last = self._last_record
        self._last_record = points
        if points - last <= RECORD_GAP:  # the same excursion, still going: reported already
            return score
        if level >= self._peak:  # the record starts an anomaly: the points after it rest
            self._resting = REST_POINTS
            self._peak = level
        return record

    def _remember_surprise(self, index: int) -> None:
        """Count the surprise; older counts weigh less (each new one weighs a bit more).

        While resting after a reported anomaly a point counts REST_COUNT and does not age the
        histogram: a lasting anomaly must neither teach that such surprises are common nor
        push the normal points out of its memory, or the next anomaly would score lower.
        """
        weight = self._surprise_weight
        if self._resting:
            self._surprise_counts[index] += REST_COUNT * weight
            self._surprise_total += REST_COUNT * weight
            return
        self._surprise_counts[index] += weight
        self._surprise_total += weight
        weight /= 1.0 - 1.0 / SURPRISE_MEMORY
        if weight > 1e6:
            self._surprise_counts = [count / weight for count in self._surprise_counts]
            self._surprise_total /= weight
            weight = 1.0
        self._surprise_weight = weight

    def _evidence_alert(
        self,
        value: float,
        expected: float,
        lagged: bool,
        rhythm: float,
        lift: float,
        variance: float,
        hour: int,
        daily_slot: int,
        elapsed: float,
        stuck: bool,
    ) -> int:
        """Money and counts: fire while the recent points are too unlikely under the
        expected rate (or the series is stuck), for ALERT_MIN_SECONDS (at least a point);
        evidence below from a window of at least that many points has lasted that long
        already and fires at once (not a sparse count's: its windows hold a few events).
        Evidence below past BUILDING of the threshold is building up (`_building`): its
        points are learnt like an outage's once the forecast is at or below the rhythm.

        Kinds of evidence, each against the band's sigmas as a normal z:
        - The sum over the last ~1, 8, 16 and 64 minutes, judged as an overdispersed Poisson
          count: a series whose variance is `dispersion` times its mean counts
          `value / dispersion` effective events (orders of EUR 60 on average make a minute of
          EUR 300 about 2-3 events; a count is itself), and the evidence is the Poisson
          deviance of the window's effective events against the expected ones. One empty
          minute of a sparse series is no evidence; an empty hour at a busy time is. How far
          each window's sum strays beyond that (the forecast's slow errors add up over a
          window) is learnt per hour of the day. Above the expected rate each point counts
          at most ALERT_CLIP sigmas, so one big order never pages; a window counts only
          while the next shorter one is on the same side, so an alert ends soon after the
          series recovers. For a sparse count (under SPARSE_EVENTS a point at its busiest
          hour) each window's expected sum takes the seasonal forecast's offset as it was
          when the window began (at most the offset's bound here): its offset follows
          an outage of ~0.4 sign-ups a minute down over the hour it needs to be evidence.
          Above, each window's expected sum takes a negative offset (`lift`, per point) as
          zero: evidence above must be above the rhythm, and an afternoon back at it after
          a quiet morning (a holiday) is not. And above, the 64-minute window is no
          evidence: a surge shows in 16 minutes, an hour a third busier than usual (a
          holiday's weekend curve in the afternoon, a good day) is not an incident.
        - A run of exact zeros where zeros are rare at this time of day on a day as busy
          as usual: -ln P of the run, from the share of zeros learnt per hour of the day.
          Three empty minutes at 08:00 of a shop selling 5 orders a minute page.
        - A sparse count's silence (`_silence`, `rhythm` is its seasonal forecast without
          the offset; -inf for any other series).
        """
        typical = self._mean_hourly[hour]
        mean = expected if expected > 0.0 else 0.0
        quantum_variance = self._quantum * self._quantum
        if variance < quantum_variance:
            variance = quantum_variance
        # the size of one event: the variance over the mean of this hour's values
        least = self._quantum if self._quantum > 1e-12 else 1e-12
        dispersion = variance / (typical if typical > least else least)
        if self._count_kind and dispersion < 1.0:
            dispersion = 1.0
        elif dispersion < 1e-12:
            dispersion = 1e-12
        ceiling = mean + ALERT_CLIP * math.sqrt(variance)
        slot = self._next_evidence_slot()
        totals_value, totals_capped = self._totals_value, self._totals_capped
        totals_expected, totals_variance = self._totals_expected, self._totals_variance
        total_value = totals_value[slot] = self._total_value = self._total_value + value
        total_capped = totals_capped[slot] = self._total_capped = self._total_capped + (
            value if value < ceiling else ceiling
        )
        total_expected = totals_expected[slot] = self._total_expected = self._total_expected + mean
        # the point's variance follows its expected value within the hour (a ramp), from half
        # to 4 times the hour's (a quiet hour's lumps do not make its busy minutes uncertain,
        # and a forecast of nothing is still a forecast with its errors)
        point_variance = dispersion * mean
        if point_variance > 4.0 * variance:
            point_variance = 4.0 * variance
        elif point_variance < 0.5 * variance:
            point_variance = 0.5 * variance
        total_variance = totals_variance[slot] = self._total_variance = (
            self._total_variance + point_variance
        )
        totals_offset, offsets = self._totals_offset, self._offsets
        total_offset = bound = 0.0
        if self._count_kind:  # (only a count can be sparse)
            offset = offsets[slot] = self._offset
            total_offset = totals_offset[slot] = self._total_offset = self._total_offset + offset
            # an offset learnt at a busier hour counts only up to the offset's bound here
            bound = OFFSET_SIGMAS * math.sqrt(self._error_hourly[hour])
        limit = self._band_sigmas
        if self._outside_run >= self._alert_points:  # firing: it ends on weaker evidence
            limit *= ALERT_HOLD
        limit_squared = limit * limit
        # while firing the sums still teach how far they stray, but at most 3 sigmas of the
        # point noise each: a forecast that is wrong at this hour every day stops paging, an
        # outage cannot teach more than that
        quiet = self._outside_run == 0
        days = elapsed / DAY
        learn_rate = (1.0 / days if days * DAILY_RATE < 1.0 else DAILY_RATE) if days > 1 else 1.0
        learn_rate /= self._hour_visit_points
        spreads, scales = self._excess_spread, self._excess_scale
        windows = self._windows
        least_expected = EVIDENCE_FLOOR * dispersion
        least_variance = least_expected * dispersion
        sign = 2 if stuck else 0
        share = self._zero_hourly[hour]
        if value == 0.0 and share < ZERO_SHARE_RARE and 2.0 * mean >= typical:  # -ln P of the run
            self._zeros_surprise -= math.log(
                share if share > ZERO_SHARE_FLOOR else ZERO_SHARE_FLOOR
            )
            if not sign and 2.0 * self._zeros_surprise > limit_squared:
                sign = -1
        else:
            self._zeros_surprise = 0.0
        if rhythm > -math.inf:  # a sparse count
            offset = self._offset if self._offset < 0.0 else 0.0
            if self._silence(value, rhythm, offset) > limit_squared and not sign:
                sign = -1
        elif self._silence_surprise:  # (no longer sparse: no silence is being judged)
            self._silence_surprise = 0.0
        if self._count_kind and self._same_run:  # -ln P of a count repeating this often
            events = mean if mean > EVIDENCE_FLOOR else EVIDENCE_FLOOR
            self._repeat_surprise += (
                events - value * math.log(events) + math.lgamma(value + 1.0)
            ) / dispersion
            if self._same_run >= STUCK_MIN_COUNTS and 2.0 * self._repeat_surprise > limit_squared:
                sign = 2
        else:
            self._repeat_surprise = 0.0
        lasting = False
        building = False
        half_below = half_above = True
        longest = hour * EVIDENCE_COUNT + EVIDENCE_COUNT - 1  # (below only: see the docstring)
        for index in range(hour * EVIDENCE_COUNT, hour * EVIDENCE_COUNT + EVIDENCE_COUNT):
            window = windows[index % EVIDENCE_COUNT]
            past = slot - window  # negative: from the end
            expected_sum = total_expected - totals_expected[past]
            if lagged:  # what was expected of the window before it began
                before = offsets[past] if offsets[past] < bound else bound
                expected_sum += window * before - (total_offset - totals_offset[past])
            residual = total_value - totals_value[past] - expected_sum
            spread_of_sum = total_variance - totals_variance[past]
            if spread_of_sum < least_variance:
                spread_of_sum = least_variance
            if expected_sum < least_expected:
                expected_sum = least_expected
            spread, scale = spreads[index], scales[index]
            excess = spread / scale if spread > scale > 0.0 else 1.0
            squared = residual * residual
            bound = EVIDENCE_LEARN_BOUND * (excess if quiet else 1.0) * spread_of_sum
            spreads[index] = spread + learn_rate * (
                (squared if squared < bound else bound) - spread
            )
            scales[index] = scale + learn_rate * (spread_of_sum - scale)
            if sign:
                continue
            wide = spread_of_sum * excess
            if residual < 0.0:
                if half_below and 2.0 * residual * residual > BUILDING * limit_squared * wide:
                    building = True
                if half_below and 2.0 * residual * residual > limit_squared * wide:
                    unit = wide / expected_sum  # the size of one effective event
                    observed = (expected_sum + residual) / unit
                    if _deviance(observed, expected_sum / unit) > limit_squared:
                        sign = -1
                        lasting = window >= self._alert_points
                half_below, half_above = True, False
            else:
                residual = total_capped - totals_capped[past] - expected_sum - lift * window
                if (
                    half_above
                    and index != longest
                    and residual > 0.0
                    and residual * residual > limit_squared * wide
                ):
                    unit = wide / expected_sum
                    observed = (expected_sum + residual) / unit
                    if _deviance(observed, expected_sum / unit) > limit_squared:
                        sign = 1
                half_below, half_above = False, residual > 0.0
        self._building = building and rhythm == -math.inf
        if sign == 1 and self._day_shift:  # back above the other day: its own rhythm returns
            sign = 0
        if lasting and rhythm == -math.inf:  # (a sparse count's windows keep the hold)
            self._hold_done(sign)
        return self._held(sign)

    def _next_evidence_slot(self) -> int:
        """Move the running totals' ring on by one point; the slot of this point."""
        slot = self._evidence_slot + 1
        if slot == EVIDENCE_SPAN:
            slot = 0
        self._evidence_slot = slot
        return slot

    def _silence_rhythm(
        self, rhythm: float, weekly_slot: int, timestamp: float, elapsed: float
    ) -> float:
        """A sparse count: the rate its silences are judged against, the seasonal forecast
        without its offset (`rhythm`) or, from the third week on, the mean of the last weeks
        at this time of the day judged by. A rhythm learnt from a few events per 5 minutes,
        its errors clipped, sits a third below the truth at 08:00 (0.3 sign-ups a minute
        where 0.47 come) and, at 10-second steps, at twice the truth on a Sunday's early
        morning (the weekday's rise in its daily profile); the plain mean of each 15 minutes
        of the week does neither (0.36-0.49 at 08:00)."""
        if elapsed < 2 * WEEK:
            return rhythm
        mean = self._week_mean_at(weekly_slot + self._day_shift * QUARTERS_A_DAY, timestamp)
        return mean if mean >= 0.0 else rhythm

    def _silence(self, value: float, rhythm: float, offset: float) -> float:
        """A sparse count: twice -ln P of the current run of zeros (comparable with a squared
        z), each zero as unlikely as a Poisson count at the seasonal forecast with the offset
        as it was when the run began (`rhythm` is the forecast without it, `offset` it now,
        at most 0), times the share of its forecast the last hour came to then (at most 1; a
        quiet hour tells little, so it counts SILENCE_PRIOR_EVENTS more events expected). The
        evidence fades over about two hours: a night's rhythm of a few sign-ups an hour is not
        known well enough to add up a whole night of it.

        Neither the forecast nor its offset as they are now enter: both follow an hour
        without sign-ups down while it is being judged. A run that began on a morning that
        was already quiet (a holiday) is judged against that morning, an outage after a
        normal morning against the rhythm."""
        rate = self._offset_rate
        observed = self._silence_observed = self._silence_observed + rate * (
            value - self._silence_observed
        )
        forecast = rhythm + offset
        expected = self._silence_expected = self._silence_expected + rate * (
            (forecast if forecast > 0.0 else 0.0) - self._silence_expected
        )
        if value:
            self._silence_surprise = 0.0
            self._silence_offset = offset
            expected += SILENCE_PRIOR_EVENTS * rate
            self._silence_share = observed / expected if expected > observed else 1.0
            return 0.0
        forecast = rhythm + self._silence_offset
        surprise = self._silence_surprise * (1.0 - SILENCE_DECAY * rate)
        if forecast > 0.0:
            surprise += self._silence_share * forecast
        self._silence_surprise = surprise
        return 2.0 * self._silence_surprise

    def _hold_done(self, sign: int) -> None:
        """Evidence below from a window at least as long as the alert's minimum duration has
        lasted that long already: the next `_held(sign)` fires, with no hold on top of it."""
        if sign != self._outside_sign or self._outside_run < self._alert_points - 1:
            self._outside_sign, self._outside_run = sign, self._alert_points - 1

    def _held(self, sign: int) -> int:
        """1 once `sign` (the side the point is outside on, 0 inside) has held for the alert's
        minimum number of points."""
        if sign and sign == self._outside_sign:
            self._outside_run += 1
        else:
            self._outside_run = 1 if sign else 0
        self._outside_sign = sign
        return 1 if self._outside_run >= self._alert_points else 0

    def _alert(self, z: float, stuck: bool, failures: bool | None = None) -> int:
        """Ratios and ops metrics: fire while the recent average deviation is beyond the band
        (or the series is stuck) for OPS_ALERT_MIN_SECONDS: one wild point moves the average
        by at most 0.7 sigmas, a few minutes far outside the band move it far. A ratio past
        its first day is below when `failures` says so instead (`_failure_deviance`)."""
        bounded = ALERT_CLIP if z > ALERT_CLIP else -ALERT_CLIP if z < -ALERT_CLIP else z
        self._alert_mean += ALERT_RATE * (bounded - self._alert_mean)
        deviation = self._alert_mean * ALERT_NORM
        limit = self._band_sigmas
        below = deviation < -limit if failures is None else failures
        sign = 2 if stuck else 1 if deviation > limit else -1 if below else 0
        return self._held(sign)

    def _limit_squared(self) -> float:
        """The square of the band's sigmas, or of 80 % of them while an alert fires."""
        limit = self._band_sigmas
        if self._outside_run >= self._alert_points:
            limit *= ALERT_HOLD
        return limit * limit

    def _repeats(self, timestamp: float, value: float, hour: int, elapsed: float) -> bool:
        """A ratio: whether its current run of points that each repeat the value of the point
        right before (an interval before: a minute without payments, skipped, ends a run) is
        too unlikely at this time of day, and so stuck (a flat-lined exporter).

        A 1 (every payment went through) is routine in a night's minute of one payment, and
        improbable minute after minute at a busy hour (all of ~10 payments go through in
        three minutes of four); a repeat of any other exact value is rarer still. So the
        share of points that repeat the one before is learnt per hour of the day, after a 1
        and after any other value, and a run is judged by -ln P of its repeats under the
        larger of its hour's share and the share over about the last REPEAT_RECENT_POINTS
        points before it began (a Sunday noon or a holiday morning, quieter than the hour
        usually is, repeats 1 more often), at least REPEAT_SHARE_FLOOR. Thousands of runs
        begin every week, so a run must be REPEAT_EVIDENCE times as unlikely as the
        evidence of money and counts (e^-15 at medium). The repeats of a run that is
        evidence teach its hour a tenth as fast: an exporter stuck for hours must not teach
        that 1 is routine at that hour before it pages again the next day."""
        after_other = 1 if self._last_value < self._upper_bound else 0
        repeated = (
            value == self._last_value and timestamp - self._last_timestamp < 1.5 * self._interval
        )
        hourly, recent = self._repeat_hourly, self._repeat_recent
        index = 2 * hour + after_other
        if repeated:
            share = hourly[index] if hourly[index] > self._repeat_share else self._repeat_share
            if share < REPEAT_SHARE_FLOOR:
                share = REPEAT_SHARE_FLOOR
            self._repeat_surprise -= math.log(share)
        else:  # a new run begins, judged against the recent share too
            self._repeat_surprise = 0.0
            self._repeat_share = recent[1 if value < self._upper_bound else 0]
        evidence = 2.0 * self._repeat_surprise > REPEAT_EVIDENCE * self._limit_squared()
        rate = DAY / elapsed if elapsed > DAY else 1.0
        if rate < DAILY_RATE:
            rate = DAILY_RATE
        rate /= self._hour_visit_points
        if evidence:
            rate *= ZERO_RUN_LEARNING
        hourly[index] += rate * (repeated - hourly[index])
        recent[after_other] += (repeated - recent[after_other]) / REPEAT_RECENT_POINTS
        return evidence

    def _failure_deviance(self, value: float, expected: float, variance: float, hour: int) -> float:
        """A ratio: the evidence (a Poisson deviance, comparable with a squared z) that its
        shortfall from 1, the failed payments, over the last 1, 4, 8, 16 or 64 points is
        more than expected, judged like the evidence of money and counts. A point's
        expected shortfall is the forecast's (`expected`), less the forecast's mean error at
        this hour (it sits near 0.99 at night where 97 % of the payments go through: its
        learning clips the rare failures); the hour's variance over it is the size of one
        failure (a whole event in a night's minute of one payment, an eighth in a busy
        minute of 8). Each point counts at most RATIO_POINT_CAP of the hour's sigmas above
        it, and a window counts only while the next shorter one (from 4 points) is above
        its expected sum too, so an alert ends a few minutes after the failures do.

        Failures are rare events, far from normal: one failed payment in each of six
        minutes of 6 payments is ~1 in 1,000 as a count (6 where 1.1 are usual), common on
        a busy day, yet the ratio's average z over them paged (0.44 times a series-week on
        the bench); a provider failing 30 % of 7 payments a minute is ~1 in 300,000 within 4
        minutes. The counts are not seen, so a ratio over 2 payments and one over 2,000 are
        told apart only by that hour's variance."""
        mean = 1.0 - expected - self._mean_hourly[hour]
        if mean < 1e-9:
            mean = 1e-9
        size = variance / mean
        if size < 1e-12:
            size = 1e-12
        shortfall = 1.0 - value
        ceiling = mean + RATIO_POINT_CAP * math.sqrt(variance)
        slot = self._next_evidence_slot()
        totals_value, totals_expected = self._totals_value, self._totals_expected
        total_value = totals_value[slot] = self._total_value = (
            self._total_value + (shortfall if shortfall < ceiling else ceiling) / size
        )
        total_expected = totals_expected[slot] = self._total_expected = (
            self._total_expected + mean / size
        )
        strongest = 0.0
        for window in RATIO_WINDOWS:
            past = slot - window
            observed = total_value - totals_value[past]
            expected_sum = total_expected - totals_expected[past]
            if observed <= expected_sum:
                if window == 1:
                    continue
                break
            if expected_sum < EVIDENCE_FLOOR:
                expected_sum = EVIDENCE_FLOOR
            deviance = _deviance(observed, expected_sum)
            if deviance > strongest:
                strongest = deviance
        return strongest

    def _learn(
        self,
        timestamp: float,
        value: float,
        expected_seasonal: float,
        seasonal: bool,
        unusual: bool,
        firing: bool,
        daily_slot: int,
        weekly_slot: int,
        hour: int,
    ) -> None:
        """Learn from the point, with residuals clipped so outliers barely move anything."""
        seen = self._seen
        self._seen = seen + 1
        self._last_timestamp = timestamp
        self._last_value = value
        if seen == 0:
            return
        quantum = self._quantum
        sigma_seasonal = MEAN_ABSOLUTE_TO_SIGMA * self._error_seasonal
        sigma_plain = MEAN_ABSOLUTE_TO_SIGMA * self._error_plain
        limit_seasonal = CLIP * (sigma_seasonal if sigma_seasonal > quantum else quantum)
        limit_plain = CLIP * (sigma_plain if sigma_plain > quantum else quantum)
        if seen < CLIP_AFTER or limit_seasonal <= 0:
            limit_seasonal = math.inf
        if seen < CLIP_AFTER or limit_plain <= 0:
            limit_plain = math.inf
        elapsed = timestamp - self._first_timestamp
        plain = self._plain

        # the errors, which scale surprises and choose the forecast
        seasonal_error = _clip(value - expected_seasonal, limit_seasonal)
        plain_error = _clip(value - plain, limit_plain)
        rate = 1.0 / seen if seen < 1 / ERROR_RATE else ERROR_RATE
        self._error_seasonal += rate * (abs(seasonal_error) - self._error_seasonal)
        self._error_plain += rate * (abs(plain_error) - self._error_plain)
        rate = DAY / elapsed if elapsed > DAY else 1.0
        if rate < DAILY_RATE:
            rate = DAILY_RATE
        chosen = seasonal_error if seasonal else plain_error
        typical_value = (expected_seasonal if seasonal else plain) + chosen
        if self._ratio_kind:  # (its "typical value" is the seasonal forecast's mean error)
            typical_value = seasonal_error
            if not firing:
                # a ratio's errors are skewed (mostly a little above, now and then far below:
                # a failed payment of one at night is 5-6 sigmas), so clipping them learnt a
                # sigma a third of the real one at night; it is bounded anyway, and only a
                # firing alert's points are clipped
                chosen = value - (expected_seasonal if seasonal else plain)
                typical_value = value - expected_seasonal
        # business series are lumpy (orders), so their scale is a root mean square; ops
        # series have bursts, so theirs is a mean absolute error
        chosen = chosen * chosen if self._business_kind else abs(chosen)
        hourly = self._error_hourly
        hourly[hour] += rate / self._hour_visit_points * (chosen - hourly[hour])
        if self._business_kind:  # the hour's mean value (error), each clipped like the errors
            typical = self._mean_hourly
            typical[hour] += rate / self._hour_visit_points * (typical_value - typical[hour])
        if self._zero_when_absent:
            here = self._error_daily
            here[daily_slot] += rate / self._daily_visit_points * (chosen - here[daily_slot])
            if 2.0 * (expected_seasonal if seasonal else plain) >= typical[hour] and not (
                self._day_shift
            ):
                # the share of zeros on days as busy as usual at this time (not weekends, nor a
                # day judged as another)
                # (a zero in a run that is evidence teaches a tenth: an outage must not teach
                # that zeros are common before it pages)
                zeros = self._zero_hourly
                zero_rate = rate / self._hour_visit_points
                if self._zeros_surprise:
                    zero_rate *= ZERO_RUN_LEARNING
                zeros[hour] += zero_rate * ((value == 0.0) - zeros[hour])
        self._learn_choice(value, elapsed, seasonal_error, limit_plain, unusual)
        level_error = seasonal_error
        level_limit = limit_seasonal
        if unusual and self._zero_when_absent:
            # an outage is not the baseline: a point of money or counts outside the band, or
            # while the alert fires, moves the plain forecast, the offset and the daily profile
            # by at most 1 sigma (the error scales took it at 3, and the weekly correction
            # the rest: both must still learn a holiday or a weekday's own shape)
            level_limit = UNUSUAL_CLIP / CLIP * limit_seasonal
            level_error = _clip(seasonal_error, level_limit)
            plain_error = _clip(plain_error, UNUSUAL_CLIP / CLIP * limit_plain)

        # the plain forecast and the slow reference
        self._plain = plain + self._plain_rate * plain_error
        self._slow += SLOW_RATE * _clip(value - self._slow, limit_plain)

        # the seasonal forecast: base + daily profile + weekly correction + offset
        daily = self._daily[daily_slot]
        weekly = self._weekly[weekly_slot]
        base_rate = max(1.0 / seen, self._interval / DAY)
        self._base += base_rate * _clip(value - self._base - daily - weekly, limit_seasonal)
        deviation = _clip(value - self._base - weekly - daily, limit_seasonal)
        days = elapsed / DAY
        daily_rate = DAILY_RATE if days * DAILY_RATE > 1.0 else 1.0 / max(days, 1.0)
        learnt_daily = (
            daily_rate
            / self._daily_visit_points
            * (deviation if level_limit == limit_seasonal else _clip(deviation, level_limit))
        )
        self._daily[daily_slot] = daily + learnt_daily
        if elapsed > self._weekly_after:
            # the weekly correction learns only what the daily profile did not just learn:
            # on the second day the profile takes nearly all of a deviation, and both taking
            # it whole left a lasting error in that slot of the week (a night slot learnt
            # before the base had settled paged two weeks later)
            weeks = elapsed / WEEK if elapsed > WEEK else 1.0
            weekly_rate = WEEKLY_RATE if weeks * WEEKLY_RATE > 1.0 else 1.0 / weeks
            self._weekly[weekly_slot] = weekly + weekly_rate / self._weekly_visit_points * (
                deviation - learnt_daily
            )
        offset = self._offset + self._offset_rate * level_error
        if self._zero_when_absent and elapsed > DAY:  # (hourly holds a mean square here)
            bound = OFFSET_SIGMAS * math.sqrt(hourly[hour])
            if offset > bound:
                offset = bound
        self._offset = offset

    def _learn_choice(
        self,
        value: float,
        elapsed: float,
        seasonal_error: float,
        limit_plain: float,
        unusual: bool,
    ) -> None:
        """Compare the seasonal forecast with the plain forecast made 10 points earlier, on
        points inside the band and not alerting (an outage must not teach which forecast is
        better), and
        switch forecasts only on a clear difference."""
        slot = self._seen % CHOICE_HORIZON
        ahead_error = _clip(value - self._plain_history[slot], limit_plain)
        self._plain_history[slot] = self._plain + self._plain_rate * _clip(
            value - self._plain, limit_plain
        )
        if elapsed < DAY or unusual:
            return
        if self._ratio_kind:
            # a ratio (payment success) is flat, so following the last points looks as good
            # as the rhythm, and would follow a failing provider down: it stays seasonal
            self._seasonal_chosen = True
            return
        self._compared += 1
        rate = max(CHOICE_RATE, 1.0 / self._compared)
        self._choice_seasonal += rate * (abs(seasonal_error) - self._choice_seasonal)
        self._choice_plain += rate * (abs(ahead_error) - self._choice_plain)
        ratio = self._choice_seasonal / self._choice_plain if self._choice_plain else 1.0
        if ratio < 1.0 - CHOICE_MARGIN:
            self._seasonal_chosen = True
        elif ratio > 1.0 + CHOICE_MARGIN:
            self._seasonal_chosen = False


# What `__init__` derives from the kind and sensitivity is not saved; the rest is.
_DERIVED = (
    "_alert_min_points",
    "_alert_min_seconds",
    "_band_sigmas",
    "_business_kind",
    "_busiest_hour",
    "_count_kind",
    "_day_levels",
    "_levels_day",
    "_lower_bound",
    "_plain_rate",
    "_ratio_kind",
    "_stuck_min_points",
    "_upper_bound",
    "_weekly_after",
    "_weekly_slot",
    "_windows",
    "_warmup_seconds",
    "_zero_when_absent",
    "kind",
    "sensitivity",
)
_LEARNT = tuple(name for name in Detector.__slots__ if name not in _DERIVED)


def _deviance(observed: float, expected: float) -> float:
    """The Poisson deviance of `observed` events where `expected` were expected: the square
    of a normal z with about the same tail probability (-ln p is about half of it)."""
    if observed <= 0.0:
        return 2.0 * expected
    return 2.0 * (observed * math.log(observed / expected) - observed + expected)


def _clip(residual: float, limit: float) -> float:
    if residual > limit:
        return limit
    if residual < -limit:
        return -limit
    return residual

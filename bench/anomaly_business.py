"""Synthetic business series with injected incidents: does `fullcycle.anomaly` page in time,
and only then?

Four series a shop has, sampled every minute for six weeks: revenue (EUR per minute, orders of
log-normal size, so single big orders happen), order count (Poisson, zero at night), sign-ups
(sparse counts) and payment success ratio (binomial, unknown when there are no payments).
Each has a daily curve, a weekend curve and 2% weekly growth; benign events that must not page
(a public holiday with a weekend curve, the daily curve moving 30 minutes later, a 5,000 EUR
order) and, in the last two weeks, incidents that must page: a one-hour outage at 08:00, a
partial drop, a surge, a lasting level drop, a flat-lined exporter and an hour of missing rows.

Reports, per series kind and overall: incidents caught (an alert between their start and end),
detection delay (median, p90, minutes) and false alarms (alert onsets outside incidents) per
week after the first (the detector learns the weekly rhythm in that week and does not page);
then, per kind of incident over all series, how many were caught and their median and longest
delay.
Five seeds; the same seeds every run. `--false-alarms` also lists every false alarm (series,
seed, when, how long it fired).

    .venv/bin/python bench/anomaly_business.py [--seeds 5] [--false-alarms]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import statistics
import time
from dataclasses import dataclass

import numpy as np

from fullcycle.anomaly import Detector, MetricKind

MINUTE = 60.0
DAY_MINUTES = 1440
WEEKS = 6
START = 1_704_067_200.0  # Monday 2024-01-01 00:00 UTC
AFTERMATH_MINUTES = 120  # alerts this soon after an incident ends belong to it
WARMUP_WEEKS = 1  # the detector does not page on business series in its first week


@dataclass(frozen=True)
class Incident:
    name: str
    start: int  # minute index
    minutes: int


def daily_curve(minute_of_day: np.ndarray, weekend: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Orders per minute at a mid-sized shop: quiet at night, peaks at lunch and evening."""
    hour = (minute_of_day - shift) / 60.0 % 24
    weekday = 0.3 + 6 * np.exp(-((hour - 12.5) ** 2) / 6) + 8 * np.exp(-((hour - 20) ** 2) / 5)
    weekday += 5 * np.clip((hour - 6) / 1.5, 0, 1) * (hour < 22)
    saturday = 0.3 + 9 * np.exp(-((hour - 15) ** 2) / 12) + 6 * np.exp(-((hour - 20.5) ** 2) / 4)
    return np.where(weekend, saturday, weekday)


def order_rate(seed: int) -> tuple[np.ndarray, list[Incident]]:
    """Expected orders per minute with the benign events in; the incidents to inject."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(WEEKS * 7 * DAY_MINUTES)
    day = minutes // DAY_MINUTES
    holiday = 7 * 3 + 2  # a Wednesday in week 4, with a weekend curve
    weekend = (day % 7 >= 5) | (day == holiday)
    shift = np.where(day >= 7 * 3 + 4, 30.0, 0.0)  # the curve moves 30 min later from day 25
    rate = daily_curve(minutes % DAY_MINUTES, weekend, shift)
    rate *= 1.02 ** (minutes / (7 * DAY_MINUTES))
    incidents = []
    for name, minutes_long, hour in (
        ("outage at 08:00", 60, 8.0),
        ("partial drop", 45, 12.0),
        ("surge", 30, 16.0),
        ("level drop", 360, 11.0),
        ("flat-lined exporter", 120, 13.0),
        ("missing rows", 60, 19.0),
    ):
        day_index = 7 * 4 + len(incidents) * 2 + int(rng.integers(0, 2))
        start = int(day_index * DAY_MINUTES + hour * 60 + rng.integers(0, 30))
        incidents.append(Incident(name, start, minutes_long))
    return rate, incidents


def series(kind: str, seed: int) -> tuple[np.ndarray, list[Incident]]:
    """One series of the kind, incidents applied; NaN marks a minute without rows."""
    rate, incidents = order_rate(seed)
    rng = np.random.default_rng(seed + 1000)
    factor = np.ones_like(rate)
    for incident in incidents:
        span = slice(incident.start, incident.start + incident.minutes)
        factor[span] = {"outage at 08:00": 0.0, "partial drop": 0.4, "surge": 3.0}.get(
            incident.name, 0.6 if incident.name == "level drop" else 1.0
        )
    orders = rng.poisson(rate * factor)
    if kind == "revenue":
        amounts = rng.lognormal(np.log(45.0), 0.8, size=orders.sum())
        values = np.bincount(np.repeat(np.arange(len(orders)), orders), amounts, len(orders))
        values[20 * DAY_MINUTES + 15 * 60] += 5_000.0  # one big order: benign
    elif kind == "orders":
        values = orders.astype(float)
    elif kind == "signups":
        values = rng.poisson(rate * factor * 0.08).astype(float)
    else:
        failing = next(i for i in incidents if i.name == "partial drop")
        success = np.full(len(rate), 0.97)
        success[failing.start : failing.start + failing.minutes] = 0.7
        paid = rng.binomial(orders, success)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(orders > 0, paid / orders, np.nan)
    for incident in incidents:
        span = slice(incident.start, incident.start + incident.minutes)
        if incident.name == "flat-lined exporter":
            values[span] = values[incident.start - 1]
        elif incident.name == "missing rows":
            values[span] = np.nan
    if kind == "ratio":  # a failing payment provider is the ratio's incident
        incidents = [i for i in incidents if i.name in ("partial drop", "flat-lined exporter")]
        incidents[0] = Incident("payments failing", incidents[0].start, incidents[0].minutes)
    return values, incidents


KINDS = {
    "revenue": MetricKind.MONEY,
    "orders": MetricKind.COUNT,
    "signups": MetricKind.COUNT,
    "ratio": MetricKind.RATIO,
}


def alerts(kind: str, values: np.ndarray) -> tuple[np.ndarray, float]:
    """The alert column for the series, and the seconds the detector took."""
    detector = Detector(KINDS[kind])
    fired = np.zeros(len(values), dtype=bool)
    started = time.process_time()
    for minute, value in enumerate(values.tolist()):
        absent = value != value  # NaN: no rows this minute, as a query over the store sees it
        point = detector.update(START + minute * MINUTE, None if absent else value)
        fired[minute] = point.alert == 1
    return fired, time.process_time() - started


def evaluate(kind: str, seed: int) -> tuple[list[tuple[str, float | None]], list[str], float]:
    """The incidents with their delays (None: missed), the false alarms described, and the
    detector's seconds."""
    values, incidents = series(kind, seed)
    fired, seconds = alerts(kind, values)
    caught: list[tuple[str, float | None]] = []
    expected = np.zeros(len(values), dtype=bool)
    for incident in incidents:
        end = incident.start + incident.minutes
        expected[incident.start : end + AFTERMATH_MINUTES] = True
        hits = np.flatnonzero(fired[incident.start : end + 1])
        caught.append((incident.name, float(hits[0]) if len(hits) else None))
    onsets = np.flatnonzero(fired[1:] & ~fired[:-1]) + 1
    onsets = onsets[onsets >= WARMUP_WEEKS * 7 * DAY_MINUTES]
    ends = np.flatnonzero(fired[:-1] & ~fired[1:]) + 1
    false_alarms = []
    for onset in onsets[~expected[onsets]].tolist():
        later = ends[ends > onset]
        end = int(later[0]) if len(later) else len(fired)
        when = datetime.datetime.fromtimestamp(START + onset * MINUTE, datetime.UTC)
        false_alarms.append(f"{when:%a %d %b %H:%M}, {end - onset} min")
    return caught, false_alarms, seconds


def ewma_baseline(values: list[float]) -> float:
    """The cheapest useful per-point Python work, for scale: one EWMA update per call."""

    class Ewma:
        __slots__ = ("level",)

        def __init__(self) -> None:
            self.level = 0.0

        def update(self, timestamp: float, value: float) -> float:
            self.level += 0.1 * (value - self.level)
            return self.level

    model = Ewma()
    started = time.process_time()
    for minute, value in enumerate(values):
        model.update(START + minute * MINUTE, value)
    return time.process_time() - started


def speed(kind: MetricKind, rounds: int = 3) -> None:
    """Points per CPU second (process time, so other load on the machine does not count)
    scoring an existing series of `kind`: learn 4 weeks of revenue, then time 2 more; the best
    of `rounds` (each from the same learnt state), as timeit reports, since single runs here
    vary by a tenth."""
    values, _ = series("revenue", 0)
    split = 4 * 7 * DAY_MINUTES
    detector = Detector(kind)
    for minute, value in enumerate(values[:split].tolist()):
        detector.update(START + minute * MINUTE, value)
    learnt = detector
    timed = values[split:].tolist()
    seconds = float("inf")
    for _ in range(rounds):
        detector = copy.deepcopy(learnt)
        started = time.process_time()
        for minute, value in enumerate(timed, start=split):
            detector.update(START + minute * MINUTE, value)
        seconds = min(seconds, time.process_time() - started)
    baseline = ewma_baseline(timed)
    print(
        f"speed ({kind.value}): {len(timed) / seconds:,.0f} points/s on one core scoring an "
        f"existing series ({len(detector.state()):,} bytes of state); a bare EWMA update per "
        f"point: {len(timed) / baseline:,.0f} points/s (ratio {baseline / seconds:.2f}); "
        f"load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--false-alarms", action="store_true", help="list every false alarm")
    args = parser.parse_args()
    speed(MetricKind.MONEY)
    speed(MetricKind.OPS)
    weeks = args.seeds * (WEEKS - WARMUP_WEEKS)
    print(f"{args.seeds} seeds x {WEEKS} weeks per series, one point a minute")
    print(f"{'series':10} {'caught':>8} {'median':>7} {'p90':>6} {'false/wk':>9}  missed")
    all_delays: list[float] = []
    by_incident: dict[str, list[float | None]] = {}
    total_caught = total = total_false = 0
    listed: list[str] = []
    for kind in KINDS:
        delays: list[float] = []
        missed: dict[str, int] = {}
        false_alarms = 0
        count = 0
        for seed in range(args.seeds):
            caught, false, _ = evaluate(kind, seed)
            false_alarms += len(false)
            listed += [f"{kind:10} seed {seed}  {alarm}" for alarm in false]
            for name, delay in caught:
                by_incident.setdefault(name, []).append(delay)
                count += 1
                if delay is None:
                    missed[name] = missed.get(name, 0) + 1
                else:
                    delays.append(delay)
        total += count
        total_caught += len(delays)
        total_false += false_alarms
        all_delays += delays
        print(
            f"{kind:10} {len(delays):>3}/{count:<4} {_quantile(delays, 0.5):>7} "
            f"{_quantile(delays, 0.9):>6} {false_alarms / weeks:>9.2f}  "
            + ", ".join(f"{name} x{n}" for name, n in sorted(missed.items()))
        )
    print(
        f"{'all':10} {total_caught:>3}/{total:<4} {_quantile(all_delays, 0.5):>7} "
        f"{_quantile(all_delays, 0.9):>6} {total_false / (weeks * len(KINDS)):>9.2f}"
    )
    if args.false_alarms:
        print("\nfalse alarms (series, seed, onset, minutes firing)")
        print("\n".join(listed))
    print(f"\n{'incident (all series)':24} {'caught':>8} {'median':>7} {'max':>5}")
    for name, delays in by_incident.items():
        found = [delay for delay in delays if delay is not None]
        longest = f"{max(found):.0f}" if found else "-"
        print(f"{name:24} {len(found):>3}/{len(delays):<4} {_quantile(found, 0.5):>7} {longest:>5}")


def _quantile(values: list[float], q: float) -> str:
    if not values:
        return "-"
    return (
        f"{statistics.quantiles(values, n=10, method='inclusive')[int(q * 10) - 1]:.0f}"
        if len(values) > 1
        else f"{values[0]:.0f}"
    )


if __name__ == "__main__":
    main()

"""The anomaly detector as a user of `fullcycle.anomaly` sees it: points in, verdicts out."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from fullcycle.anomaly import Detector, MetricKind, Point, Sensitivity

MINUTE = 60.0
DAY = 86_400.0
MONDAY = 1_704_067_200.0  # 2024-01-01 00:00 UTC


def shop_revenue(minute: int, rng: random.Random) -> float:
    """EUR per minute at a shop: ~EUR 4,000 between 8 and 9, nothing at 3 am; now and then
    a bigger order on top."""
    hour = minute / 60 % 24
    level = 70 * math.exp(-((hour - 8.5) ** 2) / 4) + 60 * math.exp(-((hour - 19) ** 2) / 6)
    many_small_orders = rng.gauss(level, 0.15 * level) if level > 1 else 0.0
    one_order = rng.uniform(20, 40) if rng.random() < level / 200 else 0.0
    return max(0.0, many_small_orders) + one_order


def learned_shop(days: int = 21, seed: int = 1) -> tuple[Detector, list[Point], random.Random]:
    rng = random.Random(seed)
    detector = Detector(MetricKind.MONEY)
    points = [
        detector.update(MONDAY + minute * MINUTE, shop_revenue(minute, rng))
        for minute in range(days * 1440)
    ]
    return detector, points, rng


@pytest.fixture(scope="module")
def shop() -> tuple[Detector, list[Point]]:
    detector, points, _ = learned_shop()
    return detector, points


def normal_day_until(detector: Detector, hour: int) -> int:
    """Feed day 22 as usual up to `hour`; the minute index reached."""
    rng = random.Random(11)
    start = 21 * 1440
    for minute in range(start, start + hour * 60):
        detector.update(MONDAY + minute * MINUTE, shop_revenue(minute, rng))
    return start + hour * 60


def run_zeros(detector: Detector, start_minute: int, minutes: int) -> list[Point]:
    return [
        detector.update(MONDAY + minute * MINUTE, 0.0)
        for minute in range(start_minute, start_minute + minutes)
    ]


def test_three_weeks_of_a_normal_shop_do_not_page(shop: tuple[Detector, list[Point]]) -> None:
    _, points = shop
    assert sum(point.alert for point in points[7 * 1440 :]) == 0


def test_no_sales_at_eight_alerts_within_minutes(shop: tuple[Detector, list[Point]]) -> None:
    detector = Detector.from_state(shop[0].state())
    outage = run_zeros(detector, normal_day_until(detector, 8), 60)
    first = next(index for index, point in enumerate(outage) if point.alert)
    assert first <= 10, f"first alert after {first} minutes"
    assert outage[first].direction == "below"
    assert outage[first].expected > 40  # euros per minute it expected at that time


def test_no_sales_at_three_in_the_morning_is_normal(shop: tuple[Detector, list[Point]]) -> None:
    detector = Detector.from_state(shop[0].state())
    night = run_zeros(detector, normal_day_until(detector, 3), 60)
    assert not any(point.alert for point in night)


def test_a_single_big_order_does_not_alert(shop: tuple[Detector, list[Point]]) -> None:
    detector = Detector.from_state(shop[0].state())
    rng = random.Random(7)
    start = normal_day_until(detector, 11)
    points = [detector.update(MONDAY + start * MINUTE, 25_000.0)]
    points += [
        detector.update(MONDAY + minute * MINUTE, shop_revenue(minute, rng))
        for minute in range(start + 1, start + 120)
    ]
    assert points[0].direction == "above"
    assert points[0].value is not None and points[0].value > points[0].upper
    assert not any(point.alert for point in points)


def test_a_revenue_exporter_repeating_its_last_amount_pages_within_ten_minutes(
    shop: tuple[Detector, list[Point]],
) -> None:
    """From 09:00 the exporter repeats EUR 61.37 a minute: about the usual amount, so no
    sum is evidence, but sales never add up to the same amount to the cent five times."""
    detector = Detector.from_state(shop[0].state())
    nine = normal_day_until(detector, 9)
    stuck = [detector.update(MONDAY + (nine + k) * MINUTE, 61.37) for k in range(15)]
    first = next(index for index, point in enumerate(stuck) if point.alert)
    assert first < 10, f"first alert after {first + 1} minutes"


def orders_per_step(days: int, step_minutes: int, seed: int, scale: float = 1.0) -> list[float]:
    """Orders of a shop per step, Poisson: ~0.3 a minute at night, ~5 from 07:30 (so ~5 at
    08:00), peaks at lunch and in the evening, a different curve at weekends."""
    rng = np.random.default_rng(seed)
    minute = np.arange(days * 1440 // step_minutes) * step_minutes
    hour = minute / 60 % 24
    weekday = 0.3 + 6 * np.exp(-((hour - 12.5) ** 2) / 6) + 8 * np.exp(-((hour - 20) ** 2) / 5)
    weekday += 5 * np.clip((hour - 6) / 1.5, 0, 1) * (hour < 22)
    weekend = 0.3 + 9 * np.exp(-((hour - 15) ** 2) / 12) + 6 * np.exp(-((hour - 20.5) ** 2) / 4)
    rate = np.where(minute // 1440 % 7 >= 5, weekend, weekday) * step_minutes * scale
    return [float(count) for count in rng.poisson(rate)]


def feed(detector: Detector, values: list[float], step_minutes: int, first: int = 0) -> list[Point]:
    return [
        detector.update(MONDAY + (first + index) * step_minutes * MINUTE, value)
        for index, value in enumerate(values)
    ]


@pytest.fixture(scope="module")
def orders() -> tuple[Detector, list[Point], list[float]]:
    """Three weeks of a shop's orders per minute, then day 22 (a Monday)."""
    series = orders_per_step(22, 1, seed=3)
    detector = Detector(MetricKind.COUNT)
    return detector, feed(detector, series[: 21 * 1440], 1), series


def test_three_weeks_of_normal_orders_do_not_page(
    orders: tuple[Detector, list[Point], list[float]],
) -> None:
    _, points, _ = orders
    assert not any(point.alert for point in points[7 * 1440 :])


def test_no_orders_at_eight_pages_within_five_minutes(
    orders: tuple[Detector, list[Point], list[float]],
) -> None:
    detector, _, series = orders
    detector = Detector.from_state(detector.state())
    start = 21 * 1440
    before = feed(detector, series[start : start + 8 * 60], 1, first=start)
    assert not any(point.alert for point in before)
    outage = feed(detector, [0.0] * 30, 1, first=start + 8 * 60)
    first = next(index for index, point in enumerate(outage) if point.alert)
    assert first < 5, f"first alert after {first + 1} minutes"
    assert outage[first].direction == "below"


def test_a_flat_lined_order_count_pages_within_ten_minutes(
    orders: tuple[Detector, list[Point], list[float]],
) -> None:
    """The exporter repeats its last value: 8 orders a minute, every minute, from 13:00."""
    detector, _, series = orders
    detector = Detector.from_state(detector.state())
    start = 21 * 1440
    feed(detector, series[start : start + 13 * 60], 1, first=start)
    stuck = feed(detector, [8.0] * 30, 1, first=start + 13 * 60)
    first = next(index for index, point in enumerate(stuck) if point.alert)
    assert first < 10, f"first alert after {first + 1} minutes"


def test_a_few_empty_minutes_of_a_sparse_count_do_not_page() -> None:
    """Sign-ups at a tenth of the orders' rate: ten minutes without one happen every day."""
    series = orders_per_step(22, 1, seed=4, scale=0.1)
    detector = Detector(MetricKind.COUNT)
    points = feed(detector, series[: 21 * 1440 + 8 * 60], 1)
    quiet = feed(detector, [0.0] * 10, 1, first=21 * 1440 + 8 * 60)
    assert not any(point.alert for point in points[7 * 1440 :] + quiet)


def test_an_hour_without_sign_ups_at_a_busy_time_pages_before_it_ends() -> None:
    """Sign-ups at 8 % of the orders' rate: ~0.4 a minute at 08:00, ~26 expected in the hour
    from 08:00, none come. The forecast's offset follows the empty minutes down (by half
    over the hour); judged against the offset as it was when each window began, the hour
    pages before it is over. (Within 10 minutes no detector can: 4.4 sign-ups expected,
    and ten empty minutes at this rate happen about once a busy day, docs/anomaly.md.)"""
    series = orders_per_step(23, 1, seed=7, scale=0.08)
    detector = Detector(MetricKind.COUNT)
    eight = 22 * 1440 + 8 * 60
    normal = feed(detector, series[:eight], 1)
    assert not any(point.alert for point in normal[7 * 1440 :])
    outage = feed(detector, [0.0] * 60, 1, first=eight)
    assert any(point.alert for point in outage)
    assert all(point.direction == "below" for point in outage if point.alert)


def _sign_up_outage_after_restoring_an_older_state(seed: int, older: set[str]) -> list[Point]:
    """The points of an hour without sign-ups at 08:00, scored by a detector restored from a
    state that lacks the fields in `older` (as an earlier version saved it)."""
    series = orders_per_step(23, 1, seed=seed, scale=0.08)
    detector = Detector(MetricKind.COUNT)
    eight = 22 * 1440 + 8 * 60
    feed(detector, series[:eight], 1)
    fields = json.loads(detector.state())
    kept = {name: value for name, value in fields.items() if name not in older}
    assert len(kept) == len(fields) - len(older)
    restored = Detector.from_state(json.dumps(kept).encode())
    return feed(restored, [0.0] * 60, 1, first=eight)


def test_a_state_saved_before_the_offsets_were_kept_still_pages_on_a_sign_up_outage() -> None:
    older = {"offsets", "total_offset", "totals_offset"}
    outage = _sign_up_outage_after_restoring_an_older_state(7, older)
    assert any(point.alert for point in outage)


def _an_hour_without_sign_ups_at_eight(seed: int) -> tuple[list[Point], list[Point]]:
    """Three weeks of sign-ups (8 % of the orders), then none from 08:00 on day 22: the
    points before it from the second week on, and the hour's."""
    series = orders_per_step(23, 1, seed=seed, scale=0.08)
    detector = Detector(MetricKind.COUNT)
    eight = 22 * 1440 + 8 * 60
    normal = feed(detector, series[:eight], 1)
    return normal[7 * 1440 :], feed(detector, [0.0] * 60, 1, first=eight)


@pytest.mark.parametrize("seed", [1, 4, 8])
def test_an_hour_without_sign_ups_pages_within_45_minutes_whatever_forecast_was_picked(
    seed: int,
) -> None:
    """~0.4 sign-ups a minute expected at 08:00, none come: e^-10 unlikely after ~25
    minutes. The silence is judged against the rhythm as it was before it began, so the
    forecast following the empty minutes down (the plain one within 5 minutes, on seeds 4
    and 8 where it was picked; the offset by half over the hour) does not hide it. Before,
    none of these three paged within the hour."""
    normal, outage = _an_hour_without_sign_ups_at_eight(seed)
    assert not any(point.alert for point in normal)
    first = next((minute for minute, point in enumerate(outage) if point.alert), None)
    assert first is not None and first < 45, f"first alert after {first} minutes"
    assert all(point.direction == "below" for point in outage if point.alert)


@pytest.mark.parametrize("seed", [3, 5, 7, 9])
def test_an_hour_without_sign_ups_at_eight_pages_within_half_an_hour(seed: int) -> None:
    """~0.47 sign-ups a minute at 08:00, none come: ~22 minutes make e^-10 for a detector
    that knows the rate. The rhythm learnt from a few events per 5 minutes sits a third
    below it, so the silence is judged against the mean of the last weeks at this time of
    the week: it pages after 26-28 minutes (37-40 before)."""
    normal, outage = _an_hour_without_sign_ups_at_eight(seed)
    assert not any(point.alert for point in normal)
    first = next((minute for minute, point in enumerate(outage) if point.alert), None)
    assert first is not None and first < 30, f"first alert after {first} minutes"


def orders_every_ten_seconds(days: int, seed: int) -> list[float]:
    """`orders_per_step`'s shop, counted every 10 seconds: at most ~2 orders a point."""
    rng = np.random.default_rng(seed)
    minute = np.arange(days * 8640) / 6
    hour = minute / 60 % 24
    weekday = 0.3 + 6 * np.exp(-((hour - 12.5) ** 2) / 6) + 8 * np.exp(-((hour - 20) ** 2) / 5)
    weekday += 5 * np.clip((hour - 6) / 1.5, 0, 1) * (hour < 22)
    weekend = 0.3 + 9 * np.exp(-((hour - 15) ** 2) / 12) + 6 * np.exp(-((hour - 20.5) ** 2) / 4)
    rate = np.where(minute // 1440 % 7 >= 5, weekend, weekday) / 6
    return [float(count) for count in rng.poisson(rate)]


def test_at_ten_second_steps_a_normal_shop_does_not_page_and_an_outage_pages_in_minutes() -> None:
    """Three weeks of orders every 10 seconds (so a sparse count per point), then none from
    08:00. A Sunday's quiet early morning (0.4 orders a minute) does not page: its silences
    are judged by the mean of the last Sundays, not by a daily profile that holds the
    weekdays' rise (0.6-1 a minute; before, it paged at 07:22 on day 20)."""
    series = orders_every_ten_seconds(22, seed=1)
    detector = Detector(MetricKind.COUNT)
    eight = 21 * 8640 + 8 * 360
    normal = [
        detector.update(MONDAY + step * 10.0, value) for step, value in enumerate(series[:eight])
    ]
    assert not any(point.alert for point in normal[7 * 8640 :])
    outage = [detector.update(MONDAY + (eight + step) * 10.0, 0.0) for step in range(60)]
    assert any(point.alert for point in outage)


def test_at_hourly_steps_a_month_does_not_page_and_an_hour_without_orders_does() -> None:
    series = orders_per_step(29, 60, seed=1)
    detector = Detector(MetricKind.COUNT)
    eight = 28 * 24 + 8
    normal = feed(detector, series[:eight], 60)
    assert not any(point.alert for point in normal[7 * 24 :])
    (outage,) = feed(detector, [0.0], 60, first=eight)
    assert outage.alert and outage.direction == "below"
    assert not any(
        point.alert for point in feed(detector, series[eight + 1 :], 60, first=eight + 1)
    )


def test_a_night_without_sign_ups_does_not_page() -> None:
    """A few sign-ups an hour at night: six hours without one are unlikely under a rhythm
    learnt from a few events per slot, not evidence of an outage (the silence's evidence
    fades over about two hours)."""
    series = orders_per_step(23, 1, seed=1, scale=0.08)
    detector = Detector(MetricKind.COUNT)
    midnight = 22 * 1440
    normal = feed(detector, series[:midnight], 1)
    night = feed(detector, [0.0] * 6 * 60, 1, first=midnight)
    assert not any(point.alert for point in normal[7 * 1440 :] + night)


def test_a_state_saved_before_the_silence_was_judged_pages_on_a_sign_up_outage() -> None:
    older = {f"silence_{name}" for name in ("expected", "observed", "offset", "share", "surprise")}
    outage = _sign_up_outage_after_restoring_an_older_state(1, older)
    assert any(point.alert for point in outage[:45])


def test_an_afternoon_back_at_the_usual_rhythm_after_a_quiet_morning_does_not_page() -> None:
    """A morning at a quarter of the usual orders (it pages: below), then the usual rhythm
    from 12:00. The offset learnt the quiet morning, so the forecast is still low; evidence
    above must be above the rhythm, not above that lowered forecast (before, 115 minutes of
    the afternoon paged)."""
    series = orders_per_step(23, 1, seed=1)
    detector = Detector(MetricKind.COUNT)
    day = 22 * 1440
    feed(detector, series[:day], 1)
    rng = np.random.default_rng(1)
    today = [
        float(rng.binomial(int(count), 0.25)) if 6 * 60 <= minute < 12 * 60 else count
        for minute, count in enumerate(series[day : day + 1440])
    ]
    points = feed(detector, today, 1, first=day)
    assert any(point.alert for point in points[6 * 60 : 12 * 60])
    assert not any(point.alert for point in points[12 * 60 + 30 : 18 * 60])


@pytest.mark.parametrize("seed", [1, 6])
def test_a_busier_afternoon_does_not_page_and_a_surge_still_does(seed: int) -> None:
    """Five hours with 60 % more orders than usual is a good day, not an incident: above the
    rhythm only the windows of up to 16 minutes are evidence (before, the 64-minute sum
    paged for 14-16 minutes of it). Three times the orders for half an hour still pages
    within 12 minutes."""
    series = orders_per_step(23, 1, seed=seed)
    day = 22 * 1440
    today = series[day : day + 1440]
    extra = orders_per_step(1, 1, seed=seed + 50, scale=0.6)
    busier = [
        count + extra[minute] if 13 * 60 <= minute < 18 * 60 else count
        for minute, count in enumerate(today)
    ]
    detector = Detector(MetricKind.COUNT)
    feed(detector, series[:day], 1)
    surge_detector = Detector.from_state(detector.state())
    assert not any(point.alert for point in feed(detector, busier, 1, first=day))
    surge = [
        count * 3 if 16 * 60 <= minute < 16 * 60 + 30 else count
        for minute, count in enumerate(today)
    ]
    points = feed(surge_detector, surge, 1, first=day)
    assert any(point.alert for point in points[16 * 60 : 16 * 60 + 12])


def _a_day_of_orders_with_a_drop(
    seed: int, day: int, share: float, start: int, end: int
) -> list[Point]:
    """The points of day `day` (0 a Monday) of a shop's orders, each minute from `start` to
    `end` keeping `share` of its orders, after the days before it as usual."""
    series = orders_per_step(day + 1, 1, seed=seed)
    detector = Detector(MetricKind.COUNT)
    feed(detector, series[: day * 1440], 1)
    rng = np.random.default_rng(seed + 100)
    today = [
        float(rng.binomial(int(count), share)) if start <= minute < end else count
        for minute, count in enumerate(series[day * 1440 :])
    ]
    return feed(detector, today, 1, first=day * 1440)


@pytest.mark.parametrize("seed", [2, 4, 5])
def test_orders_falling_to_two_fifths_at_noon_page_within_eight_minutes(seed: int) -> None:
    """~11 orders a minute at noon, then 40 % of them for 45 minutes. The 8-minute sum is
    evidence after 6-8 minutes; it spans more than the alert's 3 minutes already, so it
    pages at once (before, the shortest sum past 1 minute was of 4, too few orders, then of
    16, evidence after about 10 minutes, and 3 minutes' hold came on top: 13-14)."""
    points = _a_day_of_orders_with_a_drop(seed, 22, 0.4, 12 * 60, 12 * 60 + 45)
    assert not any(point.alert for point in points[: 12 * 60])
    assert any(point.alert for point in points[12 * 60 : 12 * 60 + 8])


@pytest.mark.parametrize("seed", [1, 5, 6])
def test_a_sunday_at_three_fifths_of_its_orders_from_eleven_pages_before_evening(
    seed: int,
) -> None:
    """A Sunday's ~3-7 orders a minute fall to 60 % from 11:00 to 17:00. While the evidence
    below builds up, the forecast's offset does not follow the drop down, so the evidence
    reaches the threshold after about an hour (before, the offset had taken the drop in by
    then, and it never paged). It pages only then, and not after the orders come back."""
    points = _a_day_of_orders_with_a_drop(seed, 27, 0.6, 11 * 60, 17 * 60)
    assert not any(point.alert for point in points[: 11 * 60])
    assert any(point.alert for point in points[11 * 60 : 17 * 60])
    assert not any(point.alert for point in points[17 * 60 :])


def test_at_five_minute_steps_an_outage_at_eight_pages_within_ten_minutes() -> None:
    """What an anomaly alert rule evaluated every 5 minutes sees: ~25 orders per step at
    08:00, then none. The evidence of one or two empty steps pages; no fixed minimum duration
    comes on top of the step."""
    series = orders_per_step(22, 5, seed=5)
    detector = Detector(MetricKind.COUNT)
    eight = (21 * 1440 + 8 * 60) // 5
    normal = feed(detector, series[:eight], 5)
    assert not any(point.alert for point in normal[7 * 288 :])
    outage = feed(detector, [0.0] * 6, 5, first=eight)
    assert outage[0].alert or outage[1].alert, [point.alert for point in outage]
    assert all(point.direction == "below" for point in outage)


def payment_success(days: int, seed: int) -> list[float | None]:
    """A payment success ratio per minute: 97 % of the orders' payments go through; no value
    in a minute without orders."""
    rng = np.random.default_rng(seed)
    orders = orders_per_step(days, 1, seed=seed)
    return [float(rng.binomial(int(n), 0.97)) / n if n else None for n in orders]


@pytest.fixture(scope="module")
def payments() -> tuple[Detector, list[Point], list[float | None]]:
    """Three weeks of a payment success ratio, then day 22 (a Monday)."""
    series = payment_success(22, seed=6)
    detector = Detector(MetricKind.RATIO)
    return detector, feed(detector, series[: 21 * 1440], 1), series


def test_three_weeks_of_a_normal_payment_ratio_do_not_page(
    payments: tuple[Detector, list[Point], list[float | None]],
) -> None:
    _, points, _ = payments
    assert not any(point.alert for point in points[7 * 1440 :])


def a_provider_failing_at_noon(
    detector: Detector, series: list[float | None], minutes: int
) -> list[Point]:
    """The detector's points for `minutes` from 12:00 of the fourth week's first day, when
    only 70 % of the payments go through, after a normal morning that must not page."""
    start = 21 * 1440
    before = feed(detector, series[start : start + 12 * 60], 1, first=start)
    assert not any(point.alert for point in before)
    rng = np.random.default_rng(8)
    orders = orders_per_step(22, 1, seed=6)[start + 12 * 60 : start + 12 * 60 + minutes]
    failing = [float(rng.binomial(int(n), 0.7)) / n if n else None for n in orders]
    return feed(detector, failing, 1, first=start + 12 * 60)


def test_a_failing_payment_provider_pages_within_fifteen_minutes(
    payments: tuple[Detector, list[Point], list[float | None]],
) -> None:
    """From 12:00 only 70 % of the payments go through: the ratio's level follows the
    series only slowly, the expected value stays where the ratio usually is."""
    detector, _, series = payments
    points = a_provider_failing_at_noon(Detector.from_state(detector.state()), series, 45)
    first = next(index for index, point in enumerate(points) if point.alert)
    assert first < 15, f"first alert after {first + 1} minutes"
    assert points[first].direction == "below"


def test_a_flat_lined_payment_ratio_pages(
    payments: tuple[Detector, list[Point], list[float | None]],
) -> None:
    """The exporter repeats 11 of 12 payments every minute from 13:00: a ratio that is not
    at its bound never repeats that long."""
    detector, _, series = payments
    detector = Detector.from_state(detector.state())
    start = 21 * 1440
    feed(detector, series[start : start + 13 * 60], 1, first=start)
    stuck = feed(detector, [11 / 12] * 60, 1, first=start + 13 * 60)
    assert any(point.alert for point in stuck)


def a_ratio_flat_lined_at_one_from_one_pm(
    detector: Detector, series: list[float | None], minutes: int = 120
) -> list[Point]:
    """The detector's points for `minutes` from 13:00 of the fourth week's first day, when
    the exporter repeats 1 (every payment went through) every minute, after a normal morning
    that must not page."""
    start = 21 * 1440
    before = feed(detector, series[start : start + 13 * 60], 1, first=start)
    assert not any(point.alert for point in before)
    return feed(detector, [1.0] * minutes, 1, first=start + 13 * 60)


def test_a_payment_ratio_flat_lined_at_one_at_a_busy_hour_pages(
    payments: tuple[Detector, list[Point], list[float | None]],
) -> None:
    """At 13:00 a minute has ~11 payments and all of them go through in about three minutes
    of four: 1 minute after minute for two hours is e^-36 unlikely. It pages within 90
    minutes (1 is the ratio's most common value, so a run of it needs e^-15)."""
    detector, _, series = payments
    stuck = a_ratio_flat_lined_at_one_from_one_pm(Detector.from_state(detector.state()), series)
    first = next(index for index, point in enumerate(stuck) if point.alert)
    assert first < 90, f"first alert after {first + 1} minutes"


@pytest.mark.parametrize("without_payments", ["skipped", "read as 1"])
def test_nights_when_every_payment_goes_through_do_not_page(without_payments: str) -> None:
    """A payment ratio repeats 1 all night, at one payment every few minutes, whether its
    minutes without payments are skipped (each ends a run of 1s) or read as 1 (a query such as
    `1 - failed / payments or vector(1)`): three weeks, the last night with every payment
    going through, do not page after the first week. (Judged by how often the whole day
    repeats 1, the nights of the second read paged 6-9 times in two weeks.)"""
    series = payment_success(22, seed=7)
    night = [None if value is None else 1.0 for value in series[21 * 1440 : 21 * 1440 + 7 * 60]]
    series = series[: 21 * 1440] + night
    if without_payments == "read as 1":
        series = [1.0 if value is None else value for value in series]
    points = feed(Detector(MetricKind.RATIO), series, 1)
    assert not any(point.alert for point in points[7 * 1440 :])


def test_a_payment_ratio_restored_during_a_flat_line_pages_at_the_same_minute(
    payments: tuple[Detector, list[Point], list[float | None]],
) -> None:
    """A state saved 30 minutes into a flat line at 1 (an anomaly rule's detector is saved
    after every evaluation) continues the run: the restored detector pages when the one that
    went on pages, with the same points."""
    detector, _, series = payments
    original = Detector.from_state(detector.state())
    a_ratio_flat_lined_at_one_from_one_pm(original, series, minutes=30)
    restored = Detector.from_state(original.state())
    later = [
        feed(each, [1.0] * 90, 1, first=21 * 1440 + 13 * 60 + 30) for each in (original, restored)
    ]
    assert later[0] == later[1]
    assert any(point.alert for point in later[1])


def test_one_failed_payment_a_minute_for_a_few_minutes_does_not_page(
    payments: tuple[Detector, list[Point], list[float | None]],
) -> None:
    """At 08:40 one payment in six fails six minutes in a row: 6 failures where ~1 is usual
    happen about once in 1,000 such stretches, a few times a month, so they do not page
    (the ratio's average deviation over them did)."""
    detector, _, series = payments
    detector = Detector.from_state(detector.state())
    start = 21 * 1440
    before = feed(detector, series[start : start + 8 * 60 + 40], 1, first=start)
    assert not any(point.alert for point in before)
    unlucky = feed(detector, [5 / 6] * 6, 1, first=start + 8 * 60 + 40)
    after = feed(detector, series[start + 8 * 60 + 46 : start + 9 * 60], 1, first=start + 526)
    assert not any(point.alert for point in unlucky + after)


def test_a_failing_payment_provider_pages_whatever_the_hour(
    payments: tuple[Detector, list[Point], list[float | None]],
) -> None:
    """Half the payments fail from 02:00, when a minute has one payment or none (~20 an
    hour), and from 19:00, when it has ~14: the night pages within two hours, the evening
    within 10 minutes."""
    detector, _, series = payments
    start = 21 * 1440
    rng = np.random.default_rng(9)
    orders = orders_per_step(22, 1, seed=6)
    for hour, within in ((2, 120), (19, 10)):
        restored = Detector.from_state(detector.state())
        feed(restored, series[start : start + hour * 60], 1, first=start)
        counts = orders[start + hour * 60 : start + hour * 60 + within]
        failing = [float(rng.binomial(int(n), 0.5)) / n if n else None for n in counts]
        points = feed(restored, failing, 1, first=start + hour * 60)
        assert any(point.alert for point in points), f"no alert at {hour}:00"


@pytest.mark.parametrize("saved", ["before the failures' evidence", "before the evidence alert"])
def test_a_payment_ratio_saved_by_an_older_version_still_pages(
    payments: tuple[Detector, list[Point], list[float | None]], saved: str
) -> None:
    """A ratio's state saved before its failures were evidence (its hourly means, now the
    forecast's mean error at each hour, were zeros), or before the evidence alert (no
    hourly means at all), loads, does not page on a normal morning and pages on a failing
    provider."""
    detector, _, series = payments
    fields = json.loads(detector.state())
    fields["mean_hourly"] = [0.0] * 24
    if saved == "before the evidence alert":
        del fields["mean_hourly"], fields["excess_spread"], fields["excess_scale"]
    restored = Detector.from_state(json.dumps(fields).encode())
    assert any(point.alert for point in a_provider_failing_at_noon(restored, series, 30))


def test_a_payment_ratio_saved_before_its_repeats_were_judged_still_pages(
    payments: tuple[Detector, list[Point], list[float | None]],
) -> None:
    """A ratio's state saved before its repeats were judged (no shares of repeats) loads,
    does not page on a normal morning and pages on a failing provider."""
    detector, _, series = payments
    fields = json.loads(detector.state())
    del fields["repeat_hourly"], fields["repeat_recent"], fields["repeat_share"]
    restored = Detector.from_state(json.dumps(fields).encode())
    assert any(point.alert for point in a_provider_failing_at_noon(restored, series, 30))


def test_at_five_minute_steps_a_failing_payment_provider_pages_within_fifteen_minutes() -> None:
    """An anomaly rule's 5-minute steps hold ~35 payments at noon: a third of them failing
    is evidence after 3 steps and pages at the fourth (the 3 minutes it must hold)."""
    rng = np.random.default_rng(0)
    orders = orders_per_step(29, 5, seed=0)
    noon = (28 * 1440 + 12 * 60) // 5
    success = [0.97] * noon + [0.7] * 9
    ratios = [
        float(rng.binomial(int(n), p)) / n if n else None
        for n, p in zip(orders[: noon + 9], success, strict=True)
    ]
    detector = Detector(MetricKind.RATIO)
    normal = feed(detector, ratios[:noon], 5)
    assert not any(point.alert for point in normal[7 * 288 :])
    failing = feed(detector, ratios[noon:], 5, first=noon)
    first = next(index for index, point in enumerate(failing) if point.alert)
    assert first <= 3, f"first alert after {5 * (first + 1)} minutes"


def test_a_hit_ratio_with_a_daily_rhythm_does_not_page() -> None:
    """A ratio that is no success rate (a cache's hits, 50-70 % over the day, noisy): two
    weeks after the first do not page."""
    rng = np.random.default_rng(0)
    minutes = np.arange(21 * 1440)
    level = 0.6 + 0.1 * np.sin(2 * np.pi * minutes / 1440)
    hits = np.clip(level + rng.normal(0, 0.03, len(minutes)), 0, 1)
    points = feed(Detector(MetricKind.RATIO), [float(hit) for hit in hits], 1)
    assert not any(point.alert for point in points[7 * 1440 :])


def test_state_restored_continues_identically() -> None:
    detector, _, rng = learned_shop(days=8)
    restored = Detector.from_state(detector.state())
    tail = [(MONDAY + (8 * 1440 + k) * MINUTE, shop_revenue(8 * 1440 + k, rng)) for k in range(600)]
    assert [detector.update(*point) for point in tail] == [
        restored.update(*point) for point in tail
    ]


def test_a_state_saved_before_the_evidence_alert_still_pages_on_an_outage(
    orders: tuple[Detector, list[Point], list[float]],
) -> None:
    """Anomaly rules keep their detectors' states across upgrades: a state without the
    fields the evidence alert added (and with an hourly weekly correction) loads and pages."""
    detector, _, series = orders
    fields = json.loads(detector.state())
    for name in (
        "mean_hourly",
        "error_daily",
        "zero_hourly",
        "zeros_surprise",
        "repeat_surprise",
        "excess_spread",
        "excess_scale",
        "evidence_slot",
        "weekly_visit_points",
    ):
        del fields[name]
    for name in ("value", "capped", "expected", "variance"):
        del fields[f"total_{name}"], fields[f"totals_{name}"]
    fields["weekly"] = fields["weekly"][:168]
    restored = Detector.from_state(json.dumps(fields).encode())
    start = 21 * 1440
    feed(restored, series[start : start + 8 * 60], 1, first=start)
    outage = feed(restored, [0.0] * 15, 1, first=start + 8 * 60)
    assert any(point.alert for point in outage)


def refuse_non_finite(constant: str) -> None:
    raise AssertionError(f"{constant} in a detector's state")


def test_state_is_strict_json_for_every_kind() -> None:
    for kind in MetricKind:
        detector = Detector(kind, Sensitivity.HIGH)
        for k in range(50):
            detector.update(MONDAY + k * 60.0, float(k % 5))
        fields = json.loads(detector.state(), parse_constant=refuse_non_finite)
        assert fields["kind"] == kind.value and fields["sensitivity"] == "high"
        restored = Detector.from_state(detector.state())
        assert restored.kind is kind and restored.sensitivity is Sensitivity.HIGH


def test_state_is_bounded() -> None:
    """A week fills every part of the state (the weekly correction is visited once); a second
    week of history must not make it bigger."""
    short, _, _ = learned_shop(days=8)
    long, _, _ = learned_shop(days=16)
    assert len(long.state()) < 60_000
    assert len(long.state()) < 1.1 * len(short.state())


def test_outputs_are_streaming_a_prefix_gives_the_same_points() -> None:
    rng = random.Random(3)
    series = [
        (MONDAY + k * 300.0, rng.gauss(100, 10) + (50 if k > 900 else 0)) for k in range(1200)
    ]
    whole = Detector()
    prefix = Detector()
    full = [whole.update(*point) for point in series]
    assert [prefix.update(*point) for point in series[:700]] == full[:700]


def test_a_level_shift_scores_high_where_it_starts() -> None:
    rng = random.Random(4)
    detector = Detector()
    points = [
        detector.update(MONDAY + k * 300.0, rng.gauss(50, 2) + (30 if k >= 1500 else 0))
        for k in range(1600)
    ]
    before = max(point.anomaly_score for point in points[500:1500])
    assert points[1500].anomaly_score > before
    assert points[1500].direction == "above"
    assert all(0.0 <= point.anomaly_score <= 1.0 for point in points)


def test_a_gap_in_a_count_series_is_zeros_and_alerts_at_a_busy_hour() -> None:
    rng = random.Random(5)
    detector = Detector(MetricKind.COUNT)
    noon = 14 * 1440 + 12 * 60
    for minute in range(noon + 1):
        busy = 9 <= minute / 60 % 24 < 18
        detector.update(MONDAY + minute * MINUTE, float(rng.randint(40, 60) if busy else 0))
    after_gap = detector.update(MONDAY + (noon + 11) * MINUTE, 50.0)
    assert after_gap.alert == 1  # the 10 absent minutes were zeros at a busy hour


def test_a_gap_in_an_ops_series_is_unknown_and_does_not_alert() -> None:
    rng = random.Random(5)
    detector = Detector(MetricKind.OPS)
    for minute in range(3 * 1440):
        detector.update(MONDAY + minute * MINUTE, rng.gauss(50, 3))
    after_gap = detector.update(MONDAY + (3 * 1440 + 30) * MINUTE, 50.0)
    assert after_gap.alert == 0


def test_an_absent_point_of_an_ops_metric_is_unknown() -> None:
    rng = random.Random(6)
    detector = Detector(MetricKind.OPS)
    for k in range(500):
        detector.update(MONDAY + k * 60.0, rng.gauss(200, 5))
    state = detector.state()
    absent = detector.update(MONDAY + 500 * 60.0, None)
    assert absent.value is None and absent.alert == 0 and absent.anomaly_score == 0.0
    assert 180 < absent.expected < 220
    assert detector.state() == state  # nothing learnt from an unknown point
    after_gap = detector.update(MONDAY + 600 * 60.0, 201.0)
    assert after_gap.alert == 0


def test_an_absent_point_of_a_count_is_zero() -> None:
    detector = Detector(MetricKind.COUNT)
    for k in range(100):
        detector.update(MONDAY + k * 60.0, 5.0)
    point = detector.update(MONDAY + 100 * 60.0, None)
    assert point.value == 0.0 and point.direction == "below"


def test_bands_respect_the_kind() -> None:
    rng = random.Random(8)
    ratio = Detector(MetricKind.RATIO)
    count = Detector(MetricKind.COUNT)
    for k in range(300):
        timestamp = MONDAY + k * 60.0
        ratio_point = ratio.update(timestamp, min(1.0, rng.gauss(0.98, 0.03)))
        count_point = count.update(timestamp, float(rng.randint(0, 2)))
        assert 0.0 <= ratio_point.lower <= ratio_point.upper <= 1.0
        assert count_point.lower >= 0.0


def test_higher_sensitivity_draws_a_narrower_band() -> None:
    rng = random.Random(9)
    series = [(MONDAY + k * 60.0, rng.gauss(10, 1)) for k in range(300)]
    widths = {}
    for sensitivity in Sensitivity:
        detector = Detector(sensitivity=sensitivity)
        last = [detector.update(*point) for point in series][-1]
        widths[sensitivity] = last.upper - last.lower
    assert widths[Sensitivity.HIGH] < widths[Sensitivity.MEDIUM] < widths[Sensitivity.LOW]


def spiky_latency(points: int, seed: int) -> list[tuple[float, float]]:
    """An ops series at 5-minute steps: ~10 ms with a burst of 15-30 ms one point in 20."""
    rng = random.Random(seed)
    return [
        (MONDAY + k * 300.0, rng.uniform(15, 30) if rng.random() < 0.05 else rng.gauss(10, 1))
        for k in range(points)
    ]


def test_a_value_beyond_everything_before_scores_high_in_a_spiky_series() -> None:
    """Bursts up to 30 ms are this series' normal, so 33 ms is a small deviation from the
    forecast; but no value before it came near, so it is at least as rare as 1 in 500."""
    series = spiky_latency(1500, seed=5)
    detector = Detector()
    for point in series:
        detector.update(*point)
    assert max(value for _, value in series) < 30.0
    record = detector.update(MONDAY + 1500 * 300.0, 33.0)
    assert record.anomaly_score >= 1 - 10**-2.7
    assert record.direction == "above"


def test_a_state_saved_before_the_range_was_kept_still_loads_and_learns_it() -> None:
    series = spiky_latency(1500, seed=5)
    detector = Detector()
    for point in series[:1000]:
        detector.update(*point)
    fields = json.loads(detector.state())
    for name in ("range_low", "range_high", "range_points", "largest_error"):
        del fields[name]
    restored = Detector.from_state(json.dumps(fields).encode())
    for point in series[1000:]:
        restored.update(*point)
    # the range it learnt again set a record 16 points ago (29.4 ms): a record right after
    # one continues it, so the probe comes after 20 quiet points
    for k in range(1500, 1520):
        restored.update(MONDAY + k * 300.0, 10.0)
    record = restored.update(MONDAY + 1520 * 300.0, 33.0)
    assert record.anomaly_score >= 1 - 10**-2.7


def test_a_forecast_missed_by_more_than_ever_scores_high_inside_the_range() -> None:
    """A daily curve from 10 to 90 with bursts of up to 15 one point in 20: a value of 1 where
    the curve says 36 is inside the range of the values seen, but the forecast never missed
    by 35 before, so it is at least as rare as 1 in 500 and above every score before it."""
    rng = random.Random(7)
    detector = Detector()
    scores = []
    for k in range(2000):
        timestamp = MONDAY + k * 300.0
        value = 50 + 40 * math.sin(2 * math.pi * (timestamp % DAY) / DAY) + rng.gauss(0, 1)
        if rng.random() < 0.05:
            value += rng.choice((-1, 1)) * rng.uniform(5, 15)
        scores.append(detector.update(timestamp, value).anomaly_score)
    timestamp = MONDAY + 2000 * 300.0
    curve = 50 + 40 * math.sin(2 * math.pi * (timestamp % DAY) / DAY)
    missed = detector.update(timestamp, curve - 35)
    assert missed.value is not None and missed.value > 0.0
    assert missed.anomaly_score >= 1 - 10**-2.7
    assert missed.anomaly_score > max(scores[500:])
    assert missed.direction == "below"


def test_a_record_right_after_a_record_continues_the_same_anomaly() -> None:
    """33 ms beyond every burst before is reported; 34 ms six points later is a record too,
    but of the same excursion, so it scores like any deviation while the first one rests.
    A record 300 points later is a new anomaly and scores high again."""
    detector = Detector()
    for point in spiky_latency(1500, seed=5):
        detector.update(*point)
    first = detector.update(MONDAY + 1500 * 300.0, 33.0)
    for k in range(1501, 1506):
        detector.update(MONDAY + k * 300.0, 10.0)
    continued = detector.update(MONDAY + 1506 * 300.0, 34.0)
    for k in range(1507, 1800):
        detector.update(MONDAY + k * 300.0, 10.0)
    later = detector.update(MONDAY + 1800 * 300.0, 36.0)
    assert first.anomaly_score >= 1 - 10**-2.7
    assert continued.anomaly_score < 0.99
    assert later.anomaly_score >= 1 - 10**-2.7


def test_a_young_clean_series_does_not_call_a_moderate_deviation_one_in_a_thousand() -> None:
    """After 1,000 points of noise with one early spike (so the values below are inside the
    range, not records), a deviation of 8 sigmas is the largest yet, but 1,000 points cannot
    say it is rarer than 1 in 200: the heavy-tailed prior weighs as up to 100 points (as many
    as the share of points that surprised at all). Larger deviations still score higher."""
    scores = []
    for probe in (18.0, 25.0, 40.0):
        rng = random.Random(3)
        detector = Detector()
        for k in range(1000):
            detector.update(MONDAY + k * 300.0, 60.0 if k == 50 else rng.gauss(10, 1))
        scores.append(detector.update(MONDAY + 1000 * 300.0, probe).anomaly_score)
    assert scores[0] < 0.995
    assert scores[0] < scores[1] < scores[2]


def test_in_a_series_that_never_deviates_a_small_change_of_rhythm_still_scores_high() -> None:
    """Two spikes 6 points apart every 100 points, exactly, and zero in between: nothing ever
    surprised, so the prior weighs next to nothing and two spikes in a row (a small deviation
    against the spikes' own error scale) are as rare as the histogram says."""
    detector = Detector()
    for k in range(2002):
        detector.update(MONDAY + k * 300.0, 20.0 if k % 100 in (2, 8) else 0.0)
    scores = [
        detector.update(MONDAY + k * 300.0, 20.0 if k in (2002, 2007, 2008) else 0.0)
        for k in range(2002, 2010)
    ]
    assert scores[5].anomaly_score < 0.6  # the usual spike
    assert scores[6].anomaly_score >= 1 - 10**-2.7  # one more, right after it


def revenue_per_half_minute(quarters: int, seed: int) -> list[float]:
    """EUR in the last 30 s, every 15 s (as `increase(revenue_total[30s])` at a 15 s step reads
    it): two overlapping quarter minutes of ~EUR 600 each, with a daily rhythm."""
    rng = random.Random(seed)
    quarter = [
        max(0.0, rng.gauss(level, 0.1 * level))
        for index in range(quarters + 1)
        for level in [600.0 + 200.0 * math.sin(index * 15.0 / DAY * 2 * math.pi)]
    ]
    return [quarter[index] + quarter[index + 1] for index in range(quarters)]


@pytest.mark.parametrize("hours", [12, 30])
def test_an_outage_of_a_minute_at_fifteen_second_steps_leaves_the_expected_value(
    hours: int,
) -> None:
    """Past anomalies must not poison the baseline: four empty points (a minute of a 15 s
    step) move the expected value by less than a tenth, on the first day (the plain forecast)
    and later (the seasonal one)."""
    history = hours * 240
    values = revenue_per_half_minute(history, seed=5)
    detector = Detector(MetricKind.MONEY)
    points = [detector.update(MONDAY + index * 15.0, value) for index, value in enumerate(values)]
    before = points[-1].expected
    outage = [detector.update(MONDAY + (history + index) * 15.0, 0.0) for index in range(4)]
    after = detector.update(MONDAY + (history + 4) * 15.0, before)
    assert all(point.value == 0.0 and point.expected > 0.9 * before for point in outage)
    assert after.expected > 0.9 * before


def test_two_low_points_at_fifteen_second_steps_move_the_expected_value_little() -> None:
    """Two noisy points at -2.3 and -2.8 sigmas move the expected value by less than half a
    sigma (the plain forecast follows over ~3 minutes, not over 3 points of 15 s)."""
    history = 12 * 240
    detector = Detector(MetricKind.MONEY)
    for index, value in enumerate(revenue_per_half_minute(history, seed=6)):
        point = detector.update(MONDAY + index * 15.0, value)
    sigma = (point.expected - point.lower) / Sensitivity.MEDIUM.band_sigmas
    first = detector.update(MONDAY + history * 15.0, point.expected - 2.3 * sigma)
    second = detector.update(MONDAY + (history + 1) * 15.0, first.expected - 2.8 * sigma)
    third = detector.update(MONDAY + (history + 2) * 15.0, second.expected)
    assert abs(third.expected - point.expected) < 0.5 * sigma


def orders_with_the_curve_later(days: int, later_from_day: int, seed: int) -> list[float]:
    """Orders per minute as `orders_per_step`, the daily curve 30 minutes later from
    `later_from_day` on (the evening's orders run until 22:30 instead of 22:00)."""
    rng = np.random.default_rng(seed)
    minute = np.arange(days * 1440)
    late = np.where(minute // 1440 >= later_from_day, 30, 0)
    hour = (minute - late) / 60 % 24
    weekday = 0.3 + 6 * np.exp(-((hour - 12.5) ** 2) / 6) + 8 * np.exp(-((hour - 20) ** 2) / 5)
    weekday += 5 * np.clip((hour - 6) / 1.5, 0, 1) * (hour < 22)
    weekend = 0.3 + 9 * np.exp(-((hour - 15) ** 2) / 12) + 6 * np.exp(-((hour - 20.5) ** 2) / 4)
    rate = np.where(minute // 1440 % 7 >= 5, weekend, weekday)
    return [float(count) for count in rng.poisson(rate)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_evening_that_runs_later_does_not_make_the_quiet_night_after_it_page(
    seed: int,
) -> None:
    """The daily curve moves 30 minutes later on a Friday: its evening is busier than
    expected until 22:30, but what the forecast learnt from that is not carried into the
    Saturday night (~0.3 orders a minute) as an expected extra order a minute."""
    friday = 7 * 3 + 4
    series = orders_with_the_curve_later(friday + 2, later_from_day=friday, seed=seed)
    detector = Detector(MetricKind.COUNT)
    points = feed(detector, series, 1)
    night = points[(friday + 1) * 1440 : (friday + 1) * 1440 + 6 * 60]
    assert not [point for point in night if point.alert]


def orders_with_a_holiday(days: int, holiday: int, seed: int) -> list[float]:
    """Orders per minute as `orders_per_step`, day `holiday` (a weekday) with the weekend's
    curve: a public holiday."""
    rng = np.random.default_rng(seed)
    minute = np.arange(days * 1440)
    hour = minute / 60 % 24
    weekday = 0.3 + 6 * np.exp(-((hour - 12.5) ** 2) / 6) + 8 * np.exp(-((hour - 20) ** 2) / 5)
    weekday += 5 * np.clip((hour - 6) / 1.5, 0, 1) * (hour < 22)
    weekend = 0.3 + 9 * np.exp(-((hour - 15) ** 2) / 12) + 6 * np.exp(-((hour - 20.5) ** 2) / 4)
    day = minute // 1440
    rate = np.where((day % 7 >= 5) | (day == holiday), weekend, weekday)
    return [float(count) for count in rng.poisson(rate)]


HOLIDAY = 7 * 3 + 2  # a Wednesday in the fourth week


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_weekday_that_keeps_to_a_weekend_rhythm_does_not_page(seed: int) -> None:
    """A public holiday: from 06:00 the weekday's rise does not come. The weekend's rhythm
    explains the morning better, so the day is judged as a weekend day (before, its morning
    paged for one to three hours), and the next day as itself again."""
    series = orders_with_a_holiday(HOLIDAY + 2, HOLIDAY, seed)
    points = feed(Detector(MetricKind.COUNT), series, 1)
    paged = [index for index in range(HOLIDAY * 1440, (HOLIDAY + 2) * 1440) if points[index].alert]
    assert not paged, f"paged at minutes {paged[:5]} of the holiday and the day after"


def test_an_outage_on_a_holiday_still_pages() -> None:
    """Judged as a weekend day, the holiday still pages when its ~8 orders a minute stop at
    14:00."""
    series = orders_with_a_holiday(HOLIDAY + 1, HOLIDAY, seed=0)
    detector = Detector(MetricKind.COUNT)
    two = HOLIDAY * 1440 + 14 * 60
    before = feed(detector, series[:two], 1)
    assert not any(point.alert for point in before[7 * 1440 :])
    outage = feed(detector, [0.0] * 30, 1, first=two)
    first = next(index for index, point in enumerate(outage) if point.alert)
    assert first < 5, f"first alert after {first + 1} minutes"
    assert outage[first].direction == "below"


def test_a_state_saved_before_the_days_were_told_apart_still_pages_and_learns_them() -> None:
    """A state without the week's means and the days' fits loads, pages on an outage at
    08:00 and, once it has seen a week again, takes a holiday for a weekend day."""
    series = orders_with_a_holiday(HOLIDAY + 1, HOLIDAY, seed=1)
    detector = Detector(MetricKind.COUNT)
    feed(detector, series[: 14 * 1440], 1)
    fields = json.loads(detector.state())
    for name in ("week_means", "week_mean_slot", "week_mean_start", "week_mean_sum"):
        del fields[name]
    for name in ("week_mean_points", "day_fits", "day_shift"):
        del fields[name]
    older = Detector.from_state(json.dumps(fields).encode())
    points = feed(older, series[14 * 1440 :], 1, first=14 * 1440)
    assert not any(point.alert for point in points)
    restored = Detector.from_state(older.state())
    outage = feed(restored, [0.0] * 10, 1, first=(HOLIDAY + 1) * 1440 + 8 * 60)
    assert any(point.alert for point in outage)

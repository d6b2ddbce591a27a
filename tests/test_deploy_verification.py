"""Metric checks of the verify stage, against the adapter's signature (`MetricQueries`): the
PromQL engine is another branch's, so these tests feed the check logic series directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fullcycle.deploy.metric_queries import SeriesPoints
from fullcycle.deploy.pipeline_spec import MetricCheck
from fullcycle.deploy.verification import evaluate_metric, judge_metric

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ERROR_RATIO = MetricCheck(
    name="error ratio", query="errors / requests", below=0.01, max_ratio_to_before=1.5
)


def series(*values: float) -> list[SeriesPoints]:
    return [SeriesPoints({"job": "shop"}, [(1000.0 + i, v) for i, v in enumerate(values)])]


def test_a_value_below_the_threshold_and_near_its_past_passes() -> None:
    result = judge_metric(ERROR_RATIO, series(0.004), series(0.003, 0.003))
    assert result.status == "passed"
    assert (result.value, result.baseline) == (0.004, 0.003)
    assert result.limit == pytest.approx(0.0045)


def test_more_than_one_and_a_half_times_the_hour_before_fails_even_below_the_threshold() -> None:
    result = judge_metric(ERROR_RATIO, series(0.008), series(0.004, 0.004))
    assert result.status == "failed"
    assert "more than 1.5x the 0.004 of the hour before" in result.message


def test_at_or_above_the_threshold_fails() -> None:
    result = judge_metric(ERROR_RATIO, series(0.01), [])
    assert result.status == "failed" and "is not below 0.01" in result.message


def test_no_data_is_inconclusive_not_a_failure() -> None:
    result = judge_metric(ERROR_RATIO, [], series(0.003))
    assert result.status == "inconclusive" and result.message == "no data"


def test_a_ratio_only_check_without_a_past_is_inconclusive() -> None:
    latency = MetricCheck(name="p95", query="p95", max_ratio_to_before=1.5)
    assert judge_metric(latency, series(0.2), []).status == "inconclusive"
    assert judge_metric(latency, series(0.2), series(0.0)).status == "inconclusive"
    assert judge_metric(latency, series(0.2), series(0.1)).status == "failed"


def test_the_worst_series_decides() -> None:
    two = [
        SeriesPoints({"route": "/"}, [(1.0, 0.001)]),
        SeriesPoints({"route": "/checkout"}, [(1.0, 0.5)]),
    ]
    assert judge_metric(ERROR_RATIO, two, []).value == 0.5


class RecordingQueries:
    """A MetricQueries that answers from fixed series and records what it was asked."""

    def __init__(self, current: list[SeriesPoints], before: list[SeriesPoints]) -> None:
        self.current, self.before = current, before
        self.calls: list[tuple[object, ...]] = []

    def instant(self, expr: str, at: datetime) -> list[SeriesPoints]:
        self.calls.append(("instant", expr, at))
        return self.current

    def range(
        self, expr: str, start: datetime, end: datetime, step: timedelta
    ) -> list[SeriesPoints]:
        self.calls.append(("range", expr, start, end, step))
        return self.before


def test_the_baseline_is_the_hour_before_the_deploy() -> None:
    queries = RecordingQueries(series(0.002), series(0.002))
    deployed_at = NOW - timedelta(minutes=2)
    assert evaluate_metric(ERROR_RATIO, queries, NOW, deployed_at).status == "passed"
    assert queries.calls == [
        ("instant", "errors / requests", NOW),
        (
            "range",
            "errors / requests",
            deployed_at - timedelta(hours=1),
            deployed_at,
            timedelta(minutes=1),
        ),
    ]


def test_without_a_metrics_engine_checks_are_inconclusive_and_query_errors_fail() -> None:
    assert evaluate_metric(ERROR_RATIO, None, NOW, NOW).status == "inconclusive"

    class Broken(RecordingQueries):
        def instant(self, expr: str, at: datetime) -> list[SeriesPoints]:
            raise ValueError("parse error at char 7")

    result = evaluate_metric(ERROR_RATIO, Broken([], []), NOW, NOW)
    assert result.status == "failed" and "parse error at char 7" in result.message

"""The judgment of a metric check of the verify stage, on series given directly; the checks
over the real PromQL engine and API are in test_deploy_metric_checks.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fullcycle.deploy.metric_queries import SeriesPoints
from fullcycle.deploy.pipeline_spec import MetricCheck
from fullcycle.deploy.verification import judge_metric

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

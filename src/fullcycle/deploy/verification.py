"""Verifying a release during its bake time: the health URL answers, and each metric check's
condition holds (below a threshold, and not more than N times its value in the hour before the
deploy). A check without data is inconclusive: shown as such, not a failure.

Checks run every `interval` seconds; a check failing twice in a row fails the verification at
once (a bad release is rolled back without waiting out the bake time); at the end of the bake
time a check failing in the last round fails it too."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Literal

import httpx
from starlette.concurrency import run_in_threadpool

from fullcycle.deploy.metric_queries import MetricQueries, SeriesPoints
from fullcycle.deploy.pipeline_spec import MetricCheck, Verify
from fullcycle.store.database import utcnow

Status = Literal["passed", "failed", "inconclusive"]
BASELINE_WINDOW = timedelta(hours=1)
BASELINE_STEP = timedelta(minutes=1)
HEALTH_TIMEOUT_SECONDS = 5.0
FAILURES_IN_A_ROW = 2


@dataclass(frozen=True)
class CheckResult:
    check: str
    status: Status
    message: str
    value: float | None = None
    baseline: float | None = None
    limit: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class VerifyOutcome:
    passed: bool
    results: list[CheckResult]


def worst_value(series: list[SeriesPoints]) -> float | None:
    """The highest latest value over all series (the worst one decides), None without data."""
    latest = [points[-1][1] for points in (s.points for s in series) if points]
    return max(latest) if latest else None


def mean_value(series: list[SeriesPoints]) -> float | None:
    values = [value for s in series for _, value in s.points]
    return sum(values) / len(values) if values else None


def judge_metric(
    check: MetricCheck, current: list[SeriesPoints], before: list[SeriesPoints]
) -> CheckResult:
    """Apply the check's conditions to its value now and its mean in the hour before."""
    value = worst_value(current)
    baseline = mean_value(before) if check.max_ratio_to_before is not None else None
    if value is None:
        return CheckResult(check.name, "inconclusive", "no data", baseline=baseline)
    problems: list[str] = []
    notes: list[str] = []
    limit: float | None = None
    if check.below is not None:
        limit = check.below
        if not value < check.below:
            problems.append(f"{value:.6g} is not below {check.below:g}")
    if check.max_ratio_to_before is not None:
        if baseline is None:
            notes.append("no data in the hour before the deploy to compare with")
        elif baseline > 0:
            ratio_limit = baseline * check.max_ratio_to_before
            limit = ratio_limit if limit is None else min(limit, ratio_limit)
            if value > ratio_limit:
                problems.append(
                    f"{value:.6g} is more than {check.max_ratio_to_before:g}x "
                    f"the {baseline:.6g} of the hour before"
                )
        else:
            notes.append("it was 0 in the hour before: no ratio to compare with")
    if problems:
        return CheckResult(check.name, "failed", "; ".join(problems), value, baseline, limit)
    if notes and check.below is None:
        return CheckResult(check.name, "inconclusive", "; ".join(notes), value, baseline, limit)
    message = "; ".join([f"{value:.6g} within the limits", *notes])
    return CheckResult(check.name, "passed", message, value, baseline, limit)


def evaluate_metric(
    check: MetricCheck, queries: MetricQueries | None, now: datetime, deployed_at: datetime
) -> CheckResult:
    if queries is None:
        return CheckResult(
            check.name, "inconclusive", "metric queries are not available in this build"
        )
    try:
        current = queries.instant(check.query, now)
        before = (
            queries.range(check.query, deployed_at - BASELINE_WINDOW, deployed_at, BASELINE_STEP)
            if check.max_ratio_to_before is not None
            else []
        )
    except ValueError as error:
        return CheckResult(check.name, "failed", f"the query failed: {error}")
    return judge_metric(check, current, before)


async def check_health(client: httpx.AsyncClient, url: str) -> CheckResult:
    started = time.perf_counter()
    try:
        response = await client.get(url, timeout=HEALTH_TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        return CheckResult("health", "failed", f"{url}: {type(error).__name__} {error}".strip())
    millis = (time.perf_counter() - started) * 1000
    if 200 <= response.status_code < 300:
        return CheckResult("health", "passed", f"HTTP {response.status_code}", value=millis)
    return CheckResult("health", "failed", f"HTTP {response.status_code}", value=millis)


def alerts_result(firing: list[str]) -> CheckResult:
    if firing:
        return CheckResult(
            "alerts", "failed", f"critical alert firing since the deploy: {', '.join(firing)}"
        )
    return CheckResult("alerts", "passed", "no critical alert of the service since the deploy")


class Verifier:
    """Runs the rounds of checks of one verify stage."""

    def __init__(
        self,
        spec: Verify,
        queries: MetricQueries | None,
        deployed_at: datetime,
        sink: Callable[[str], None],
        new_critical_alerts: Callable[[datetime], list[str]] | None = None,
    ) -> None:
        """`new_critical_alerts(since)`: the critical alerts of the service that started
        firing since the given time."""
        self.spec = spec
        self.queries = queries
        self.deployed_at = deployed_at
        self.sink = sink
        self.new_critical_alerts = new_critical_alerts

    async def run(self) -> VerifyOutcome:
        deadline = time.monotonic() + self.spec.bake
        failures_in_a_row: dict[str, int] = {}
        async with httpx.AsyncClient(trust_env=False) as client:
            while True:
                results = await self._round(client)
                for result in results:
                    count = failures_in_a_row.get(result.check, 0)
                    failures_in_a_row[result.check] = count + 1 if result.status == "failed" else 0
                if any(count >= FAILURES_IN_A_ROW for count in failures_in_a_row.values()):
                    return VerifyOutcome(False, results)
                if time.monotonic() >= deadline:
                    return VerifyOutcome(all(r.status != "failed" for r in results), results)
                await asyncio.sleep(min(self.spec.interval, max(0.0, deadline - time.monotonic())))

    async def _round(self, client: httpx.AsyncClient) -> list[CheckResult]:
        results: list[CheckResult] = []
        if self.spec.health_url:
            results.append(await check_health(client, self.spec.health_url))
        now = utcnow()
        for check in self.spec.metrics:
            results.append(
                await run_in_threadpool(evaluate_metric, check, self.queries, now, self.deployed_at)
            )
        if self.new_critical_alerts is not None:
            firing = await run_in_threadpool(self.new_critical_alerts, self.deployed_at)
            results.append(alerts_result(firing))
        for result in results:
            self.sink(f"{result.check}: {result.status} - {result.message}")
        return results

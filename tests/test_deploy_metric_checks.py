"""Metric checks of the verify stage over real samples: through the PromQL engine on the store
(what a server runs) and through a server's query API (what `fullcycle worker` runs)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fullcycle.deploy.api_queries import ApiQueries
from fullcycle.deploy.metric_queries import EngineQueries, MetricQueries
from fullcycle.deploy.pipeline_spec import MetricCheck
from fullcycle.deploy.verification import evaluate_metric
from fullcycle.telemetry.batches import SampleBatch
from fullcycle.telemetry.store import StoreOptions, TelemetryStore
from tests.conftest import ADMIN_TOKEN, LiveServer

DEPLOYED_AT = (datetime.now(UTC) - timedelta(minutes=20)).replace(second=0, microsecond=0)
NOW = DEPLOYED_AT + timedelta(minutes=10)
ERROR_RATIO = MetricCheck(
    name="error ratio",
    query='sum(rate(http_requests_total{code="500"}[5m])) / sum(rate(http_requests_total[5m]))',
    below=0.05,
    max_ratio_to_before=1.5,
)


def requests(error_share_after_deploy: float) -> SampleBatch:
    """Two hours of request counters scraped every 15 s: 1 % errors before the deploy."""
    batch = SampleBatch()
    totals = {"200": 0.0, "500": 0.0}
    moment = DEPLOYED_AT - timedelta(hours=2)
    while moment <= NOW:
        share = 0.01 if moment < DEPLOYED_AT else error_share_after_deploy
        totals["500"] += 100 * share
        totals["200"] += 100 * (1 - share)
        for code, total in totals.items():
            batch.add(
                metric="http_requests_total",
                labels={"job": "shop", "code": code},
                timestamp_ms=int(moment.timestamp() * 1000),
                value=total,
                service="shop",
                type="counter",
            )
        moment += timedelta(seconds=15)
    return batch


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(StoreOptions(data_dir=tmp_path))
    opened.open()
    yield opened
    opened.close()


def stored(store: TelemetryStore, batch: SampleBatch) -> TelemetryStore:
    asyncio.run(store.append([batch]))
    store.flush()
    return store


@pytest.mark.parametrize(
    ("error_share", "status", "message"),
    [
        (0.012, "passed", ""),
        (0.02, "failed", "more than 1.5x"),
        (0.3, "failed", "is not below 0.05"),
    ],
)
def test_checks_over_the_engine(
    store: TelemetryStore, error_share: float, status: str, message: str
) -> None:
    queries = EngineQueries(stored(store, requests(error_share)))

    result = evaluate_metric(ERROR_RATIO, queries, NOW, DEPLOYED_AT)

    assert result.status == status, result
    assert message in result.message
    assert result.value == pytest.approx(error_share, rel=0.01)
    assert result.baseline == pytest.approx(0.01, rel=0.05)


def test_a_query_without_data_is_inconclusive_and_a_bad_one_fails(store: TelemetryStore) -> None:
    queries = EngineQueries(stored(store, requests(0.01)))
    no_data = ERROR_RATIO.model_copy(update={"query": "rate(checkout_errors_total[5m])"})
    broken = ERROR_RATIO.model_copy(update={"query": "sum(rate(http_requests_total[5m])"})

    assert evaluate_metric(no_data, queries, NOW, DEPLOYED_AT).status == "inconclusive"
    failed = evaluate_metric(broken, queries, NOW, DEPLOYED_AT)
    assert failed.status == "failed" and "the query failed" in failed.message


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_worker_judges_through_the_api_as_the_server_does(live_server: LiveServer) -> None:
    stored(live_server.app.state.telemetry, requests(0.02))
    over_api: MetricQueries = ApiQueries(live_server.url, ADMIN_TOKEN)
    over_engine = EngineQueries(live_server.app.state.telemetry)

    by_api = evaluate_metric(ERROR_RATIO, over_api, NOW, DEPLOYED_AT)
    by_engine = evaluate_metric(ERROR_RATIO, over_engine, NOW, DEPLOYED_AT)

    assert by_api == by_engine
    assert by_api.status == "failed"
    broken = ERROR_RATIO.model_copy(update={"query": "sum("})
    assert "the query failed" in evaluate_metric(broken, over_api, NOW, DEPLOYED_AT).message

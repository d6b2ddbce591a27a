"""The PromQL engine's own cases that the Prometheus comparison cannot cover: OTLP delta
counters, anchored regular expressions, and refusals with messages that name the problem."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fullcycle.metrics.engine import PromQLError, instant_query, range_query
from fullcycle.telemetry.batches import SampleBatch
from fullcycle.telemetry.store import StoreOptions, TelemetryStore

NOW_MS = int(time.time()) // 60 * 60 * 1000
AT = datetime.fromtimestamp(NOW_MS / 1000, UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(StoreOptions(data_dir=tmp_path))
    opened.open()
    batch = SampleBatch()
    for i in range(1, 21):  # OTLP delta counter: 6 increments every 15 s
        batch.add(
            metric="jobs_done_total",
            labels={"job": "worker"},
            timestamp_ms=NOW_MS - i * 15_000,
            value=6.0,
            type="counter_delta",
        )
    for route in ("/pay", "/payments"):
        batch.add(
            metric="hits", labels={"route": route, "job": "shop"}, timestamp_ms=NOW_MS, value=1
        )
    asyncio.run(opened.append([batch]))
    opened.flush()
    yield opened
    opened.close()


def _values(store: TelemetryStore, query: str) -> dict[str, float]:
    result = instant_query(store, query, AT)
    return {str(sorted(s.labels.items())): s.points[0][1] for s in result.series}


def test_delta_counters_are_summed_over_the_range(store: TelemetryStore) -> None:
    # 4 increments of 6 in [now-1m, now] (at -15 s ... -60 s): 24 in 60 s.
    assert list(_values(store, "increase(jobs_done_total[1m])").values()) == [24.0]
    assert list(_values(store, "rate(jobs_done_total[1m])").values()) == [pytest.approx(0.4)]


def test_regular_expressions_match_the_whole_value(store: TelemetryStore) -> None:
    assert len(_values(store, 'hits{route=~"/pay"}')) == 1
    assert len(_values(store, 'hits{route=~"/pay.*"}')) == 2
    assert len(_values(store, 'hits{route!~"/pay"}')) == 1


def test_one_to_one_matching_refuses_duplicates(store: TelemetryStore) -> None:
    with pytest.raises(PromQLError, match="many-to-many matching not allowed"):
        instant_query(store, "hits - on (job) hits", AT)


def test_many_to_one_matching_must_be_explicit(store: TelemetryStore) -> None:
    with pytest.raises(PromQLError, match=r"must be explicit \(group_left/group_right\)"):
        instant_query(store, 'hits / ignoring (route) hits{route="/pay"}', AT)
    assert len(_values(store, 'hits / ignoring (route) group_left hits{route="/pay"}')) == 2


def test_range_query_of_a_scalar_is_one_series(store: TelemetryStore) -> None:
    result = range_query(store, "time() * 2", AT - timedelta(minutes=2), AT, timedelta(minutes=1))
    assert result.result_type == "matrix"
    assert [s.points for s in result.series] == [
        [(NOW_MS / 1000 - 120 + i * 60, 2 * (NOW_MS / 1000 - 120 + i * 60)) for i in range(3)]
    ]

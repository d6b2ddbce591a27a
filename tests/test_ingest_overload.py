"""A server whose store falls behind: once more than `ingest_max_backlog_bytes` of acknowledged
data waits for the store, ingest answers 503 with Retry-After (which OTLP exporters and
Prometheus retry after), nothing it acknowledged is lost, and its memory stays bounded.

The store falls behind on purpose here: the flusher runs every 30 s only, and is woken early
only by the refusals themselves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fullcycle.app import create_app
from fullcycle.settings import Settings
from tests.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

MAX_BACKLOG_BYTES = 200_000
RECORDS_PER_REQUEST = 200
REQUESTS = 150  # 150 x 200 records of about 260 bytes: about 8 MB of NDJSON
RSS_GROWTH_BOUND_BYTES = 100 * 1024 * 1024


def vm_rss_bytes() -> int:
    """This process' resident set size, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.fixture
def behind(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    """The real app with a small backlog limit and a flusher that runs every 30 s."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        port=0,
        ingest_max_backlog_bytes=MAX_BACKLOG_BYTES,
        flush_interval_seconds=30,
    )
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        yield client


def stored(client: TestClient, sql: str) -> list[tuple[Any, ...]]:
    store = client.app.state.telemetry  # type: ignore[attr-defined]
    store.flush()
    return list(store.query(sql))


def ndjson_batch(request_number: int) -> bytes:
    padding = "p" * 160
    lines = [
        json.dumps(
            {
                "service": "overload",
                "level": "info",
                "message": f"request {request_number} record {n} {padding}",
                "rid": f"{request_number}-{n}",
            }
        )
        for n in range(RECORDS_PER_REQUEST)
    ]
    return "\n".join(lines).encode()


def test_a_store_that_falls_behind_answers_503_and_loses_nothing_acknowledged(
    behind: TestClient,
) -> None:
    """Bound: the process' RSS (VmRSS, this process runs the app) grows by less than 100 MB
    while about 8 MB of NDJSON (30,000 records, 150 requests) is offered to a store that lets at
    most 200 kB wait; about 30 MB was measured. Refused requests must leave nothing behind."""
    warm_up = behind.post("/api/v1/ingest/logs", content=ndjson_batch(-1))
    assert warm_up.json() == {"accepted": RECORDS_PER_REQUEST}
    acknowledged = RECORDS_PER_REQUEST
    stored(behind, "SELECT 1")  # the warm-up is in the store; the backlog starts empty
    rss_before = vm_rss_bytes()

    statuses: list[int] = []
    retry_afters: list[int] = []
    for number in range(REQUESTS):
        response = behind.post("/api/v1/ingest/logs", content=ndjson_batch(number))
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert response.json() == {"accepted": RECORDS_PER_REQUEST}
            acknowledged += RECORDS_PER_REQUEST
        else:
            assert response.status_code == 503, response.text
            retry_afters.append(int(response.headers["Retry-After"]))
            assert "behind" in response.json()["detail"]
    rss_after = vm_rss_bytes()

    assert 503 in statuses, "the backlog limit was never reached"
    first_refusal = statuses.index(503)
    assert first_refusal >= 2, "a backlog far under the limit should not be refused"
    assert all(seconds >= 1 for seconds in retry_afters)
    assert statuses[first_refusal:].count(200) > 0, "ingest should resume once the store catches up"

    rows = stored(
        behind,
        "SELECT count(), uniqExact(attributes['rid']) FROM fullcycle.logs"
        " WHERE service = 'overload'",
    )
    assert rows == [(acknowledged, acknowledged)]
    growth = rss_after - rss_before
    assert growth < RSS_GROWTH_BOUND_BYTES, f"RSS grew by {growth / 2**20:.0f} MB"


def _otlp_body(signal: str) -> bytes:
    now = str(time.time_ns())
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "overload"}}]}
    padding = "x" * (MAX_BACKLOG_BYTES + 1)  # one request fills the backlog
    if signal == "logs":
        records = [{"timeUnixNano": now, "body": {"stringValue": padding}}]
        return json.dumps(
            {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}
        ).encode()
    if signal == "traces":
        spans = [
            {
                "traceId": "5b8efff798038103d269b633813fc60c",
                "spanId": "eee19b7ec3c1b174",
                "name": "GET /",
                "startTimeUnixNano": now,
                "endTimeUnixNano": now,
                "attributes": [{"key": "padding", "value": {"stringValue": padding}}],
            }
        ]
        return json.dumps(
            {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
        ).encode()
    point = {
        "timeUnixNano": now,
        "asDouble": 1.0,
        "attributes": [{"key": "padding", "value": {"stringValue": padding}}],
    }
    metrics = [{"name": "queue_depth", "gauge": {"dataPoints": [point]}}]
    return json.dumps(
        {"resourceMetrics": [{"resource": resource, "scopeMetrics": [{"metrics": metrics}]}]}
    ).encode()


def test_otlp_endpoints_answer_503_with_retry_after_while_the_store_is_behind(
    behind: TestClient,
) -> None:
    """What the OTLP/HTTP exporters need to back off and retry: 503 with a Retry-After."""
    for signal in ("logs", "metrics", "traces"):
        body = _otlp_body(signal)
        statuses = []
        for _ in range(6):
            response = behind.post(
                f"/v1/{signal}", content=body, headers={"content-type": "application/json"}
            )
            statuses.append(response.status_code)
            if response.status_code == 503:
                assert int(response.headers["Retry-After"]) >= 1
                break
            assert response.status_code == 200, response.text
        assert statuses[-1] == 503, (signal, statuses)
        stored(behind, "SELECT 1")  # let the store catch up before the next signal

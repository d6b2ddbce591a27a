"""The Prometheus query API over samples that came in through the real ingest endpoints:
remote_write (with a staleness marker) and the OpenTelemetry SDK (an explicit-bucket histogram
queried with histogram_quantile). Answers and errors in Prometheus' JSON shapes."""

from __future__ import annotations

import struct
import time

import cramjam
import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from fullcycle.ingest.prometheus_proto import WriteRequest
from tests.conftest import ADMIN_TOKEN, LiveServer

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
NOW_S = int(time.time()) // 60 * 60
T0_MS = (NOW_S - 1800) * 1000  # the first sample; a sample every 15 s for 10 minutes


def _write_request(series: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> bytes:
    request = WriteRequest()
    for labels, samples in series:
        timeseries = request.timeseries.add()
        for name, value in sorted(labels.items()):
            timeseries.labels.add(name=name, value=value)
        for timestamp, value in samples:
            timeseries.samples.add(timestamp=timestamp, value=value)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


@pytest.fixture
def api(admin: TestClient) -> TestClient:
    """The app with two counters of 40 samples each; `instance="b"` ends in a staleness
    marker after its 20th sample."""
    samples_a = [(T0_MS + i * 15_000, float(i * 3)) for i in range(40)]
    samples_b = [(T0_MS + i * 15_000, float(i)) for i in range(20)]
    samples_b.append((T0_MS + 20 * 15_000, STALE_NAN))
    body = _write_request(
        [
            ({"__name__": "orders_total", "job": "shop", "instance": "a"}, samples_a),
            ({"__name__": "orders_total", "job": "shop", "instance": "b"}, samples_b),
            ({"__name__": "up", "job": "shop", "instance": "a"}, [(T0_MS, 1.0)]),
        ]
    )
    response = admin.post(
        "/api/v1/write",
        content=body,
        headers={"content-type": "application/x-protobuf", "content-encoding": "snappy"},
    )
    assert response.status_code == 204, response.text
    admin.app.state.telemetry.flush()  # type: ignore[attr-defined]
    return admin


def test_instant_query_answers_in_prometheus_shape(api: TestClient) -> None:
    at = T0_MS / 1000 + 10 * 15
    response = api.get("/api/v1/query", params={"query": "orders_total", "time": at})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "vector"
    assert sorted(body["data"]["result"], key=lambda item: item["metric"]["instance"]) == [
        {
            "metric": {"__name__": "orders_total", "job": "shop", "instance": "a"},
            "value": [at, "30"],
        },
        {
            "metric": {"__name__": "orders_total", "job": "shop", "instance": "b"},
            "value": [at, "10"],
        },
    ]


def test_post_form_and_rfc3339_time_work_like_get(api: TestClient) -> None:
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0_MS / 1000 + 10 * 15))
    response = api.post(
        "/api/v1/query", data={"query": 'sum(orders_total{instance="a"}) * 2', "time": at}
    )
    assert response.status_code == 200
    assert response.json()["data"]["result"] == [
        {"metric": {}, "value": [T0_MS / 1000 + 150, "60"]}
    ]


def test_a_staleness_marker_ends_the_series_at_once(api: TestClient) -> None:
    after_marker = T0_MS / 1000 + 20 * 15 + 5  # well within the 5-minute lookback
    response = api.get("/api/v1/query", params={"query": "orders_total", "time": after_marker})
    instances = [item["metric"]["instance"] for item in response.json()["data"]["result"]]
    assert instances == ["a"]


def test_a_sample_counts_for_five_minutes(api: TestClient) -> None:
    for offset, expected in ((299, ["1"]), (301, [])):
        response = api.get("/api/v1/query", params={"query": "up", "time": T0_MS / 1000 + offset})
        values = [item["value"][1] for item in response.json()["data"]["result"]]
        assert values == expected, offset


def test_range_query_answers_a_matrix(api: TestClient) -> None:
    start = T0_MS / 1000 + 120
    response = api.get(
        "/api/v1/query_range",
        params={
            "query": 'rate(orders_total{instance="a"}[1m])',
            "start": start,
            "end": start + 120,
            "step": "1m",
        },
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["resultType"] == "matrix"
    assert data["result"] == [
        {
            "metric": {"job": "shop", "instance": "a"},
            "values": [[start, "0.2"], [start + 60, "0.2"], [start + 120, "0.2"]],
        }
    ]


def test_series_labels_and_label_values(api: TestClient) -> None:
    series = api.get("/api/v1/series", params={"match[]": 'orders_total{instance=~"a|b"}'})
    assert series.status_code == 200
    assert sorted(item["instance"] for item in series.json()["data"]) == ["a", "b"]
    assert all(item["__name__"] == "orders_total" for item in series.json()["data"])
    labels = api.get("/api/v1/labels")
    assert labels.json() == {"status": "success", "data": ["__name__", "instance", "job"]}
    names = api.get("/api/v1/label/__name__/values")
    assert names.json()["data"] == ["orders_total", "up"]
    instances = api.get("/api/v1/label/instance/values", params={"match[]": "up"})
    assert instances.json()["data"] == ["a"]


@pytest.mark.parametrize(
    ("path", "params", "status", "kind", "words"),
    [
        ("/api/v1/query", {"query": "sum(orders_total"}, 400, "bad_data", "parse error"),
        ("/api/v1/query", {}, 400, "bad_data", '"query"'),
        ("/api/v1/query", {"query": "up", "time": "yesterday"}, 400, "bad_data", '"time"'),
        (
            "/api/v1/query",
            {"query": 'label_replace(up, "a", "$1", "job", "(.*)")'},
            422,
            "execution",
            "label_replace() is not supported",
        ),
        ("/api/v1/query", {"query": "max_over_time(up[5m:1m])"}, 422, "execution", "subquer"),
        ("/api/v1/query", {"query": "up @ 100"}, 422, "execution", "@ modifier"),
        (
            "/api/v1/query_range",
            {"query": "up", "start": 100, "end": 200, "step": 0},
            400,
            "bad_data",
            "step",
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": 200, "end": 100, "step": 10},
            400,
            "bad_data",
            "end timestamp",
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": 0, "end": 1_000_000, "step": 1},
            400,
            "bad_data",
            "11,000 points",
        ),
        ("/api/v1/series", {}, 400, "bad_data", "match[]"),
        ("/api/v1/series", {"match[]": "rate(up[5m])"}, 400, "bad_data", "series selector"),
    ],
)
def test_bad_queries_get_prometheus_errors(
    api: TestClient, path: str, params: dict[str, object], status: int, kind: str, words: str
) -> None:
    response = api.get(path, params=params)
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["status"], body["errorType"]) == ("error", kind)
    assert words in body["error"]


def test_the_query_api_needs_a_token(client: TestClient) -> None:
    response = client.get("/api/v1/query", params={"query": "up"})
    assert response.status_code == 401


def test_otlp_histogram_quantile_from_the_sdk(live_server: LiveServer) -> None:
    """An explicit-bucket histogram from the OpenTelemetry SDK is stored as `_bucket{le}` and
    `histogram_quantile` interpolates within its buckets as Prometheus does."""
    bounds = [0.1, 0.25, 0.5, 1.0]
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(
            f"{live_server.url}/v1/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ),
        export_interval_millis=3_600_000,
    )
    provider = MeterProvider(
        resource=Resource.create({"service.name": "checkout"}),
        metric_readers=[reader],
        views=[
            View(
                instrument_name="http.server.request.duration",
                aggregation=ExplicitBucketHistogramAggregation(bounds),
            )
        ],
    )
    histogram = provider.get_meter("checkout").create_histogram(
        "http.server.request.duration", unit="s"
    )
    observations = [0.05] * 10 + [0.2] * 30 + [0.4] * 40 + [0.8] * 20
    for seconds in observations:
        histogram.record(seconds, {"http.route": "/pay"})
    provider.shutdown()

    query = (
        "histogram_quantile(0.9, sum by (le, job) (http_server_request_duration_seconds_bucket))"
    )
    live_server.app.state.telemetry.flush()
    response = httpx.get(
        f"{live_server.url}/api/v1/query",
        params={"query": query},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 200, response.text
    result = response.json()["data"]["result"]
    assert [item["metric"] for item in result] == [{"job": "checkout"}]
    # Rank 90 of 100 falls in (0.5, 1] holding observations 81..100: half-way through it.
    assert float(result[0]["value"][1]) == pytest.approx(0.75)

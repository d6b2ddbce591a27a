"""Request bodies captured from real, unmodified clients, posted over HTTP with the headers those
clients sent: each is accepted with the status and response shape the client expects, and its
records are in the store with every field in its column.

The captures are in tests/fixtures/otlp/ (OpenTelemetry Python SDK 1.45.2, protobuf and JSON
exporters) and tests/fixtures/shippers/ (Prometheus 2.42.0 remote_write, rsyslog 8.2302
omelasticsearch, syslog-ng 3.38.1 http destination); their README says what sent what. The
captures were taken on 2026-11-26, so the app keeps ten years of telemetry here: otherwise the
retention would drop the captured records once they are older than two weeks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from fullcycle.app import create_app
from fullcycle.settings import Settings
from fullcycle.telemetry.schema import Retention
from tests.conftest import ADMIN_TOKEN

FIXTURES = Path(__file__).parent / "fixtures"
OTLP = FIXTURES / "otlp"
SHIPPERS = FIXTURES / "shippers"

TEN_YEARS_IN_HOURS = 10 * 365 * 24

# What the OpenTelemetry Python SDK's OTLP/HTTP exporters send (lower-case header names).
OTEL_SDK_HEADERS = {
    "bin": {
        "content-type": "application/x-protobuf",
        "user-agent": "OTel-OTLP-Exporter-Python/1.45.2",
    },
    "json": {"content-type": "application/json", "user-agent": "OTel-OTLP-Exporter-Python/1.45.2"},
}
OTLP_RESPONSES = {
    "logs": ExportLogsServiceResponse,
    "metrics": ExportMetricsServiceResponse,
    "traces": ExportTraceServiceResponse,
}

# Per capture: the resource's service.instance.id and the ids the SDK generated.
PROTOBUF_INSTANCE = "63302c79-96b5-4348-964b-b261b566b4e8"
JSON_INSTANCE = "26b8368a-2e8b-4131-b07c-6500ad8b0217"
PROTOBUF_IDS = ("917402610914a29905979e73fab3154e", "f39aa1820feb7aec")
JSON_IDS = ("c5b01d762ed01b7046438454d01f88aa", "6cd63721e3bf0688")
RESOURCE_ATTRIBUTES = {
    "telemetry.sdk.language": "python",
    "telemetry.sdk.name": "opentelemetry",
    "telemetry.sdk.version": "1.45.2",
    "service.name": "peer-demo",
    "deployment.environment": "test",
}


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app (SQLite) for the module: these tests do not touch the catalog's logic."""
    directory = tmp_path_factory.mktemp("captures")
    retention = Retention(
        logs=TEN_YEARS_IN_HOURS, samples=TEN_YEARS_IN_HOURS, spans=TEN_YEARS_IN_HOURS
    )
    settings = Settings(
        data_dir=directory / "data",
        database_url=f"sqlite:///{directory / 'fullcycle.db'}",
        admin_token=ADMIN_TOKEN,
        port=0,
        retention=retention,
    )
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        yield client


@pytest.fixture
def admin(app_client: TestClient) -> TestClient:
    """The module's app with empty telemetry tables."""
    store = app_client.app.state.telemetry  # type: ignore[attr-defined]
    store.flush()
    for table in ("logs", "samples", "spans", "series"):
        store.clickhouse.client().command(f"TRUNCATE TABLE fullcycle.{table}")
    return app_client


def stored(client: TestClient, sql: str, **parameters: object) -> list[tuple[Any, ...]]:
    store = client.app.state.telemetry  # type: ignore[attr-defined]
    store.flush()
    return list(store.query(sql, parameters))


def post_otlp_capture(admin: TestClient, signal: str, encoding: str) -> None:
    """POST otlp_<signal>.<encoding> as the SDK did; the answer is a complete success."""
    headers = OTEL_SDK_HEADERS[encoding]
    response = admin.post(
        f"/v1/{signal}", content=(OTLP / f"otlp_{signal}.{encoding}").read_bytes(), headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == headers["content-type"]
    if encoding == "json":
        assert response.json() == {}, "no partialSuccess when nothing was rejected"
    else:
        message = OTLP_RESPONSES[signal].FromString(response.content)
        assert not message.HasField("partial_success")


def test_otel_sdk_logs_land_field_by_field(admin: TestClient) -> None:
    post_otlp_capture(admin, "logs", "bin")
    post_otlp_capture(admin, "logs", "json")

    rows = stored(
        admin,
        "SELECT toUnixTimestamp64Nano(timestamp), toUnixTimestamp64Nano(observed_timestamp),"
        " service, environment, host, severity_text, severity_number, body, trace_id, span_id,"
        " scope, attributes, resource_attributes"
        " FROM fullcycle.logs ORDER BY timestamp",
    )
    attributes = {
        "order_id": "A-17",
        "code.file.path": "/tmp/peers/otel_emit.py",
        "code.function.name": "<module>",
        "code.line.number": "54",
    }
    common = ("peer-demo", "test")
    assert rows == [
        (
            1795700482000291072,
            1795700482000383666,
            *common,
            PROTOBUF_INSTANCE,  # no host.name: the instance stands in for the host
            "WARN",
            13,
            "payment slow",
            *PROTOBUF_IDS,
            "peer.demo",
            attributes,
            {**RESOURCE_ATTRIBUTES, "service.instance.id": PROTOBUF_INSTANCE},
        ),
        (
            1795700482340659712,
            1795700482340715704,
            *common,
            JSON_INSTANCE,
            "WARN",
            13,
            "payment slow",
            *JSON_IDS,
            "peer.demo",
            attributes,
            {**RESOURCE_ATTRIBUTES, "service.instance.id": JSON_INSTANCE},
        ),
    ]


def test_otel_sdk_traces_land_field_by_field(admin: TestClient) -> None:
    post_otlp_capture(admin, "traces", "bin")
    post_otlp_capture(admin, "traces", "json")

    rows = stored(
        admin,
        "SELECT trace_id, span_id, parent_span_id, name, kind, service,"
        " toUnixTimestamp64Nano(start), duration_ns, status_code, status_message, attributes,"
        " resource_attributes['service.instance.id']"
        " FROM fullcycle.spans ORDER BY start",
    )
    assert rows == [
        (
            *PROTOBUF_IDS,
            "",
            "GET /checkout",
            "internal",
            "peer-demo",
            1795700481999900125,
            1795700482000518216 - 1795700481999900125,
            "unset",
            "",
            {"http.method": "GET"},
            PROTOBUF_INSTANCE,
        ),
        (
            *JSON_IDS,
            "",
            "GET /checkout",
            "internal",
            "peer-demo",
            1795700482340339504,
            1795700482340789284 - 1795700482340339504,
            "unset",
            "",
            {"http.method": "GET"},
            JSON_INSTANCE,
        ),
    ]


def test_otel_sdk_logs_and_traces_share_their_trace_ids(admin: TestClient) -> None:
    for signal in ("logs", "traces"):
        for encoding in ("bin", "json"):
            post_otlp_capture(admin, signal, encoding)
    joined = stored(
        admin,
        "SELECT l.body, s.name FROM fullcycle.logs AS l"
        " INNER JOIN fullcycle.spans AS s ON l.trace_id = s.trace_id AND l.span_id = s.span_id",
    )
    assert joined == [("payment slow", "GET /checkout")] * 2


def _metric_rows(admin: TestClient, pattern: str) -> list[tuple[Any, ...]]:
    return stored(
        admin,
        "SELECT labels['instance'], labels['le'], value, type, unit, service, labels['job'],"
        " labels['route'], toUnixTimestamp64Milli(timestamp)"
        " FROM fullcycle.samples WHERE metric LIKE {pattern:String} ORDER BY labels['instance']",
        pattern=pattern,
    )


def test_otel_sdk_metrics_become_prometheus_samples(admin: TestClient) -> None:
    post_otlp_capture(admin, "metrics", "bin")
    post_otlp_capture(admin, "metrics", "json")
    protobuf_ms, json_ms = 1795700482020, 1795700482346

    counter = stored(
        admin,
        "SELECT labels['instance'], value, type, unit, service, labels"
        " FROM fullcycle.samples WHERE metric = 'http_requests_total' ORDER BY 1",
    )
    labels = {"job": "peer-demo", "route": "/checkout"}
    assert counter == [
        (
            JSON_INSTANCE,
            3.0,
            "counter",
            "1",
            "peer-demo",
            {**labels, "instance": JSON_INSTANCE},
        ),
        (
            PROTOBUF_INSTANCE,
            3.0,
            "counter",
            "1",
            "peer-demo",
            {**labels, "instance": PROTOBUF_INSTANCE},
        ),
    ]

    # The family's name is the next test's subject; here, its samples.
    bounds = ["0", "5", "10", "25", "50", "75", "100", "250", "500", "750", "1000", "2500"]
    bounds += ["5000", "7500", "10000", "+Inf"]
    cumulative = [0, 0, 0, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3]
    buckets = _metric_rows(admin, "http\\_duration%\\_bucket")
    for instance, moment in ((JSON_INSTANCE, json_ms), (PROTOBUF_INSTANCE, protobuf_ms)):
        mine = {row[1]: row for row in buckets if row[0] == instance}
        assert sorted(mine, key=lambda le: float(le)) == bounds
        assert [mine[le][2] for le in bounds] == [float(count) for count in cumulative]
        assert {row[3:] for row in mine.values()} == {
            ("histogram", "ms", "peer-demo", "peer-demo", "/checkout", moment)
        }
    sums = _metric_rows(admin, "http\\_duration%\\_sum")
    counts = _metric_rows(admin, "http\\_duration%\\_count")
    assert [(row[0], row[2]) for row in sums] == [
        (JSON_INSTANCE, 302.5),
        (PROTOBUF_INSTANCE, 302.5),
    ]
    assert [(row[0], row[2]) for row in counts] == [(JSON_INSTANCE, 3.0), (PROTOBUF_INSTANCE, 3.0)]


def test_otel_sdk_metric_names_carry_the_unit_as_prometheus_names_them(admin: TestClient) -> None:
    post_otlp_capture(admin, "metrics", "json")
    names = {row[0] for row in stored(admin, "SELECT DISTINCT metric FROM fullcycle.samples")}
    assert names == {
        "http_requests_total",
        "http_duration_milliseconds_bucket",
        "http_duration_milliseconds_sum",
        "http_duration_milliseconds_count",
    }


def _captured_remote_write_headers() -> dict[str, str]:
    """The headers Prometheus sent with the captured body (request 2 of the capture log)."""
    for line in (SHIPPERS / "prom_remote_write_requests.jsonl").read_text().splitlines():
        request = json.loads(line)
        if request["n"] == 2:
            assert request["body_len"] == (SHIPPERS / "prom_remote_write.bin").stat().st_size
            return {
                name: value
                for name, value in request["headers"].items()
                if name not in ("Host", "Content-Length")  # the HTTP client sets these
            }
    raise AssertionError("request 2 is missing from prom_remote_write_requests.jsonl")


def test_prometheus_remote_write_capture(admin: TestClient) -> None:
    headers = _captured_remote_write_headers()
    assert headers["Content-Encoding"] == "snappy"
    response = admin.post(
        "/api/v1/write",
        content=(SHIPPERS / "prom_remote_write.bin").read_bytes(),
        headers=headers,
    )
    assert response.status_code == 204, response.text
    assert response.content == b""

    summary = stored(
        admin,
        "SELECT count(), uniqExact(metric), uniqExact(fingerprint), groupUniqArray(service),"
        " groupUniqArray(labels['job']), groupUniqArray(labels['instance']),"
        " min(toUnixTimestamp64Milli(timestamp)), max(toUnixTimestamp64Milli(timestamp))"
        " FROM fullcycle.samples",
    )
    assert summary == [
        (383, 231, 383, ["self"], ["self"], ["127.0.0.1:19090"], 1795700339748, 1795700339748)
    ]
    build_info = stored(
        admin,
        "SELECT labels, value, type FROM fullcycle.samples WHERE metric = 'prometheus_build_info'",
    )
    assert build_info == [
        (
            {
                "branch": "debian/sid",
                "goarch": "amd64",
                "goos": "linux",
                "goversion": "go1.19.8",
                "instance": "127.0.0.1:19090",
                "job": "self",
                "revision": "2.42.0+ds-5+deb12u1",
                "version": "2.42.0+ds",
            },
            1.0,
            "",  # this request carries no metadata: Prometheus sends that separately
        )
    ]
    assert stored(admin, "SELECT value FROM fullcycle.samples WHERE metric = 'up'") == [(1.0,)]
    assert "__name__" not in str(stored(admin, "SELECT labels FROM fullcycle.samples"))
    assert admin.get("/api/v1/services/self").json()["unowned"] is True


def _rsyslog_headers() -> dict[str, str]:
    """omelasticsearch with `uid`/`pwd` sends Basic auth; its bulk requests are JSON."""
    credentials = base64.b64encode(f"rsyslog:{ADMIN_TOKEN}".encode()).decode()
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Authorization": f"Basic {credentials}",
    }


def test_rsyslog_elasticsearch_bulk_captures(admin: TestClient) -> None:
    replies = []
    for name in ("rsyslog_es_bulk_1.ndjson", "rsyslog_es_bulk_2.ndjson"):
        response = admin.post(
            "/_bulk", content=(SHIPPERS / name).read_bytes(), headers=_rsyslog_headers()
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        replies.append(response.json())

    # rsyslog reads `errors` and each item's status; anything but 2xx is retried or logged.
    assert [reply["errors"] for reply in replies] == [False, False]
    assert [len(reply["items"]) for reply in replies] == [1, 3]
    for reply in replies:
        for item in reply["items"]:
            assert list(item) == ["index"]
            outcome = item["index"]
            assert outcome["_index"] == "applogs"
            assert outcome["status"] == 201 and outcome["result"] == "created"
            assert isinstance(outcome["_id"], str) and outcome["_id"]

    rows = stored(
        admin,
        "SELECT toUnixTimestamp64Nano(timestamp), service, host, body, attributes,"
        " severity_text FROM fullcycle.logs ORDER BY timestamp",
    )
    login = 'level=info msg="user login"'
    assert rows == [
        (1795700420057024000, "app", "vm", "first line before start", {"tag": "app:"}, ""),
        (1795700422044677000, "app", "vm", f"{login} user=u1 latency_ms=7", {"tag": "app:"}, ""),
        (1795700422046364000, "app", "vm", f"{login} user=u2 latency_ms=14", {"tag": "app:"}, ""),
        (1795700422046376000, "app", "vm", f"{login} user=u3 latency_ms=21", {"tag": "app:"}, ""),
    ]


def test_syslog_ng_http_ndjson_captures(admin: TestClient) -> None:
    # syslog-ng's http destination posts through libcurl, whose default Content-Type for a POST
    # body is a form's; it authenticates with Basic auth (user() and password()).
    credentials = base64.b64encode(f"syslog-ng:{ADMIN_TOKEN}".encode()).decode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": f"Basic {credentials}",
    }
    accepted = []
    for name in ("syslogng_http_1.ndjson", "syslogng_http.ndjson"):
        response = admin.post(
            "/api/v1/ingest/logs", content=(SHIPPERS / name).read_bytes(), headers=headers
        )
        assert response.status_code == 200, response.text
        accepted.append(response.json())
    assert accepted == [{"accepted": 1}, {"accepted": 3}]

    rows = stored(
        admin,
        "SELECT toUnixTimestamp64Nano(timestamp), host, severity_text, severity_number, body,"
        " attributes, service FROM fullcycle.logs ORDER BY timestamp, body",
    )
    boot = 1795700528 * 10**9
    shard = 1795700530 * 10**9
    facility = {"FACILITY": "user"}
    timeout = 'level=error msg="db timeout"'
    assert rows == [
        (boot, "vm", "notice", 10, "boot line", facility, "unknown_service"),
        (shard, "vm", "notice", 10, f"{timeout} shard=1", facility, "unknown_service"),
        (shard, "vm", "notice", 10, f"{timeout} shard=2", facility, "unknown_service"),
        (shard, "vm", "notice", 10, f"{timeout} shard=3", facility, "unknown_service"),
    ]

"""The ingest endpoints over HTTP, as a sender sees them: authentication and scopes, tokens
limited to one service, services discovered from telemetry, malformed and oversized bodies,
compression, OTLP partial success, the Elasticsearch bulk reply, rate limits and methods.

Every test posts through the real ASGI app and checks the answer and what reached the store.
"""

from __future__ import annotations

import base64
import gzip
import json
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cramjam
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from google.protobuf import json_format
from google.rpc import status_pb2
from httpx import Response
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from fullcycle.app import create_app
from fullcycle.ingest.otlp_status import OTLP_PATHS
from fullcycle.settings import Settings
from tests.conftest import ADMIN_TOKEN, LiveServer, token_for

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

JSON = {"content-type": "application/json"}
PROTOBUF = {"content-type": "application/x-protobuf"}
NDJSON = {"content-type": "application/x-ndjson"}
SNAPPY_PROTOBUF = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


# --- request bodies -------------------------------------------------------------------------


def now_ns() -> int:
    return time.time_ns()


def _attributes(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"key": key, "value": {"stringValue": value}} for key, value in values.items()]


def otlp_logs(service: str, *bodies: str, marker: str = "") -> bytes:
    """An OTLP JSON logs request: one record per body, each with attribute `marker`."""
    records = [
        {
            "timeUnixNano": str(now_ns()),
            "severityText": "INFO",
            "severityNumber": 9,
            "body": {"stringValue": body},
            "attributes": _attributes({"marker": marker}),
        }
        for body in bodies
    ]
    return json.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": _attributes({"service.name": service})},
                    "scopeLogs": [{"scope": {"name": "test"}, "logRecords": records}],
                }
            ]
        }
    ).encode()


def otlp_spans(service: str, spans: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": _attributes({"service.name": service})},
                    "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
                }
            ]
        }
    ).encode()


def span(name: str, trace_id: str = TRACE_ID, span_id: str = SPAN_ID) -> dict[str, Any]:
    start = now_ns()
    result: dict[str, Any] = {
        "name": name,
        "kind": 2,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_500_000),
    }
    if trace_id:
        result["traceId"] = trace_id
    if span_id:
        result["spanId"] = span_id
    return result


def otlp_gauge(service: str, metric: str, value: float) -> bytes:
    point = {"timeUnixNano": str(now_ns()), "asDouble": value}
    return json.dumps(
        {
            "resourceMetrics": [
                {
                    "resource": {"attributes": _attributes({"service.name": service})},
                    "scopeMetrics": [
                        {"metrics": [{"name": metric, "gauge": {"dataPoints": [point]}}]}
                    ],
                }
            ]
        }
    ).encode()


def ndjson(*records: dict[str, Any]) -> bytes:
    return b"\n".join(json.dumps(record).encode() for record in records) + b"\n"


def bulk(*lines: dict[str, Any] | list[Any] | str) -> bytes:
    """Elasticsearch bulk NDJSON; a str line is sent as it is."""
    return b"".join(
        (line if isinstance(line, str) else json.dumps(line)).encode() + b"\n" for line in lines
    )


def loki_json(labels: dict[str, str], *lines: str) -> bytes:
    values = [[str(now_ns() + index), line] for index, line in enumerate(lines)]
    return json.dumps({"streams": [{"stream": labels, "values": values}]}).encode()


# A few lines of protobuf wire format, so that the Prometheus and Loki bodies are built
# independently of the server's own message descriptors.


def _varint(value: int) -> bytes:
    value &= 2**64 - 1
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _field_int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_double(number: int, value: float) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", value)


def snappy(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


def remote_write(metric: str, labels: dict[str, str], value: float) -> bytes:
    """A snappy-compressed prometheus.WriteRequest with one series of one sample."""
    label_fields = b"".join(
        _field_bytes(1, _field_bytes(1, name.encode()) + _field_bytes(2, text.encode()))
        for name, text in {"__name__": metric, **labels}.items()
    )
    sample = _field_bytes(2, _field_double(1, value) + _field_int(2, now_ns() // 1_000_000))
    return snappy(_field_bytes(1, label_fields + sample))


def loki_protobuf(labels: str, *lines: str) -> bytes:
    """A snappy-compressed logproto.PushRequest with one stream."""
    entries = b""
    for index, line in enumerate(lines):
        moment = now_ns() + index
        timestamp = _field_int(1, moment // 10**9) + _field_int(2, moment % 10**9)
        entries += _field_bytes(2, _field_bytes(1, timestamp) + _field_bytes(2, line.encode()))
    return snappy(_field_bytes(1, _field_bytes(1, labels.encode()) + entries))


# --- the app and its store --------------------------------------------------------------------


def settings_with(tmp_path: Path, database_url: str, **changes: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        port=0,
        **changes,
    )


@contextmanager
def admin_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        yield client


def stored(client: TestClient, sql: str, **parameters: object) -> list[tuple[Any, ...]]:
    """Rows of the app's telemetry store once everything acknowledged is flushed."""
    store = client.app.state.telemetry  # type: ignore[attr-defined]
    store.flush()
    return list(store.query(sql, parameters))


def row_count(client: TestClient) -> int:
    """Rows in the logs, samples and spans tables together."""
    return sum(
        stored(client, f"SELECT count() FROM fullcycle.{table}")[0][0]
        for table in ("logs", "samples", "spans")
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def detail(response: Response) -> str:
    """The refusal's message: OTLP answers with a google.rpc.Status in the request's encoding,
    every other endpoint with `{"detail": …}`."""
    if response.request.url.path in OTLP_PATHS:
        if response.headers["content-type"].startswith("application/json"):
            status = json_format.Parse(response.text, status_pb2.Status())
        else:
            status = status_pb2.Status.FromString(response.content)
        assert status.code != 0 and status.message, response.content
        return str(status.message)
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("detail"), str), response.text
    return str(body["detail"])


# One valid request per endpoint: (path, headers, body, success status).
ENDPOINTS: list[tuple[str, dict[str, str], Callable[[], bytes], int]] = [
    ("/v1/logs", JSON, lambda: otlp_logs("shop", "hello"), 200),
    ("/v1/metrics", JSON, lambda: otlp_gauge("shop", "queue_depth", 3), 200),
    ("/v1/traces", JSON, lambda: otlp_spans("shop", [span("GET /")]), 200),
    ("/api/v1/write", SNAPPY_PROTOBUF, lambda: remote_write("up", {"job": "shop"}, 1), 204),
    ("/loki/api/v1/push", JSON, lambda: loki_json({"app": "shop"}, "hello"), 204),
    ("/_bulk", JSON, lambda: bulk({"index": {}}, {"message": "hello", "app": "shop"}), 200),
    ("/applogs/_bulk", JSON, lambda: bulk({"index": {}}, {"message": "hi", "app": "shop"}), 200),
    ("/api/v1/ingest/logs", NDJSON, lambda: ndjson({"message": "hello", "service": "shop"}), 200),
]
ENDPOINT_PATHS = [path for path, *_ in ENDPOINTS]


# --- authentication -----------------------------------------------------------------------------


@SQLITE_ONLY
def test_an_ingest_token_works_as_bearer_and_as_the_basic_auth_password(
    admin: TestClient,
) -> None:
    shipper = token_for(admin, "shipper", ["ingest"])
    for path, headers, body, status in ENDPOINTS:
        response = admin.post(path, content=body(), headers={**headers, **bearer(shipper)})
        assert response.status_code == status, (path, response.text)

    as_basic = admin.post(
        "/_bulk",
        content=bulk({"index": {}}, {"message": "via basic auth", "app": "shop"}),
        headers={**JSON, **basic("rsyslog", shipper)},
    )
    assert as_basic.status_code == 200, as_basic.text
    assert as_basic.json()["errors"] is False
    as_basic_ndjson = admin.post(
        "/api/v1/ingest/logs",
        content=ndjson({"message": "via basic auth too", "service": "shop"}),
        headers={**NDJSON, **basic("", shipper)},
    )
    assert as_basic_ndjson.json() == {"accepted": 1}

    for refused in (
        basic("rsyslog", "fc_wrong"),
        basic("rsyslog", ""),
        {"Authorization": "Basic %%"},
    ):
        response = admin.post(
            "/api/v1/ingest/logs",
            content=ndjson({"message": "refused", "service": "shop"}),
            headers={**NDJSON, **refused},
        )
        assert response.status_code == 401, (refused, response.text)

    bodies = stored(
        admin, "SELECT body FROM fullcycle.logs WHERE body LIKE 'via basic%' ORDER BY 1"
    )
    assert bodies == [("via basic auth",), ("via basic auth too",)]
    assert stored(admin, "SELECT count() FROM fullcycle.logs WHERE body = 'refused'") == [(0,)]


def test_a_revoked_ingest_token_is_refused_a_second_later(admin: TestClient) -> None:
    """Ingest trusts a token it checked within the last second (ingest/callers.py): after a
    revocation, the token's telemetry is refused once that second has passed."""
    created = admin.post("/api/v1/tokens", json={"name": "collector", "scopes": ["ingest"]})
    assert created.status_code == 201, created.text
    shipper = created.json()["token"]

    def send(message: str) -> Response:
        return admin.post(
            "/api/v1/ingest/logs",
            content=ndjson({"message": message, "service": "shop"}),
            headers={**NDJSON, **bearer(shipper)},
        )

    assert send("before the revocation").json() == {"accepted": 1}
    assert send("trusted again").json() == {"accepted": 1}
    revoked = admin.delete(f"/api/v1/tokens/{created.json()['id']}")
    assert revoked.status_code == 200, revoked.text
    time.sleep(1.1)
    refused = send("after the revocation")
    assert refused.status_code == 401, refused.text
    assert "revoked" in refused.json()["detail"]
    bodies = stored(admin, "SELECT body FROM fullcycle.logs WHERE service = 'shop' ORDER BY 1")
    assert bodies == [("before the revocation",), ("trusted again",)]


# --- tokens limited to one service, and discovered services ---------------------------------------


def test_a_token_limited_to_one_service_may_send_only_that_services_telemetry(
    admin: TestClient,
) -> None:
    created = admin.post(
        "/api/v1/tokens",
        json={"name": "checkout-shipper", "scopes": ["ingest"], "service": "checkout"},
    )
    assert created.status_code == 201, created.text
    limited = bearer(created.json()["token"])

    own = admin.post("/v1/logs", content=otlp_logs("checkout", "mine"), headers={**JSON, **limited})
    assert own.status_code == 200, own.text
    # The service name is compared as the catalog spells it.
    spelled = admin.post(
        "/api/v1/ingest/logs",
        content=ndjson({"service": "Checkout", "message": "mine too"}),
        headers={**NDJSON, **limited},
    )
    assert spelled.status_code == 200, spelled.text

    other = admin.post(
        "/v1/logs", content=otlp_logs("payments", "theirs"), headers={**JSON, **limited}
    )
    assert other.status_code == 403, other.text
    assert "'checkout'" in detail(other) and "payments" in detail(other)

    mixed = admin.post(
        "/api/v1/ingest/logs",
        content=ndjson(
            {"service": "checkout", "message": "mixed batch, mine"},
            {"service": "payments", "message": "mixed batch, theirs"},
        ),
        headers={**NDJSON, **limited},
    )
    assert mixed.status_code == 403, mixed.text
    assert "checkout" in detail(mixed) and "payments" in detail(mixed)

    metrics = admin.post(
        "/api/v1/write",
        content=remote_write("up", {"job": "payments"}, 1),
        headers={**SNAPPY_PROTOBUF, **limited},
    )
    assert metrics.status_code == 403, metrics.text
    assert "payments" in detail(metrics)

    assert stored(admin, "SELECT service, body FROM fullcycle.logs ORDER BY body") == [
        ("checkout", "mine"),
        ("checkout", "mine too"),
    ]
    assert stored(admin, "SELECT count() FROM fullcycle.samples") == [(0,)]
    assert admin.get("/api/v1/services/payments").status_code == 404, "refused, yet registered"


def test_an_unknown_service_is_registered_unowned_with_an_audit_event(admin: TestClient) -> None:
    first = admin.post(
        "/api/v1/ingest/logs",
        content=ndjson({"service": "Fraud Check", "message": "scored order A-17"}),
        headers=NDJSON,
    )
    assert first.status_code == 200, first.text
    again = admin.post(
        "/api/v1/ingest/logs",
        content=ndjson({"service": "fraud check", "message": "scored order A-18"}),
        headers=NDJSON,
    )
    assert again.status_code == 200, again.text
    spans = admin.post(
        "/v1/traces", content=otlp_spans("inventory", [span("reserve")]), headers=JSON
    )
    assert spans.status_code == 200, spans.text

    fraud = admin.get("/api/v1/services/fraud-check")
    assert fraud.status_code == 200, fraud.text
    assert fraud.json()["unowned"] is True
    assert fraud.json()["owners"] == []
    inventory = admin.get("/api/v1/services/inventory").json()
    assert inventory["unowned"] is True

    events = admin.get("/api/v1/audit", params={"action": "service.discover"}).json()
    discovered = sorted((event["target"], event["details"].get("source")) for event in events)
    assert discovered == [("fraud-check", "ndjson"), ("inventory", "otlp")]
    assert all(event["action"] == "service.discover" for event in events)
    assert stored(admin, "SELECT DISTINCT service FROM fullcycle.logs") == [("fraud-check",)]


def test_concurrent_first_requests_of_new_services_are_all_accepted(
    live_server: LiveServer,
) -> None:
    """The exporters of a newly deployed service start at the same moment: each of their first
    requests must be stored, whichever of them registers the service. (409 is not retried by
    OTLP exporters or Prometheus, so a 409 here is telemetry lost.)"""
    statuses: list[int] = []
    senders, rounds, names_per_request = 8, 3, 10
    for round_number in range(rounds):
        names = [f"new-{round_number}-{number}" for number in range(names_per_request)]
        body = ndjson(*({"service": name, "message": "first words"} for name in names))
        barrier = threading.Barrier(senders)

        def send(body: bytes = body, barrier: threading.Barrier = barrier) -> None:
            with httpx.Client(
                base_url=live_server.url, headers=bearer(ADMIN_TOKEN), timeout=30
            ) as http:
                http.get("/healthz")  # connect first, so that the posts start together
                barrier.wait()
                statuses.append(
                    http.post("/api/v1/ingest/logs", content=body, headers=NDJSON).status_code
                )

        threads = [threading.Thread(target=send) for _ in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert statuses == [200] * (senders * rounds)
    assert live_server.stored("SELECT count() FROM fullcycle.logs") == [
        (senders * rounds * names_per_request,)
    ]
    with httpx.Client(base_url=live_server.url, headers=bearer(ADMIN_TOKEN)) as http:
        events = http.get("/api/v1/audit", params={"action": "service.discover"}).json()
        assert sorted(event["target"] for event in events) == sorted(
            f"new-{r}-{n}" for r in range(rounds) for n in range(names_per_request)
        )
        assert http.get("/api/v1/services/new-0-0").json()["unowned"] is True


def test_a_deleted_discovered_service_is_registered_again_by_its_telemetry(
    admin: TestClient, app: FastAPI
) -> None:
    # Confirmations of known services last 30 s by default; here they expire at once.
    app.state.ingest.known_services.ttl_seconds = 0
    first = admin.post("/v1/logs", content=otlp_logs("ghost", "boo"), headers=JSON)
    assert first.status_code == 200, first.text
    assert admin.delete("/api/v1/services/ghost").status_code == 204

    again = admin.post("/v1/logs", content=otlp_logs("ghost", "boo again"), headers=JSON)
    assert again.status_code == 200, again.text
    assert stored(admin, "SELECT count() FROM fullcycle.logs WHERE service = 'ghost'") == [(2,)]
    service = admin.get("/api/v1/services/ghost")
    assert service.status_code == 200, "telemetry arrives for a service the catalog lacks"
    assert service.json()["unowned"] is True
    events = admin.get("/api/v1/audit", params={"action": "service.discover"}).json()
    assert [event["target"] for event in events] == ["ghost", "ghost"]


# --- malformed, mistyped and oversized bodies -----------------------------------------------------


def _otlp_traces_protobuf_with_a_short_trace_id() -> bytes:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    good = spans.add(name="good", start_time_unix_nano=now_ns())
    good.trace_id, good.span_id = bytes.fromhex(TRACE_ID), bytes.fromhex(SPAN_ID)
    bad = spans.add(name="bad", start_time_unix_nano=now_ns())
    bad.trace_id, bad.span_id = b"\x01\x02\x03\x04\x05", bytes.fromhex(SPAN_ID)
    return request.SerializeToString()


MALFORMED: list[tuple[str, str, dict[str, str], bytes, str]] = [
    (
        "otlp-json-field",
        "/v1/logs",
        JSON,
        json.dumps(
            {
                "resourceLogs": [
                    {
                        "scopeLogs": [
                            {
                                "logRecords": [
                                    {"body": {"stringValue": "fine"}},
                                    {"body": {"stringValue": "bad"}, "timeUnixNano": "abc"},
                                ]
                            }
                        ]
                    }
                ]
            }
        ).encode(),
        "resourceLogs[0].scopeLogs[0].logRecords[1].timeUnixNano",
    ),
    (
        "otlp-json-syntax",
        "/v1/metrics",
        JSON,
        b'{"resourceMetrics": [\n  {"scopeMetrics": [}]}',
        "line 2",
    ),
    (
        "otlp-json-metric-value",
        "/v1/metrics",
        JSON,
        json.dumps(
            {
                "resourceMetrics": [
                    {
                        "scopeMetrics": [
                            {
                                "metrics": [
                                    {"name": "ok", "gauge": {"dataPoints": [{"asDouble": 1}]}},
                                    {"name": "bad", "gauge": {"dataPoints": [{"asDouble": "x"}]}},
                                ]
                            }
                        ]
                    }
                ]
            }
        ).encode(),
        "resourceMetrics[0].scopeMetrics[0].metrics[1].gauge.dataPoints[0]",
    ),
    (
        "otlp-protobuf-garbage",
        "/v1/logs",
        PROTOBUF,
        b"\x0a\x05garbage",
        "ExportLogsServiceRequest",
    ),
    (
        "otlp-protobuf-field",
        "/v1/traces",
        PROTOBUF,
        _otlp_traces_protobuf_with_a_short_trace_id(),
        "resourceSpans[0].scopeSpans[0].spans[1].traceId",
    ),
    ("remote-write-not-snappy", "/api/v1/write", SNAPPY_PROTOBUF, b"not snappy at all", "snappy"),
    (
        "remote-write-not-protobuf",
        "/api/v1/write",
        SNAPPY_PROTOBUF,
        snappy(b"\xff\xff\xff not a write request"),
        "WriteRequest",
    ),
    (
        "loki-json-entry",
        "/loki/api/v1/push",
        JSON,
        json.dumps(
            {
                "streams": [
                    {"stream": {"app": "shop"}, "values": [["1", "fine"]]},
                    {"stream": {"app": "shop"}, "values": [["2", "fine"], ["soon", "bad"]]},
                ]
            }
        ).encode(),
        "streams[1].values[1][0]",
    ),
    (
        "loki-protobuf-labels",
        "/loki/api/v1/push",
        PROTOBUF,
        loki_protobuf('{app="shop"', "a line"),
        "streams[0].labels",
    ),
    (
        "bulk-action-line",
        "/_bulk",
        JSON,
        bulk({"index": {}}, {"message": "fine"}, {"upsert": {}}, {"message": "bad"}),
        "line 3",
    ),
    (
        "bulk-missing-document",
        "/_bulk",
        JSON,
        bulk({"index": {}}, {"message": "fine"}, {"index": {}}),
        "line 3",
    ),
    (
        "ndjson-syntax",
        "/api/v1/ingest/logs",
        NDJSON,
        b'{"message": "fine"}\n\n{"message": "bad"\n{"message": "fine"}\n',
        "line 3",
    ),
    (
        "ndjson-field",
        "/api/v1/ingest/logs",
        NDJSON,
        ndjson({"message": "fine"}, {"message": "bad", "timestamp": "yesterday"}),
        "line 2: timestamp",
    ),
]


ODD_BODIES = [
    b"",
    b"null",
    b"[]",
    b"{}",
    b"\n\n\n",
    b'{"resourceLogs": 5, "streams": "x", "index": 1}',
    b"\xff\xfe\x00\x9f garbage",
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b'{"message": "\\ud800"}',
]


# --- requests that are refused: one app for all of them ------------------------------------------


@pytest.fixture(scope="class")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app (SQLite) for the tests that only send requests the server must refuse; each
    test checks that the store holds no more rows afterwards than before."""
    directory = tmp_path_factory.mktemp("refused")
    with admin_client(
        settings_with(directory, f"sqlite:///{directory / 'fullcycle.db'}")
    ) as client:
        yield client


class TestRefusedRequestsStoreNothing:
    def test_every_endpoint_answers_401_without_a_valid_token(self, shared: TestClient) -> None:
        before = row_count(shared)
        token = shared.headers.pop("Authorization")
        try:
            for path, headers, body, _ in ENDPOINTS:
                missing = shared.post(path, content=body(), headers=headers)
                assert missing.status_code == 401, (path, missing.text)
                assert missing.headers["WWW-Authenticate"] == "Bearer"
                assert "Authorization: Bearer" in detail(missing)

                wrong = shared.post(
                    path, content=body(), headers={**headers, **bearer("fc_not_a_token")}
                )
                assert wrong.status_code == 401, (path, wrong.text)
                assert "invalid" in detail(wrong)
        finally:
            shared.headers["Authorization"] = token
        assert row_count(shared) == before

    def test_a_read_only_token_is_refused_with_403_naming_the_ingest_scope(
        self, shared: TestClient
    ) -> None:
        before = row_count(shared)
        reader = token_for(shared, "reader", ["read"])
        for path, headers, body, _ in ENDPOINTS:
            response = shared.post(path, content=body(), headers={**headers, **bearer(reader)})
            assert response.status_code == 403, (path, response.text)
            assert "'ingest'" in detail(response)
        assert row_count(shared) == before

    @pytest.mark.parametrize(
        ("path", "headers", "body", "where"),
        [case[1:] for case in MALFORMED],
        ids=[case[0] for case in MALFORMED],
    )
    def test_a_malformed_body_is_400_naming_where(
        self, shared: TestClient, path: str, headers: dict[str, str], body: bytes, where: str
    ) -> None:
        before = row_count(shared)
        response = shared.post(path, content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert where in detail(response), detail(response)
        assert row_count(shared) == before

    def test_otlp_with_an_unsupported_content_type_is_415(self, shared: TestClient) -> None:
        before = row_count(shared)
        for signal in ("logs", "metrics", "traces"):
            for content_type in ("text/plain", "application/xml", "application/grpc"):
                response = shared.post(
                    f"/v1/{signal}",
                    content=otlp_logs("shop", "hello"),
                    headers={"content-type": content_type},
                )
                assert response.status_code == 415, (signal, content_type, response.text)
                assert "application/x-protobuf" in detail(response)
        assert row_count(shared) == before

    def test_loki_with_an_unsupported_content_type_is_415(self, shared: TestClient) -> None:
        before = row_count(shared)
        response = shared.post(
            "/loki/api/v1/push",
            content=loki_json({"app": "shop"}, "hello"),
            headers={"content-type": "text/plain"},
        )
        assert response.status_code == 415, response.text
        assert "text/plain" in detail(response) and "application/json" in detail(response)
        assert row_count(shared) == before

    def test_an_unknown_content_encoding_is_refused(self, shared: TestClient) -> None:
        before = row_count(shared)
        response = shared.post(
            "/v1/logs",
            content=otlp_logs("shop", "hello"),
            headers={**JSON, "content-encoding": "br"},
        )
        assert response.status_code in (400, 415), response.text
        assert "'br'" in detail(response)
        assert row_count(shared) == before

    def test_get_on_an_ingest_endpoint_is_405(self, shared: TestClient) -> None:
        for path in ENDPOINT_PATHS:
            response = shared.get(path)
            assert response.status_code == 405, (path, response.text)
            assert response.headers["Allow"] == "POST"

    def test_odd_bodies_never_cause_a_server_error(self, shared: TestClient) -> None:
        content_types = {
            "/v1/logs": ["application/json", "application/x-protobuf"],
            "/v1/traces": ["application/json", "application/x-protobuf"],
            "/v1/metrics": ["application/json", "application/x-protobuf"],
            "/loki/api/v1/push": ["application/json", "application/x-protobuf"],
            "/api/v1/write": ["application/x-protobuf"],
            "/_bulk": ["application/json"],
            "/api/v1/ingest/logs": ["application/x-ndjson"],
        }
        for path, types in content_types.items():
            for content_type in types:
                for body in ODD_BODIES:
                    response = shared.post(
                        path, content=body, headers={"content-type": content_type}
                    )
                    assert response.status_code in (200, 204, 400), (path, content_type, body[:20])
                    if response.status_code == 400:
                        assert detail(response)


@SQLITE_ONLY
def test_gzip_compressed_bodies_are_accepted(admin: TestClient) -> None:
    json_logs = admin.post(
        "/v1/logs",
        content=gzip.compress(otlp_logs("shop", "gzipped otlp json")),
        headers={**JSON, "content-encoding": "gzip"},
    )
    assert json_logs.status_code == 200, json_logs.text
    assert json_logs.json() == {}

    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.add(key="service.name").value.string_value = "shop"
    gzipped_span = resource.scope_spans.add().spans.add(
        name="gzipped otlp protobuf", start_time_unix_nano=now_ns()
    )
    gzipped_span.trace_id, gzipped_span.span_id = bytes.fromhex(TRACE_ID), bytes.fromhex(SPAN_ID)
    traces = admin.post(
        "/v1/traces",
        content=gzip.compress(request.SerializeToString()),
        headers={**PROTOBUF, "content-encoding": "gzip"},
    )
    assert traces.status_code == 200, traces.text
    assert traces.headers["content-type"] == "application/x-protobuf"

    lines = admin.post(
        "/api/v1/ingest/logs",
        content=gzip.compress(ndjson({"service": "shop", "message": "gzipped ndjson"})),
        headers={**NDJSON, "content-encoding": "gzip"},
    )
    assert lines.json() == {"accepted": 1}

    # Media type parameters and case, and the encoding's case, do not matter.
    for headers in (
        {"content-type": "application/json; charset=utf-8", "content-encoding": "GZIP"},
        {"content-type": "Application/JSON", "content-encoding": "x-gzip"},
    ):
        variant = admin.post(
            "/v1/logs", content=gzip.compress(otlp_logs("shop", "gzipped variant")), headers=headers
        )
        assert variant.status_code == 200, (headers, variant.text)
        assert variant.headers["content-type"] == "application/json"

    assert stored(admin, "SELECT service, body FROM fullcycle.logs ORDER BY body") == [
        ("shop", "gzipped ndjson"),
        ("shop", "gzipped otlp json"),
        ("shop", "gzipped variant"),
        ("shop", "gzipped variant"),
    ]
    assert stored(admin, "SELECT name, trace_id FROM fullcycle.spans") == [
        ("gzipped otlp protobuf", TRACE_ID)
    ]


@SQLITE_ONLY
def test_a_body_over_the_size_limit_is_413_declared_or_streamed(
    tmp_path: Path, database_url: str
) -> None:
    limit = 4096
    with admin_client(settings_with(tmp_path, database_url, max_body_bytes=limit)) as admin:
        records = [{"service": "shop", "message": f"line {n:04d} " + "x" * 40} for n in range(80)]
        oversized = ndjson(*records)
        assert len(oversized) > limit

        declared = admin.post("/api/v1/ingest/logs", content=oversized, headers=NDJSON)
        assert declared.status_code == 413, declared.text
        assert str(limit) in detail(declared)

        def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
            for start in range(0, len(oversized), 1000):
                yield oversized[start : start + 1000]

        streamed = admin.post("/api/v1/ingest/logs", content=chunks(), headers=NDJSON)
        assert streamed.status_code == 413, streamed.text

        metrics = admin.post(
            "/api/v1/write",
            content=b"\x00" * (limit + 1),
            headers=SNAPPY_PROTOBUF,
        )
        assert metrics.status_code == 413, metrics.text

        assert row_count(admin) == 0
        fits = admin.post("/api/v1/ingest/logs", content=ndjson(*records[:10]), headers=NDJSON)
        assert fits.json() == {"accepted": 10}


@SQLITE_ONLY
def test_a_decompression_bomb_is_413_and_stores_nothing(tmp_path: Path, database_url: str) -> None:
    limit = 1_000_000
    settings = settings_with(tmp_path, database_url, max_decompressed_bytes=limit)
    padding = b" " * (20 * limit)  # whitespace is valid JSON padding: only the size is wrong
    with admin_client(settings) as admin:
        bombs = [
            ("/v1/logs", JSON, "gzip", gzip.compress(otlp_logs("shop", "boom") + padding)),
            ("/api/v1/ingest/logs", NDJSON, "gzip", gzip.compress(padding)),
            (
                "/loki/api/v1/push",
                JSON,
                "gzip",
                gzip.compress(loki_json({"a": "b"}, "x") + padding),
            ),
            ("/_bulk", JSON, "zstd", bytes(cramjam.zstd.compress(padding))),
            ("/v1/traces", PROTOBUF, "deflate", bytes(cramjam.deflate.compress(padding))),
            ("/api/v1/write", SNAPPY_PROTOBUF, "snappy", snappy(b"\x00" * (2 * limit))),
        ]
        for path, headers, encoding, body in bombs:
            assert len(body) < limit
            response = admin.post(
                path, content=body, headers={**headers, "content-encoding": encoding}
            )
            assert response.status_code == 413, (path, encoding, response.text)
            assert str(limit) in detail(response)
        assert row_count(admin) == 0


# --- what a sender reads in a successful answer ------------------------------------------------


@SQLITE_ONLY
def test_otlp_partial_success_reports_the_rejected_records(admin: TestClient) -> None:
    spans = [span("kept one", span_id="00000000000000a1"), span("no trace id", trace_id="")]
    spans.append(span("kept two", span_id="00000000000000a2"))
    as_json = admin.post("/v1/traces", content=otlp_spans("shop", spans), headers=JSON)
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"] == "application/json"
    partial = as_json.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "resourceSpans[0].scopeSpans[0].spans[1].traceId" in partial["errorMessage"]

    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for name, span_id in (("proto kept", "00000000000000b1"), ("proto no span id", "")):
        added = scope_spans.spans.add(name=name, start_time_unix_nano=now_ns())
        added.trace_id = bytes.fromhex(TRACE_ID)
        added.span_id = bytes.fromhex(span_id)
    as_protobuf = admin.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
    assert as_protobuf.status_code == 200, as_protobuf.text
    assert as_protobuf.headers["content-type"] == "application/x-protobuf"
    response = ExportTraceServiceResponse.FromString(as_protobuf.content)
    assert response.partial_success.rejected_spans == 1
    assert "spans[1].spanId" in response.partial_success.error_message

    metrics = admin.post(
        "/v1/metrics",
        content=json.dumps(
            {
                "resourceMetrics": [
                    {
                        "scopeMetrics": [
                            {
                                "metrics": [
                                    {"name": "kept", "gauge": {"dataPoints": [{"asDouble": 2}]}},
                                    {"name": "empty"},
                                ]
                            }
                        ]
                    }
                ]
            }
        ).encode(),
        headers=JSON,
    )
    assert metrics.status_code == 200, metrics.text
    assert metrics.json()["partialSuccess"]["rejectedDataPoints"] == "1"
    assert "metrics[1]" in metrics.json()["partialSuccess"]["errorMessage"]

    # Nothing rejected: no partial_success at all, in either encoding.
    complete_json = admin.post("/v1/logs", content=otlp_logs("shop", "all good"), headers=JSON)
    assert complete_json.status_code == 200, complete_json.text
    assert complete_json.json() == {}
    complete_protobuf = admin.post("/v1/logs", content=b"", headers=PROTOBUF)
    assert complete_protobuf.status_code == 200, complete_protobuf.text
    response_message = ExportLogsServiceResponse.FromString(complete_protobuf.content)
    assert not response_message.HasField("partial_success")

    assert stored(admin, "SELECT name FROM fullcycle.spans ORDER BY name") == [
        ("kept one",),
        ("kept two",),
        ("proto kept",),
    ]
    assert stored(admin, "SELECT metric FROM fullcycle.samples") == [("kept",)]


@SQLITE_ONLY
def test_the_bulk_reply_has_elasticsearchs_shape_with_per_item_errors(admin: TestClient) -> None:
    response = admin.post(
        "/applogs/_bulk",
        content=bulk(
            {"index": {}},
            {"@timestamp": "2026-11-26T13:40:22.044677Z", "message": "first", "app": "shop"},
            {"index": {"_index": "other"}},
            {"@timestamp": "yesterday", "message": "bad time", "app": "shop"},
            {"create": {"_id": "given-id"}},
            {"message": "second", "app": "shop"},
            {"delete": {"_id": "given-id"}},
            {"index": {}},
            [1, 2, 3],
            {"index": {}},
            {"message": "third", "app": "shop"},
        ),
        headers=JSON,
    )
    assert response.status_code == 200, response.text
    reply = response.json()
    assert isinstance(reply["took"], int)
    assert reply["errors"] is True
    items = reply["items"]
    assert [next(iter(item)) for item in items] == [
        "index",
        "index",
        "create",
        "delete",
        "index",
        "index",
    ]
    outcomes = [next(iter(item.values())) for item in items]
    assert [outcome["status"] for outcome in outcomes] == [201, 400, 201, 400, 400, 201]
    assert [outcome["_index"] for outcome in outcomes] == [
        "applogs",
        "other",
        "applogs",
        "applogs",
        "applogs",
        "applogs",
    ]

    created = [outcomes[0], outcomes[2], outcomes[5]]
    assert all(outcome["result"] == "created" for outcome in created)
    assert [outcome["_seq_no"] for outcome in created] == [0, 1, 2]
    assert outcomes[2]["_id"] == "given-id"
    assert all(isinstance(outcome["_id"], str) and outcome["_id"] for outcome in outcomes)
    assert all(
        outcome["_shards"] == {"total": 1, "successful": 1, "failed": 0} for outcome in created
    )

    bad_time, delete, not_an_object = outcomes[1], outcomes[3], outcomes[4]
    assert bad_time["error"]["type"] == "mapper_parsing_exception"
    assert "line 4" in bad_time["error"]["reason"] and "yesterday" in bad_time["error"]["reason"]
    assert delete["error"]["type"] == "illegal_argument_exception"
    assert "delete" in delete["error"]["reason"]
    assert not_an_object["error"]["type"] == "mapper_parsing_exception"
    assert "line 9" in not_an_object["error"]["reason"]
    assert all("result" not in outcome for outcome in (bad_time, delete, not_an_object))

    assert stored(admin, "SELECT body FROM fullcycle.logs ORDER BY body") == [
        ("first",),
        ("second",),
        ("third",),
    ]


# --- rate limits, and every format end to end --------------------------------------------


@SQLITE_ONLY
def test_a_token_over_its_rate_limit_gets_429_with_retry_after(
    tmp_path: Path, database_url: str
) -> None:
    rate = 50  # records per second, with a burst of 100
    with admin_client(settings_with(tmp_path, database_url, ingest_rate_limit=rate)) as admin:
        first = token_for(admin, "first", ["ingest"])
        second = token_for(admin, "second", ["ingest"])

        def send(token: str, tag: str, count: int) -> Response:
            records = [{"service": "shop", "message": f"{tag} {n}"} for n in range(count)]
            return admin.post(
                "/api/v1/ingest/logs", content=ndjson(*records), headers={**NDJSON, **bearer(token)}
            )

        big = send(first, "big", 3 * rate)  # a batch over the burst passes once, into debt
        assert big.json() == {"accepted": 3 * rate}

        limited = send(first, "limited", 1)
        assert limited.status_code == 429, limited.text
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 2
        assert str(rate) in detail(limited)
        otlp_bodies = {
            "logs": otlp_logs("shop", "limited otlp"),
            "metrics": otlp_gauge("shop", "limited_otlp", 1),
            "traces": otlp_spans("shop", [span("limited otlp")]),
        }
        for signal, body in otlp_bodies.items():  # what OTLP exporters back off on
            otlp = admin.post(f"/v1/{signal}", content=body, headers={**JSON, **bearer(first)})
            assert otlp.status_code == 429, (signal, otlp.text)
            assert int(otlp.headers["Retry-After"]) >= 1

        assert send(second, "other token", 5).json() == {"accepted": 5}, "limits are per token"

        time.sleep(retry_after + 0.2)
        assert send(first, "after the wait", 1).json() == {"accepted": 1}

        counts = dict(
            stored(
                admin,
                "SELECT splitByChar(' ', body)[1] AS tag, count() FROM fullcycle.logs GROUP BY tag",
            )
        )
        assert counts == {"big": 3 * rate, "other": 5, "after": 1}


@SQLITE_ONLY
def test_every_format_lands_in_the_right_table(admin: TestClient) -> None:
    for path, headers, body, status in ENDPOINTS:
        response = admin.post(path, content=body(), headers=headers)
        assert response.status_code == status, (path, response.text)
    loki = admin.post(
        "/loki/api/v1/push",
        content=loki_protobuf('{app="shop", level="warn", env="prod"}', "from protobuf"),
        headers=PROTOBUF,
    )
    assert loki.status_code == 204, loki.text

    assert stored(admin, "SELECT body FROM fullcycle.logs ORDER BY body") == [
        ("from protobuf",),
        ("hello",),
        ("hello",),
        ("hello",),
        ("hello",),
        ("hi",),
    ]
    assert stored(
        admin,
        "SELECT severity_text, severity_number, environment FROM fullcycle.logs"
        " WHERE body = 'from protobuf'",
    ) == [("warn", 13, "prod")]
    assert stored(
        admin, "SELECT metric, value, service FROM fullcycle.samples ORDER BY metric"
    ) == [
        ("queue_depth", 3.0, "shop"),
        ("up", 1.0, "shop"),
    ]
    assert stored(admin, "SELECT name, service FROM fullcycle.spans") == [("GET /", "shop")]
    assert stored(admin, "SELECT DISTINCT service FROM fullcycle.logs") == [("shop",)]

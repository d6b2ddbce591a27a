"""The log API as a caller sees it: lines ingested through the real ingest endpoints (NDJSON
and OTLP), flushed into the real embedded store, then searched, counted, charted, faceted,
grouped into patterns, opened with their context, and tailed over server-sent events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_TOKEN, LiveServer, token_for

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NDJSON = {"content-type": "application/x-ndjson"}
START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
TRACE_ID = "5b8efff798038103d269b633813fc60c"


def at(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def ingest(client: TestClient, *records: dict[str, Any]) -> None:
    body = "\n".join(json.dumps(record) for record in records).encode()
    response = client.post("/api/v1/ingest/logs", content=body, headers=NDJSON)
    assert response.status_code == 200, response.text
    client.app.state.telemetry.flush()  # type: ignore[attr-defined]


def search(client: TestClient, q: str = "", **params: Any) -> dict[str, Any]:
    params.setdefault("from", at(-60))
    params.setdefault("to", at(3600))
    response = client.get("/api/v1/logs/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def access_line(index: int) -> dict[str, Any]:
    status = 500 if index % 10 == 0 else 200
    return {
        "timestamp": at(index),
        "service": "shop",
        "host": f"web-{index % 2}",
        "level": "error" if status == 500 else "info",
        "message": f"GET /api/orders/{index} {status} {index % 7 + 1}ms",
        "http": {"status_code": status},
        "user_id": index % 5,
    }


@pytest.fixture
def shop_logs(admin: TestClient) -> TestClient:
    """250 access lines of `shop` one second apart, and a few of `payments`."""
    ingest(admin, *(access_line(index) for index in range(250)))
    ingest(
        admin,
        {
            "timestamp": at(100.5),
            "service": "payments",
            "level": "warn",
            "host": "pay-1",
            "message": "Timeout talking to bank after 30s",
            "trace_id": TRACE_ID,
        },
        {
            "timestamp": at(101.5),
            "service": "payments",
            "level": "error",
            "host": "pay-1",
            "message": "card declined for user 7",
            "trace_id": TRACE_ID,
        },
    )
    return admin


@SQLITE_ONLY
def test_search_answers_the_exact_total_newest_first_with_cursor_paging(
    shop_logs: TestClient,
) -> None:
    first = search(shop_logs, "service:shop", limit=100)
    assert first["total"] == 250
    assert len(first["results"]) == 100
    stamps = [line["timestamp"] for line in first["results"]]
    assert stamps == sorted(stamps, reverse=True)
    assert first["results"][0]["body"] == "GET /api/orders/249 200 5ms"
    seen = [line["id"] for line in first["results"]]
    cursor = first["next_cursor"]
    while cursor:
        page = search(shop_logs, "service:shop", limit=100, cursor=cursor)
        assert page["total"] == 250
        seen += [line["id"] for line in page["results"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 250


@SQLITE_ONLY
def test_paging_through_lines_that_share_timestamps_sees_each_line_once(admin: TestClient) -> None:
    ingest(
        admin,
        *(
            {"timestamp": at(index // 10), "service": "tied", "message": f"tied line {index}"}
            for index in range(95)
        ),
    )
    seen: list[str] = []
    cursor = None
    while True:
        page = search(admin, "service:tied", limit=7, **({"cursor": cursor} if cursor else {}))
        assert page["total"] == 95
        seen += [line["body"] for line in page["results"]]
        stamps = [line["timestamp"] for line in page["results"]]
        assert stamps == sorted(stamps, reverse=True)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"tied line {index}" for index in range(95))


@SQLITE_ONLY
def test_search_filters_by_query_and_time_range(shop_logs: TestClient) -> None:
    errors = search(shop_logs, "level:error service:shop")
    assert errors["total"] == 25
    assert {line["level"] for line in errors["results"]} == {"error"}
    assert search(shop_logs, "http.status_code:>=500")["total"] == 25
    assert search(shop_logs, "user_id:3 AND host:web-1")["total"] == 25
    assert search(shop_logs, "TIMEOUT OR declined")["total"] == 2
    in_range = search(shop_logs, "service:shop", **{"from": at(10), "to": at(20)})
    assert in_range["total"] == 10  # [from, to)
    relative = search(shop_logs, "service:shop", **{"from": "now-2h", "to": "now"})
    assert relative["total"] == 250
    assert search(shop_logs, "service:shop", **{"from": "now-1m", "to": "now"})["total"] == 0
    ahead = search(shop_logs, "service:shop", **{"from": "now-2h", "to": "now+1h"})
    assert ahead["total"] == 250  # a window may end ahead of now, as in Grafana
    line = search(shop_logs, "declined")["results"][0]
    assert line["service"] == "payments" and line["trace_id"] == TRACE_ID
    assert line["severity_text"] == "error" and line["host"] == "pay-1"


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "service:)"}, "q: unexpected ')' at column 9; expected a value after 'service:'"),
        ({"q": "(a OR b"}, "q: unexpected end of query at column 8; expected ')'"),
        ({"q": "/a**/"}, "q: "),
        ({"q": "a", "from": "yesterday"}, "from: 'yesterday' is not a time"),
        ({"q": "a", "from": "2026-01-01T00:00:00"}, "from: '2026-01-01T00:00:00' has no time zone"),
        ({"q": "a", "from": "now", "to": "now-1h"}, "from: must be before to"),
        ({"q": "a", "from": "0001-01-01T00:00:00Z"}, "outside the years 1970-2261"),
        ({"q": "a", "to": "9999-12-31T00:00:00Z"}, "to: '9999-12-31T00:00:00Z' is outside"),
        ({"q": "a", "from": "now-999999999w", "to": "now-999999998w"}, "is before 1970"),
        ({"q": "a", "cursor": "abc"}, "cursor: not a cursor"),
    ],
)
def test_bad_input_is_a_400_naming_what_and_where(
    admin: TestClient, params: dict[str, str], message: str
) -> None:
    for endpoint in ("search", "histogram", "facets", "patterns"):
        if "cursor" in params and endpoint != "search":
            continue
        response = admin.get(f"/api/v1/logs/{endpoint}", params=params)
        assert response.status_code == 400, (endpoint, response.text)
        assert message in response.json()["detail"]


@SQLITE_ONLY
def test_a_regular_expression_re2_refuses_is_a_400_not_a_500(admin: TestClient) -> None:
    ingest(admin, {"timestamp": at(1), "service": "shop", "message": "aaa"})
    response = admin.get("/api/v1/logs/search", params={"q": "/a*+/", "from": at(-60)})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("q: ")


@SQLITE_ONLY
def test_histogram_is_stacked_by_level_and_sums_to_the_total(shop_logs: TestClient) -> None:
    response = shop_logs.get(
        "/api/v1/logs/histogram", params={"q": "", "from": at(0), "to": at(300), "buckets": 30}
    )
    assert response.status_code == 200
    histogram = response.json()
    assert histogram["step_seconds"] == 10
    assert len(histogram["buckets"]) == 30
    assert histogram["buckets"][0] == at(0).replace("Z", ".000000000Z")
    assert set(histogram["levels"]) == {"info", "warn", "error"}
    assert sum(histogram["levels"]["error"]) == 26
    assert sum(histogram["levels"]["warn"]) == 1
    assert sum(sum(counts) for counts in histogram["levels"].values()) == 252
    assert histogram["levels"]["error"][0] == 1  # second 0 is a 500


@SQLITE_ONLY
def test_facets_count_values_for_the_current_query(shop_logs: TestClient) -> None:
    response = shop_logs.get(
        "/api/v1/logs/facets", params={"q": "service:shop", "from": at(-60), "to": at(3600)}
    )
    assert response.json()["attribute_lines"] == 250
    facets = {facet["field"]: facet["values"] for facet in response.json()["facets"]}
    assert facets["service"] == [{"value": "shop", "count": 250}]
    assert facets["level"] == [{"value": "info", "count": 225}, {"value": "error", "count": 25}]
    assert {item["value"]: item["count"] for item in facets["host"]} == {
        "web-0": 125,
        "web-1": 125,
    }
    assert facets["http.status_code"][0] == {"value": "200", "count": 225}
    assert len(facets["user_id"]) == 5


@SQLITE_ONLY
def test_an_attribute_named_like_a_field_does_not_replace_its_facet(admin: TestClient) -> None:
    """Loki keeps a stream's labels as attributes, `level` among them; lines from elsewhere
    have no such attribute. The level facet still counts every line's level."""
    stream = {"service_name": "shop", "level": "info", "logger": "shop"}
    start_ns = int(START.timestamp()) * 1_000_000_000
    values = [[str(start_ns + n), "bought"] for n in range(3)]
    pushed = {"streams": [{"stream": stream, "values": values}]}
    response = admin.post("/loki/api/v1/push", json=pushed)
    assert response.status_code == 204, response.text
    ingest(admin, {"timestamp": at(1), "service": "shop", "level": "info", "message": "bought"})

    response = admin.get(
        "/api/v1/logs/facets", params={"q": "service:shop", "from": at(-60), "to": at(60)}
    )

    facets = {facet["field"]: facet["values"] for facet in response.json()["facets"]}
    assert facets["level"] == [{"value": "info", "count": 4}]
    assert facets["logger"] == [{"value": "shop", "count": 3}]
    assert "service_name" in facets


@SQLITE_ONLY
def test_patterns_group_lines_into_templates_and_mark_new_ones(shop_logs: TestClient) -> None:
    params = {"q": "", "from": at(-60), "to": at(3600)}
    patterns = shop_logs.get("/api/v1/logs/patterns", params=params).json()
    assert patterns["sampled"] == 252
    top = patterns["patterns"][0]
    assert top["count"] == 250 and "GET" in top["template"] and "<NUM>" in top["template"]
    assert sum(top["sparkline"]) == 250
    assert top["first_seen"].startswith(at(0)[:19]) and top["last_seen"].startswith(at(249)[:19])
    assert not any(pattern["new"] for pattern in patterns["patterns"])

    ingest(shop_logs, {"timestamp": at(400), "service": "shop", "message": "disk full on /var"})
    ingest(shop_logs, {"timestamp": at(401), "service": "shop", "message": "GET /api/x 200 1ms"})
    since = shop_logs.get("/api/v1/logs/patterns", params={**params, "new_since": at(300)}).json()
    assert since["sampled"] == 2
    new = {pattern["template"]: pattern["new"] for pattern in since["patterns"]}
    assert new == {"disk full on /var": True, "GET <*> <NUM> <NUM>": False}


@SQLITE_ONLY
def test_a_line_opens_with_its_attributes_and_context(shop_logs: TestClient) -> None:
    line = search(shop_logs, '"orders/100 "')["results"][0]
    response = shop_logs.get(f"/api/v1/logs/lines/{line['id']}", params={"context": 2})
    assert response.status_code == 200
    found = response.json()
    assert found["line"]["attributes"] == {"http.status_code": "500", "user_id": "0"}
    # same service and host: web-0 has the even lines
    assert [item["body"].split()[1] for item in found["context"]] == [
        f"/api/orders/{index}" for index in (96, 98, 100, 102, 104)
    ]
    missing = shop_logs.get("/api/v1/logs/lines/1-1")
    assert missing.status_code == 404
    assert shop_logs.get("/api/v1/logs/lines/nonsense").status_code == 400


@SQLITE_ONLY
def test_otlp_logs_are_searchable_by_trace_and_resource_attributes(admin: TestClient) -> None:
    record = {
        "timeUnixNano": str(int((START + timedelta(seconds=5)).timestamp() * 1e9)),
        "severityNumber": 17,
        "severityText": "ERROR",
        "body": {"stringValue": "payment <failed> for order 17"},
        "traceId": TRACE_ID,
        "spanId": "eee19b7ec3c1b174",
        "attributes": [{"key": "order.id", "value": {"intValue": "17"}}],
    }
    body = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "billing"}},
                        {"key": "k8s.pod.name", "value": {"stringValue": "billing-7f9"}},
                    ]
                },
                "scopeLogs": [{"scope": {"name": "app"}, "logRecords": [record]}],
            }
        ]
    }
    response = admin.post("/v1/logs", json=body)
    assert response.status_code == 200, response.text
    admin.app.state.telemetry.flush()  # type: ignore[attr-defined]
    for query in (f"trace_id:{TRACE_ID}", "k8s.pod.name:billing-*", "order.id:>=17", "failed"):
        result = search(admin, query)
        assert result["total"] == 1, query
        assert result["results"][0]["body"] == "payment <failed> for order 17"


@SQLITE_ONLY
def test_a_read_token_may_search_and_an_ingest_only_token_may_not(admin: TestClient) -> None:
    reader = token_for(admin, "reader", ["read"])
    sender = token_for(admin, "sender", ["ingest"])
    url = "/api/v1/logs/search"
    assert admin.get(url, headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    refused = admin.get(url, headers={"Authorization": f"Bearer {sender}"})
    assert refused.status_code == 403 and "'read'" in refused.json()["detail"]


def events_until_lines(lines: Iterator[str], seconds: float) -> list[dict[str, Any]]:
    """The stream's events until one carries lines (or `seconds` pass; the server sends a
    comment every second, so the deadline is checked)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    event = ""
    for text in lines:
        if text.startswith("event: "):
            event = text[7:]
        elif text.startswith("data: "):
            found.append({"event": event, "data": json.loads(text[6:])})
            if event == "lines":
                break
        if time.monotonic() > deadline:
            break
    return found


def tail(
    live_server: LiveServer, params: dict[str, Any], records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Open a tail, wait until it is ready, send `records`, return the events that follow."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = "\n".join(json.dumps(record) for record in records)
    with (
        httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as http,
        http.stream("GET", "/api/v1/logs/tail", params=params) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "event: ready"
        sent = http.post("/api/v1/ingest/logs", content=body, headers=NDJSON)
        assert sent.status_code == 200
        return events_until_lines(lines, 20)


@SQLITE_ONLY
def test_live_tail_sends_new_matching_lines_as_server_sent_events(live_server: LiveServer) -> None:
    records = [
        {"service": "shop", "level": "info", "message": "tail me <b>1</b>"},
        {"service": "shop", "level": "debug", "message": "not me"},
        {"service": "other", "level": "info", "message": "nor me"},
    ]
    events = tail(live_server, {"q": "service:shop -level:debug"}, records)
    lines = [line for event in events if event["event"] == "lines" for line in event["data"]]
    assert [line["body"] for line in lines] == ["tail me <b>1</b>"]


@SQLITE_ONLY
def test_live_tail_drops_and_says_so_when_more_arrive_than_the_limit(
    live_server: LiveServer,
) -> None:
    records = [{"service": "shop", "message": f"flood {index}"} for index in range(500)]
    events = tail(live_server, {"q": "flood", "limit": 10}, records)
    dropped = sum(event["data"]["count"] for event in events if event["event"] == "dropped")
    lines = [line for event in events if event["event"] == "lines" for line in event["data"]]
    assert len(lines) == 10 and dropped == 490
    assert len({line["body"] for line in lines}) == 10


def test_saved_searches_are_shared_checked_and_deleted_by_their_author(admin: TestClient) -> None:
    """On SQLite and PostgreSQL: saved searches through the API, as two users."""
    alice = {"Authorization": f"Bearer {token_for(admin, 'alice', ['read'])}"}
    bob = {"Authorization": f"Bearer {token_for(admin, 'bob', ['read'])}"}
    url = "/api/v1/logs/saved-searches"
    body = {"name": "checkout errors", "q": "service:checkout level:error", "from": "now-24h"}
    created = admin.post(url, json=body, headers=alice)
    assert created.status_code == 201, created.text
    saved = created.json()
    assert saved["created_by"] == "alice" and saved["to"] == "now"

    listed = admin.get(url, headers=bob).json()
    assert [(item["name"], item["q"], item["from"]) for item in listed] == [
        ("checkout errors", "service:checkout level:error", "now-24h")
    ]
    assert admin.post(url, json=body, headers=bob).status_code == 409
    broken = admin.post(url, json={"name": "broken", "q": "service:("}, headers=bob)
    assert broken.status_code == 422
    assert "q: unexpected '(' at column 9" in broken.json()["detail"]
    bad_time = admin.post(url, json={"name": "t", "q": "", "from": "soon"}, headers=bob)
    assert bad_time.status_code == 422 and "from: 'soon'" in bad_time.json()["detail"]
    assert admin.post(url, json={"name": " ", "q": ""}, headers=bob).status_code == 422
    assert [item["name"] for item in admin.get(url).json()] == ["checkout errors"]

    assert admin.delete(f"{url}/{saved['id']}", headers=bob).status_code == 403
    assert admin.delete(f"{url}/{saved['id']}", headers=alice).status_code == 204
    assert admin.get(url).json() == []
    assert admin.delete(f"{url}/{saved['id']}", headers=alice).status_code == 404
    actions = [event["action"] for event in admin.get("/api/v1/audit").json()]
    assert actions[:2] == ["logs.saved_search.delete", "logs.saved_search.create"]

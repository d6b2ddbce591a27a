"""GET /api/v1/services/{name}/dashboard: panels chosen by the conventions the data follow,
panels without data left out, markers included, and bad input answered with a 4xx."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from tests.test_dashboards_browser import _series
from tests.test_promql_api import _write_request

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def shop(admin: TestClient) -> TestClient:
    assert admin.post("/api/v1/teams", json={"name": "payments"}).status_code == 201
    response = admin.post("/api/v1/services", json={"name": "checkout", "owners": ["payments"]})
    assert response.status_code == 201, response.text
    response = admin.post(
        "/api/v1/write",
        content=_write_request(_series(int(time.time()))),
        headers={"content-type": "application/x-protobuf", "content-encoding": "snappy"},
    )
    assert response.status_code == 204
    admin.app.state.telemetry.flush()  # type: ignore[attr-defined]
    return admin


def test_panels_follow_the_prometheus_client_conventions(shop: TestClient) -> None:
    response = shop.get("/api/v1/services/checkout/dashboard", params={"range": "30m"})
    assert response.status_code == 200, response.text
    body = response.json()
    panels = {panel["title"]: panel for panel in body["panels"]}
    assert list(panels) == [
        "Requests per second",
        "Error ratio",
        "Latency",
        "Memory",
        "Instances up",
    ]
    assert panels["Requests per second"]["queries"] == [
        'sum(rate(http_requests_total{job="checkout"}[5m]))'
    ]
    assert [s["name"] for s in panels["Latency"]["series"]] == ["p50", "p95", "p99"]
    assert panels["Memory"]["unit"] == "bytes"
    assert body["end"] - body["start"] == 1800
    assert len(body["timestamps"]) == len(panels["Memory"]["series"][0]["values"])
    assert body["markers"] == []


def test_a_service_without_telemetry_has_no_panels(shop: TestClient) -> None:
    response = shop.post("/api/v1/services", json={"name": "quiet", "owners": ["payments"]})
    assert response.status_code == 201
    assert shop.get("/api/v1/services/quiet/dashboard").json()["panels"] == []


@pytest.mark.parametrize(
    ("path", "params", "status", "words"),
    [
        ("/api/v1/services/nope/dashboard", {}, 404, "no service named 'nope'"),
        ("/api/v1/services/checkout/dashboard", {"range": "forever"}, 422, "range 'forever'"),
        ("/api/v1/services/checkout/dashboard", {"range": "90d"}, 422, "at most 31d"),
        (
            "/api/v1/services/checkout/dashboard",
            {"start": "200", "end": "100"},
            422,
            "start must be before end",
        ),
        ("/api/v1/services/checkout/dashboard", {"end": "soon"}, 422, '"end"'),
    ],
)
def test_bad_windows_are_refused(
    shop: TestClient, path: str, params: dict[str, str], status: int, words: str
) -> None:
    response = shop.get(path, params=params)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]

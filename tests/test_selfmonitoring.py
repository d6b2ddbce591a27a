"""fullcycle watching itself: /metrics in Prometheus text format behind auth, JSON log lines."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from fullcycle.app import create_app
from fullcycle.selfmonitoring.json_logs import JsonFormatter
from fullcycle.settings import Settings
from tests.conftest import token_for


def test_metrics_need_read_scope(admin: TestClient) -> None:
    ingest_only = token_for(admin, "shipper", ["ingest"])
    assert admin.get("/metrics", headers={"Authorization": ""}).status_code == 401
    refused = admin.get("/metrics", headers={"Authorization": f"Bearer {ingest_only}"})
    assert refused.status_code == 403
    assert "'read'" in refused.json()["detail"]


def test_metrics_count_requests_by_route_and_expose_process_metrics(admin: TestClient) -> None:
    for _ in range(3):
        admin.get("/api/v1/users/admin")
    admin.get("/api/v1/users/nobody")
    response = admin.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    requests = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["fullcycle_http_requests"].samples
        if s.name == "fullcycle_http_requests_total"
    }
    assert requests[("/api/v1/users/{name}", "200")] == 3
    assert requests[("/api/v1/users/{name}", "404")] == 1
    latency = families["fullcycle_http_request_duration_seconds"].samples
    counts = [
        s
        for s in latency
        if s.name.endswith("_count") and s.labels["route"] == "/api/v1/users/{name}"
    ]
    assert counts and counts[0].value == 4
    assert "process_resident_memory_bytes" in families
    assert "python_info" in families


def test_dedicated_metrics_token_reads_metrics_only(settings: Settings) -> None:
    scrape_settings = Settings(**{**settings.__dict__, "metrics_token": "scrape-secret-123"})
    with TestClient(create_app(scrape_settings)) as client:
        scrape = {"Authorization": "Bearer scrape-secret-123"}
        assert client.get("/metrics", headers=scrape).status_code == 200
        assert client.get("/api/v1/users", headers=scrape).status_code == 401


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_request_log_lines_are_json(admin: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="fullcycle.request"):
        admin.get("/api/v1/users/admin")
    records = [r for r in caplog.records if r.name == "fullcycle.request"]
    assert records
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["route"] == "/api/v1/users/{name}"
    assert line["status"] == 200
    assert line["actor"] == "admin (token FULLCYCLE_ADMIN_TOKEN)"
    assert line["level"] == "info"
    assert isinstance(line["duration_ms"], float)


def test_oversized_body_is_413_and_changes_nothing(settings: Settings) -> None:
    small = Settings(**{**settings.__dict__, "max_body_bytes": 1000})
    with TestClient(create_app(small)) as client:
        client.headers["Authorization"] = "Bearer " + str(settings.admin_token)
        response = client.post("/api/v1/users", json={"name": "big", "display_name": "x" * 5000})
        assert response.status_code == 413
        assert "1000 bytes" in response.json()["detail"]
        assert client.get("/api/v1/users/big").status_code == 404


def test_unknown_page_is_an_html_error_page(admin: TestClient) -> None:
    response = admin.get("/no/such/page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    api = admin.get("/api/v1/no/such")
    assert api.status_code == 404
    assert api.json() == {"detail": "Not Found"}

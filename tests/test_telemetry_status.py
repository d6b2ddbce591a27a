"""What the telemetry store holds and keeps, in the API and on the Telemetry page."""

from __future__ import annotations

import json
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fullcycle.settings import Settings
from fullcycle.telemetry.schema import Retention

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return Settings(**{**settings.__dict__, "retention": Retention(logs=36, samples=24 * 90)})


def test_status_shows_rows_and_configured_retention(admin: TestClient, app: FastAPI) -> None:
    now_ms = int(time.time() * 1000)  # within the 36 h kept: older rows are dropped on insert
    lines = "\n".join(
        json.dumps({"timestamp": now_ms - n, "service": "shop", "message": f"line {n}"})
        for n in range(3)
    )
    response = admin.post(
        "/api/v1/ingest/logs", content=lines, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    app.state.telemetry.flush()
    status = admin.get("/api/v1/telemetry").json()
    tables = {table["name"]: table for table in status["tables"]}
    assert tables["logs"]["rows"] == 3
    assert tables["logs"]["retention_hours"] == 36
    assert tables["samples"]["retention_hours"] == 24 * 90
    assert tables["spans"]["retention_hours"] == 24 * 7
    assert status["engine"] == "embedded chDB"
    page = admin.get("/telemetry")
    assert page.status_code == 200
    assert "36 hours" in page.text
    assert "90 days" in page.text

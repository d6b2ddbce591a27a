"""`fullcycle worker` does the background work of servers that run without it, and the
endpoint it sends its rows to refuses anything not shaped like a telemetry table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from fullcycle.alerting.evaluation import store_log_counter
from fullcycle.logs.remote import api_log_counter
from fullcycle.telemetry.batches import LogBatch, SampleBatch
from fullcycle.telemetry.payloads import encode_batches
from fullcycle.telemetry.remote import BATCHES_CONTENT_TYPE, BATCHES_PATH
from tests.conftest import ADMIN_TOKEN, LiveServer
from tests.test_ingest_server_crash import Server, server_environment
from tests.test_scraper import MetricsServer, shop_registry, text_only

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NOW_NS = time.time_ns()


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"waited {seconds:g} s for {what}")


@pytest.fixture
def exporter() -> Iterator[MetricsServer]:
    metrics = MetricsServer(routes={"/metrics": text_only(shop_registry())})
    metrics.start()
    yield metrics
    metrics.stop()


def start_worker(server: Server, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "fullcycle", "--url", server.url, "worker", "--data-dir", data_dir],
        env={**server_environment(), "FULLCYCLE_TOKEN": ADMIN_TOKEN},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def test_worker_scrapes_for_a_server_without_background_work(
    tmp_path: Path, exporter: MetricsServer
) -> None:
    data_dir = tmp_path / "data"
    server = Server(data_dir, {"FULLCYCLE_BACKGROUND_WORK": "false"})
    server.wait_until_healthy()
    worker: subprocess.Popen[bytes] | None = None
    try:
        api = httpx.Client(base_url=server.url, headers=AUTH)
        api.post("/api/v1/services", json={"name": "orders", "owners": ["shop"]})
        created = api.post(
            "/api/v1/services/orders/scrape-targets",
            json={"url": f"{exporter.base}/metrics", "interval_seconds": 5},
        )
        assert created.status_code == 201, created.text
        target = f"/api/v1/services/orders/scrape-targets/{created.json()['id']}"

        time.sleep(3)
        assert exporter.hits("/metrics") == 0, "the server itself must not scrape"
        assert api.get(target).json()["health"] == "unknown"

        worker = start_worker(server, data_dir, tmp_path / "worker.log")
        wait_for(lambda: api.get(target).json()["health"] == "up", 30, "the worker's scrape")

        def samples() -> int:
            tables = api.get("/api/v1/telemetry").json()["tables"]
            return next(table["rows"] for table in tables if table["name"] == "samples")

        wait_for(lambda: samples() > 0, 30, "the scraped samples in the server's store")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0, (tmp_path / "worker.log").read_text()
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        assert server.terminate() == 0


def test_worker_refuses_a_data_dir_without_a_database(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fullcycle", "worker", "--data-dir", tmp_path / "empty"],
        env={**os.environ, "FULLCYCLE_TOKEN": ADMIN_TOKEN},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "no fullcycle database in" in result.stderr + result.stdout


def _logs(body: str) -> LogBatch:
    batch = LogBatch()
    batch.add(timestamp_ns=NOW_NS, body=body, service="orders", severity_text="INFO")
    return batch


def post_batches(client: TestClient, body: bytes) -> httpx.Response:
    return client.post(
        BATCHES_PATH, content=body, headers={**AUTH, "Content-Type": BATCHES_CONTENT_TYPE}
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_batches_are_stored_like_any_ingest(live_server: LiveServer) -> None:
    samples = SampleBatch()
    samples.add(metric="up", labels={"job": "orders"}, timestamp_ms=NOW_NS // 10**6, value=1)
    response = httpx.post(
        f"{live_server.url}{BATCHES_PATH}",
        content=encode_batches([_logs("order 17 shipped"), samples]),
        headers={**AUTH, "Content-Type": BATCHES_CONTENT_TYPE},
    )

    assert response.json() == {"accepted": 2}
    assert live_server.stored("SELECT timestamp, body FROM fullcycle.logs")[0][1] == (
        "order 17 shipped"
    )
    assert live_server.stored("SELECT metric, value FROM fullcycle.samples") == [("up", 1.0)]


def _renamed(payload: bytes, old: str, new: str) -> bytes:
    return payload.replace(bytes([len(old)]) + old.encode(), bytes([len(new)]) + new.encode(), 1)


def _wrong_schema() -> bytes:
    sink = pa.BufferOutputStream()
    table = pa.table({"timestamp": [1], "body": ["x"]})
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    data = sink.getvalue().to_pybytes()
    return bytes([4]) + b"logs" + len(data).to_bytes(4, "little") + data


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x04logs\xff\xff", "not a fullcycle batch body"),
        (_renamed(encode_batches([_logs("x")]), "logs", "lags"), "batch 0: unknown table 'lags'"),
        (_wrong_schema(), "batch 0 (logs): column 'timestamp' is int64, expected timestamp"),
    ],
)
def test_malformed_batches_are_refused_and_change_nothing(
    admin: TestClient, body: bytes, message: str
) -> None:
    response = post_batches(admin, body)

    assert response.status_code == 400
    assert message in response.text
    assert admin.app.state.telemetry.query("SELECT count() FROM fullcycle.logs") == [(0,)]


def test_batches_need_their_content_type(admin: TestClient) -> None:
    response = admin.post(BATCHES_PATH, content=encode_batches([_logs("x")]), headers=AUTH)

    assert response.status_code == 415


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_worker_counts_log_lines_through_the_api_as_the_server_does(
    live_server: LiveServer,
) -> None:
    lines = [_logs(f"payment {n} timed out" if n % 3 else f"payment {n} ok") for n in range(9)]
    response = httpx.post(
        f"{live_server.url}{BATCHES_PATH}",
        content=encode_batches(lines),
        headers={**AUTH, "Content-Type": BATCHES_CONTENT_TYPE},
    )
    assert response.status_code == 200, response.text
    live_server.app.state.telemetry.flush()
    by_api = api_log_counter(live_server.url, ADMIN_TOKEN)
    in_store = store_log_counter(live_server.app.state.telemetry)
    window = (NOW_NS - 60 * 10**9, NOW_NS + 60 * 10**9)

    for query in ('"timed out"', "service:orders", "-timed"):
        assert by_api(query, *window) == in_store(query, *window), query
    assert by_api('"timed out"', *window) == 6
    with pytest.raises(ValueError, match="the log count failed \\(400\\)"):
        by_api("service:(", *window)


def test_worker_refuses_a_token_without_the_read_scope(live_server: LiveServer) -> None:
    created = httpx.post(
        f"{live_server.url}/api/v1/tokens",
        json={"name": "worker", "scopes": ["ingest"]},
        headers=AUTH,
    )
    assert created.status_code == 201, created.text

    result = subprocess.run(  # on a token it cannot use, a worker must stop, not run
        [sys.executable, "-m", "fullcycle", "--url", live_server.url, "worker"],
        env={
            **server_environment(),
            "FULLCYCLE_TOKEN": created.json()["token"],
            "FULLCYCLE_DATABASE_URL": live_server.settings.resolved_database_url,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "the worker's token lacks the read scope (it has: ingest)" in result.stderr

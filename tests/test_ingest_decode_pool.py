"""`fullcycle up` starts its ingest decoding workers when it starts, not on the first request
(which would otherwise wait for them: seconds on a busy machine)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN
from tests.otlp_requests import protobuf_logs
from tests.test_ingest_server_crash import Server, child_processes, stored_counts

WORKERS = 2


def _workers(pid: int) -> set[int]:
    """The server's decoding workers (children started by multiprocessing's spawn, not its
    resource tracker)."""
    return {
        child
        for child in child_processes(pid)
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    }


def _workers_within(pid: int, count: int, seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while len(_workers(pid)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return _workers(pid)


def test_the_workers_start_with_the_server_and_serve_the_first_request(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", {"FULLCYCLE_INGEST_WORKERS": str(WORKERS)})
    try:
        server.wait_until_healthy()
        workers = _workers_within(server.process.pid, WORKERS, 60)
        assert len(workers) == WORKERS, "the workers should start before any request"
        response = httpx.post(
            f"{server.url}/api/v1/ingest/logs",
            content=b'{"service": "shop", "message": "first line"}\n',
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )
        assert response.json() == {"accepted": 1}
        assert _workers(server.process.pid) == workers
    finally:
        server.terminate()


def test_protobuf_otlp_logs_are_accepted_without_the_workers(tmp_path: Path) -> None:
    """A protobuf OTLP logs request is only checked before the answer, in the server process:
    it is accepted and stored even while the decoding workers are gone (where a request that
    needs them is answered 503)."""
    data_dir = tmp_path / "data"
    server = Server(data_dir, {"FULLCYCLE_INGEST_WORKERS": str(WORKERS)})
    try:
        server.wait_until_healthy()
        workers = _workers_within(server.process.pid, WORKERS, 60)
        assert len(workers) == WORKERS
        for worker in workers:
            os.kill(worker, signal.SIGKILL)
        time.sleep(1.0)  # the pool notices its workers are gone
        response = httpx.post(
            f"{server.url}/v1/logs",
            content=protobuf_logs(
                "crash-test", [("record a", {"rid": "a"}), ("record b", {"rid": "b"})]
            ),
            headers={
                "Authorization": f"Bearer {ADMIN_TOKEN}",
                "Content-Type": "application/x-protobuf",
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text
    finally:
        assert server.terminate() == 0
    assert stored_counts(data_dir) == Counter({"a": 1, "b": 1})

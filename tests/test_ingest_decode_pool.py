"""`fullcycle up` starts its ingest decoding workers when it starts, not on the first request
(which would otherwise wait for them: seconds on a busy machine)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN
from tests.test_ingest_server_crash import Server, child_processes

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

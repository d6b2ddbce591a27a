"""Helpers shared by the deploy tests: a service with a pipeline, waiting for deploys, and a
real HTTP health endpoint that reports a release faulty when its version says so."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

TERMINAL = {"succeeded", "failed", "rolled_back", "cancelled"}


def add_service(admin: TestClient, name: str = "shop") -> None:
    response = admin.post("/api/v1/services", json={"name": name, "owners": ["team-shop"]})
    assert response.status_code == 201, response.text


def apply_pipeline(admin: TestClient, source: str) -> None:
    response = admin.put("/api/v1/pipelines", json={"source": source})
    assert response.status_code == 200, response.text


def start(client: TestClient, version: str, service: str = "shop", **extra: Any) -> int:
    response = client.post(
        f"/api/v1/services/{service}/deploys", json={"version": version, **extra}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def wait_for(client: httpx.Client, deploy_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deploy = client.get(f"/api/v1/deploys/{deploy_id}").json()
        if deploy["status"] in TERMINAL:
            return dict(deploy)
        time.sleep(0.1)
    raise AssertionError(f"deploy {deploy_id} did not end within {timeout} s: {deploy}")


def wait_for_stage(
    client: TestClient, deploy_id: int, name: str, timeout: float = 30
) -> dict[str, Any]:
    """The deploy once stage `name` runs and has written some log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deploy = client.get(f"/api/v1/deploys/{deploy_id}").json()
        if stage(deploy, name)["status"] == "running" and stage(deploy, name)["log"]:
            return dict(deploy)
        time.sleep(0.1)
    raise AssertionError(f"stage {name} of deploy {deploy_id} did not start: {deploy}")


def stage(deploy: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in deploy["stages"] if s["name"] == name)


class VersionHealth:
    """GET /healthz answers 200, or 500 when the live version (a file the deploy command
    writes) contains 'bad'."""

    def __init__(self, live_file: Path) -> None:
        self.live_file = live_file
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/healthz"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        live_file = self.live_file

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                version = live_file.read_text().strip() if live_file.exists() else ""
                self.send_response(500 if "bad" in version else 200)
                self.end_headers()
                self.wfile.write(version.encode())

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def version_health(live_file: Path) -> Iterator[VersionHealth]:
    health = VersionHealth(live_file)
    health.thread.start()
    try:
        yield health
    finally:
        health.server.shutdown()
        health.server.server_close()

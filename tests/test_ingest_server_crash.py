"""`fullcycle up` killed with SIGKILL while several clients stream telemetry into it (NDJSON,
OTLP JSON, and OTLP protobuf, which the server logs as received): after a restart on the same
data dir, without any repair, every record the server acknowledged is in the store exactly
once.

The clients never retry: a request that got no answer may or may not be stored (at most once),
but an acknowledged one (2xx) must be there, once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from fullcycle.telemetry.store import StoreOptions, TelemetryStore
from tests.conftest import ADMIN_TOKEN, free_port
from tests.otlp_requests import protobuf_logs

START_TIMEOUT = 60.0
RECORDS_PER_REQUEST = 40
# Stop streaming (and kill) once this many requests were acknowledged, or after STREAM_SECONDS.
ACKNOWLEDGED_BEFORE_KILL = 60
STREAM_SECONDS = 8.0


def server_environment() -> dict[str, str]:
    """This environment without FULLCYCLE_* settings; the control plane is SQLite in the data
    dir, and the flusher runs often so that the kill is likely to land in the middle of one."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FULLCYCLE_")}
    return {
        **env,
        "FULLCYCLE_ADMIN_TOKEN": ADMIN_TOKEN,
        "FULLCYCLE_FLUSH_INTERVAL_SECONDS": "0.05",
    }


class Server:
    def __init__(self, data_dir: Path, environment: dict[str, str] | None = None) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = (data_dir.parent / f"server-{time.monotonic_ns()}.log").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fullcycle",
                "up",
                "--data-dir",
                str(data_dir),
                "--port",
                self.url.rsplit(":", 1)[1],
            ],
            env={**server_environment(), **(environment or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.kill()
        log = Path(self.log.name).read_text()
        pytest.fail(f"`fullcycle up` did not become healthy (exit {self.process.poll()}):\n{log}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("`fullcycle up` did not stop within 30 s of SIGTERM")
        self.log.close()
        return status


@dataclass
class Ledger:
    """What the clients sent and which of it the server acknowledged."""

    sent: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    acknowledged_requests: int = 0
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def ndjson_request(ids: list[str]) -> tuple[str, dict[str, str], bytes]:
    lines = [
        json.dumps({"service": "crash-test", "message": f"record {rid}", "rid": rid}) for rid in ids
    ]
    body = ("\n".join(lines) + "\n").encode()
    return "/api/v1/ingest/logs", {"content-type": "application/x-ndjson"}, body


def otlp_request(ids: list[str]) -> tuple[str, dict[str, str], bytes]:
    records = [
        {
            "timeUnixNano": str(time.time_ns()),
            "body": {"stringValue": f"record {rid}"},
            "attributes": [{"key": "rid", "value": {"stringValue": rid}}],
        }
        for rid in ids
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "crash-test"}}]}
    body = json.dumps(
        {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}
    ).encode()
    return "/v1/logs", {"content-type": "application/json"}, body


def otlp_protobuf_request(ids: list[str]) -> tuple[str, dict[str, str], bytes]:
    """Protobuf OTLP, which the server keeps in its log as received (no decoding first)."""
    body = protobuf_logs("crash-test", [(f"record {rid}", {"rid": rid}) for rid in ids])
    return "/v1/logs", {"content-type": "application/x-protobuf"}, body


REQUEST_BUILDERS = {
    "ndjson": ndjson_request,
    "otlp": otlp_request,
    "protobuf": otlp_protobuf_request,
}


def stream(server: Server, client: str, ledger: Ledger, stop: threading.Event) -> None:
    """Send batches with unique record ids until told to stop or the server is gone."""
    build = REQUEST_BUILDERS[client.rstrip("0123456789")]
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as http:
        sequence = 0
        while not stop.is_set():
            ids = [f"{client}-{sequence}-{n}" for n in range(RECORDS_PER_REQUEST)]
            sequence += 1
            path, content_type, body = build(ids)
            with ledger.lock:
                ledger.sent.update(ids)
            try:
                response = http.post(path, content=body, headers=content_type)
            except httpx.TransportError:
                return  # no answer: not acknowledged, and never retried
            with ledger.lock:
                if response.is_success:
                    ledger.acknowledged.update(ids)
                    ledger.acknowledged_requests += 1
                else:
                    ledger.refused.append(f"{path}: {response.status_code} {response.text}")
                    return


def stored_counts(data_dir: Path) -> Counter[str]:
    store = TelemetryStore(StoreOptions(data_dir=data_dir))
    store.open()
    try:
        rows = store.query(
            "SELECT attributes['rid'], count() FROM fullcycle.logs"
            " WHERE service = 'crash-test' GROUP BY 1"
        )
    finally:
        store.close()
    return Counter({str(rid): int(count) for rid, count in rows})


def child_processes(pid: int) -> set[int]:
    """The direct children of `pid` (the ingest decoding workers)."""
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        children |= {int(child) for child in (task / "children").read_text().split()}
    return children


def assert_processes_end(pids: set[int], within_seconds: float) -> None:
    deadline = time.monotonic() + within_seconds
    while time.monotonic() < deadline:
        alive = {pid for pid in pids if Path(f"/proc/{pid}").exists()}
        if not alive:
            return
        time.sleep(0.1)
    pytest.fail(f"worker processes {sorted(alive)} outlived the killed server")


def test_kill_9_while_clients_stream_loses_and_duplicates_nothing_acknowledged(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    server = Server(data_dir)
    server.wait_until_healthy()
    ledger = Ledger()
    # One request registers the service first, so that the streams do not race to register it
    # (that race is test_ingest_http.py's test_concurrent_first_requests_...).
    path, content_type, body = ndjson_request(["warm-up-0"])
    warm_up = httpx.post(
        f"{server.url}{path}",
        content=body,
        headers={**content_type, "Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=60,  # the first request starts the decoding workers: slow on a busy machine
    )
    assert warm_up.status_code == 200, warm_up.text
    ledger.sent.add("warm-up-0")
    ledger.acknowledged.add("warm-up-0")
    stop = threading.Event()
    clients = [f"{kind}{n}" for kind in REQUEST_BUILDERS for n in range(2)]
    threads = [
        threading.Thread(target=stream, args=(server, client, ledger, stop), daemon=True)
        for client in clients
    ]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + STREAM_SECONDS
        while (
            time.monotonic() < deadline and ledger.acknowledged_requests < ACKNOWLEDGED_BEFORE_KILL
        ):
            time.sleep(0.02)
        workers = child_processes(server.process.pid)
        server.kill()  # SIGKILL with requests in flight
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server.kill()

    assert workers, "the server should decode in worker processes"
    assert_processes_end(workers, within_seconds=10)
    assert not ledger.refused, ledger.refused[:3]
    assert ledger.acknowledged_requests >= 10, "the clients should have streamed for a while"
    for kind in REQUEST_BUILDERS:
        assert any(rid.startswith(kind) for rid in ledger.acknowledged), f"no {kind} acknowledged"
    assert len(ledger.sent) > len(ledger.acknowledged), "the kill should hit requests in flight"

    restarted = Server(data_dir)
    restarted.wait_until_healthy()  # no manual repair
    try:
        after = ["after-restart-0"]
        path, content_type, body = ndjson_request(after)
        response = httpx.post(
            f"{restarted.url}{path}",
            content=body,
            headers={**content_type, "Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=60,  # the restarted server stores what it had logged: slow on a busy machine
        )
        assert response.status_code == 200, response.text
        ledger.acknowledged.update(after)
        ledger.sent.update(after)
    finally:
        status = restarted.terminate()
    assert status == 0, Path(restarted.log.name).read_text()

    counts = stored_counts(data_dir)
    missing = sorted(ledger.acknowledged - set(counts))
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"
    duplicated = sorted(rid for rid, count in counts.items() if count > 1)
    assert not duplicated, f"{len(duplicated)} records stored twice, e.g. {duplicated[:5]}"
    unknown = sorted(set(counts) - ledger.sent)
    assert not unknown, f"records nobody sent: {unknown[:5]}"

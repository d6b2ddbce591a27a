"""Backpressure through the real HTTP server: while more than the soft limit
(`ingest_soft_backlog_bytes`) of acknowledged data waits for the store, a new request is answered
only once the store has caught up, so clients slow down to the store's pace; every request is
still answered 2xx (the soft limit refuses nothing) and every acknowledged record is stored once.

The flusher's own interval is 30 s here: only the held requests make it insert sooner.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, running_live_server
from tests.otlp_requests import protobuf_logs

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

RECORDS_PER_REQUEST = 200
SOFT_BACKLOG_BYTES = 40_000  # less than one request (200 records of about 250 bytes)
CLIENTS = 4
REQUESTS_PER_CLIENT = 12
PROTOBUF = {"content-type": "application/x-protobuf"}


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    """A real server with a small soft limit whose flusher would wait 30 s between inserts."""
    with running_live_server(
        tmp_path,
        database_url,
        ingest_soft_backlog_bytes=SOFT_BACKLOG_BYTES,
        flush_interval_seconds=30,
    ) as live:
        yield live


def otlp_logs(client: int, request: int) -> bytes:
    """A protobuf OTLP logs request of RECORDS_PER_REQUEST records, each with a unique `rid`."""
    records = [
        (
            f"GET /api/orders/{client}-{request}-{n} answered 200 in 12 ms for user "
            f"{n % 37} from the checkout page after the basket was updated twice " + "x" * 120,
            {"rid": f"{client}-{request}-{n}"},
        )
        for n in range(RECORDS_PER_REQUEST)
    ]
    return protobuf_logs("backpressure", records)


def stored_now(server: LiveServer) -> int:
    """The service's records the store holds right now (without flushing the log first)."""
    rows = server.app.state.telemetry.query(
        "SELECT count() FROM fullcycle.logs WHERE service = 'backpressure'"
    )
    return int(rows[0][0])


def stored_ids(server: LiveServer) -> tuple[int, int]:
    """All acknowledged records (the log flushed first): their count and distinct ids."""
    rows = server.stored(
        "SELECT count(), uniqExact(attributes['rid']) FROM fullcycle.logs"
        " WHERE service = 'backpressure'"
    )
    return int(rows[0][0]), int(rows[0][1])


def test_an_answer_waits_until_the_store_has_taken_what_is_over_the_soft_limit(
    server: LiveServer,
) -> None:
    with server.admin_client() as client:
        first = client.post("/v1/logs", content=otlp_logs(0, 0), headers=PROTOBUF)
        assert first.status_code == 200, first.text
        assert stored_now(server) == 0, "the flusher should still be waiting for its interval"
        backlog = client.get("/api/v1/telemetry").json()["backlog_bytes"]
        assert backlog > SOFT_BACKLOG_BYTES

        second = client.post("/v1/logs", content=otlp_logs(0, 1), headers=PROTOBUF)
        assert second.status_code == 200, second.text
        # Held until the store took the first request: its records are searchable already.
        assert stored_now(server) >= RECORDS_PER_REQUEST

    assert stored_ids(server) == (2 * RECORDS_PER_REQUEST, 2 * RECORDS_PER_REQUEST)


def test_concurrent_clients_are_slowed_to_the_store_and_lose_nothing(server: LiveServer) -> None:
    """Each client sends one request at a time, as exporters and shippers do. Without
    backpressure the whole load (about 600 kB) would wait 30 s in the log; with it, what waits
    after any answer is at most the soft limit plus a request from each client."""
    request_bytes = len(otlp_logs(0, 0))
    statuses: list[int] = []
    backlogs: list[int] = []
    lock = threading.Lock()

    def send(number: int) -> None:
        with server.admin_client() as client:
            for request in range(REQUESTS_PER_CLIENT):
                response = client.post(
                    "/v1/logs", content=otlp_logs(number, request), headers=PROTOBUF
                )
                backlog = client.get("/api/v1/telemetry").json()["backlog_bytes"]
                with lock:
                    statuses.append(response.status_code)
                    backlogs.append(backlog)

    threads = [threading.Thread(target=send, args=(number,)) for number in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * CLIENTS * REQUESTS_PER_CLIENT
    bound = SOFT_BACKLOG_BYTES + CLIENTS * 2 * request_bytes
    assert max(backlogs) <= bound, f"the log fell {max(backlogs):,} bytes behind"
    acknowledged = CLIENTS * REQUESTS_PER_CLIENT * RECORDS_PER_REQUEST
    assert stored_ids(server) == (acknowledged, acknowledged)

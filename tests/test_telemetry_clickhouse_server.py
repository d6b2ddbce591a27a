"""The same store calls against a real ClickHouse server, when one is available.

Debian's ClickHouse (18.16) is too old for the schema, so this runs only where
FULLCYCLE_TEST_CLICKHOUSE_URL points at a modern server, and is reported as skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.store import StoreOptions, TelemetryStore
from tests.telemetry_programs.protobuf_records import protobuf_record

SERVER_URL = os.environ.get("FULLCYCLE_TEST_CLICKHOUSE_URL")

pytestmark = pytest.mark.skipif(
    not SERVER_URL,
    reason="no ClickHouse server: set FULLCYCLE_TEST_CLICKHOUSE_URL to run the server-mode test",
)


def _lines_declined_after(tmp_path: Path, append: Callable[[TelemetryStore], None]) -> int:
    """How many lines with the word `declined` a server-mode store finds after `append` and a
    flush, starting from an empty logs table."""
    store = TelemetryStore(StoreOptions(data_dir=tmp_path, clickhouse_url=SERVER_URL))
    store.open()
    try:
        store.clickhouse.client().command("TRUNCATE TABLE fullcycle.logs")
        append(store)
        store.flush()
        rows = store.query(
            "SELECT count() FROM fullcycle.logs WHERE hasToken(body, {word:String})",
            {"word": "declined"},
        )
        return int(rows[0][0])
    finally:
        store.close()


def test_server_mode_stores_and_finds_logs(tmp_path: Path) -> None:
    def append(store: TelemetryStore) -> None:
        batch = LogBatch()
        for number in range(100):
            batch.add(timestamp_ns=time.time_ns(), body=f"card declined {number}", service="shop")
        asyncio.run(store.append([batch]))

    assert _lines_declined_after(tmp_path, append) == 100


def test_server_mode_stores_protobuf_logs_decoded_in_python(tmp_path: Path) -> None:
    """A ClickHouse server cannot read the flusher's files: the flusher decodes the OTLP requests
    kept as protobuf itself (telemetry/protobuf_logs.py)."""
    bodies = [f"card declined {number}" for number in range(100)]

    def append(store: TelemetryStore) -> None:
        asyncio.run(store.append_encoded(protobuf_record(bodies)))

    assert _lines_declined_after(tmp_path, append) == 100

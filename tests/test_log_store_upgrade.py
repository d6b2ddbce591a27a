"""A store made by an earlier version gains the indexes added to the logs table since."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fullcycle.logs import explorer
from fullcycle.logs.explorer import LogRequest
from fullcycle.logs.query import parse
from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.connection import DATABASE
from fullcycle.telemetry.log_queries import Window
from fullcycle.telemetry.store import StoreOptions, TelemetryStore
from fullcycle.telemetry.tables import BODY_WORD_PAIRS

NOW = time.time_ns()
WINDOW = Window(NOW - 3600 * 1_000_000_000, NOW + 1_000_000_000)


def test_a_store_made_before_the_pair_index_gains_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    telemetry = TelemetryStore(StoreOptions(data_dir=data_dir, durable=False))
    telemetry.open()
    batch = LogBatch()
    batch.add(timestamp_ns=NOW, body="upstream: connection refused", service="s")
    asyncio.run(telemetry.append([batch]))
    telemetry.flush()
    telemetry.query(f"ALTER TABLE {DATABASE}.logs DROP INDEX body_pairs")
    telemetry.close()
    telemetry = TelemetryStore(StoreOptions(data_dir=data_dir, durable=False))
    telemetry.open()
    try:
        indexes = telemetry.query(
            "SELECT name FROM system.data_skipping_indices"
            f" WHERE database = '{DATABASE}' AND table = 'logs'"
        )
        assert ("body_pairs",) in indexes
        page = explorer.search(
            telemetry, LogRequest(parse('"connection refused"'), WINDOW), 10, None
        )
        assert [line.body for line in page.lines] == ["upstream: connection refused"]
    finally:
        telemetry.close()


def _codecs(telemetry: TelemetryStore) -> dict[str, str]:
    rows = telemetry.query(
        "SELECT name, compression_codec FROM system.columns"
        f" WHERE database = '{DATABASE}' AND table = 'logs'"
    )
    return {str(name): str(codec) for name, codec in rows}


def _parts(telemetry: TelemetryStore) -> list[tuple[str, int]]:
    return telemetry.query(
        "SELECT name, data_version FROM system.parts"
        f" WHERE database = '{DATABASE}' AND table = 'logs' AND active ORDER BY name"
    )


def test_a_store_made_with_zstd_bodies_writes_lz4_from_then_on_without_rewriting(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    telemetry = TelemetryStore(StoreOptions(data_dir=data_dir, durable=False))
    telemetry.open()
    older = LogBatch()
    older.add(timestamp_ns=NOW - 60_000_000_000, body="disk quota 987654321 exceeded", service="s")
    asyncio.run(telemetry.append([older]))
    telemetry.flush()
    for column in ("body String", "attributes Map(LowCardinality(String), String)"):
        telemetry.query(f"ALTER TABLE {DATABASE}.logs MODIFY COLUMN {column} CODEC(ZSTD(1))")
    parts_before = _parts(telemetry)
    telemetry.close()
    telemetry = TelemetryStore(StoreOptions(data_dir=data_dir, durable=False))
    telemetry.open()
    try:
        codecs = _codecs(telemetry)
        assert codecs["body"] == codecs["attributes"] == codecs["resource_attributes"]
        assert codecs["body"] == "CODEC(LZ4)"
        assert _parts(telemetry) == parts_before  # nothing rewritten
        newer = LogBatch()
        newer.add(timestamp_ns=NOW, body="again 987654321", service="s", attributes={"k": "v"})
        asyncio.run(telemetry.append([newer]))
        telemetry.flush()
        page = explorer.search(telemetry, LogRequest(parse("987654321"), WINDOW), 10, None)
        assert [line.body for line in page.lines] == [
            "again 987654321",
            "disk quota 987654321 exceeded",
        ]
        assert page.lines[0].attributes == {"k": "v"}
    finally:
        telemetry.close()


# The word-pair expression of the stores made before 2026-11-27 11:00 (the same pairs, at more
# CPU per line): such a store has its index rebuilt with tables.BODY_WORD_PAIRS when it starts.
EARLIER_WORD_PAIRS = (
    "arrayFilter(pair -> (pair != ''), arrayMap((left, right) -> if("
    "endsWith(left, arrayElement(tokens(left, 'splitByNonAlpha'), -1))"
    " AND startsWith(right, arrayElement(tokens(right, 'splitByNonAlpha'), 1))"
    " AND (arrayElement(tokens(left, 'splitByNonAlpha'), -1) != '')"
    " AND (arrayElement(tokens(right, 'splitByNonAlpha'), 1) != '')"
    " AND (trimBoth(concat(arrayElement(tokens(left, 'splitByNonAlpha'), -1),"
    " arrayElement(tokens(right, 'splitByNonAlpha'), 1)), 'abcdefghijklmnopqrstuvwxyz') = ''),"
    " concat(arrayElement(tokens(left, 'splitByNonAlpha'), -1), ' ',"
    " arrayElement(tokens(right, 'splitByNonAlpha'), 1)), ''),"
    " arrayPopBack(splitByChar(' ', lower(body))), arrayPopFront(splitByChar(' ', lower(body)))))"
)


def test_a_store_with_the_earlier_pair_expression_has_its_index_rebuilt(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    telemetry = TelemetryStore(StoreOptions(data_dir=data_dir, durable=False))
    telemetry.open()
    logs = f"{DATABASE}.logs"
    telemetry.query(f"ALTER TABLE {logs} DROP INDEX body_pairs")
    telemetry.query(
        f"ALTER TABLE {logs} ADD INDEX body_pairs {EARLIER_WORD_PAIRS}"
        " TYPE text(tokenizer = array) GRANULARITY 1"
    )
    batch = LogBatch()
    bodies = ["upstream: connection refused", "refused connection, retried", "Connection: refused"]
    for offset, body in enumerate(bodies):
        batch.add(timestamp_ns=NOW - offset, body=body, service="s")
    asyncio.run(telemetry.append([batch]))
    telemetry.flush()
    telemetry.close()

    telemetry = TelemetryStore(StoreOptions(data_dir=data_dir, durable=False))
    telemetry.open()
    try:
        index_of = (
            "SELECT expr, data_compressed_bytes FROM system.data_skipping_indices"
            f" WHERE database = '{DATABASE}' AND table = 'logs' AND name = 'body_pairs'"
        )
        deadline = time.monotonic() + 30
        while (index := telemetry.query(index_of)[0])[1] == 0 and time.monotonic() < deadline:
            time.sleep(0.2)  # MATERIALIZE INDEX runs as a background mutation
        assert index[0] == BODY_WORD_PAIRS
        assert index[1] > 0, "the rebuilt index holds the parts stored before the start"
        for phrase, found in [
            ('"connection refused"', ["upstream: connection refused"]),
            ('"refused connection"', ["refused connection, retried"]),
        ]:
            page = explorer.search(telemetry, LogRequest(parse(phrase), WINDOW), 10, None)
            assert [line.body for line in page.lines] == found, phrase
    finally:
        telemetry.close()

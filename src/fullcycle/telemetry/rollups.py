"""Rollup tables: summaries of raw telemetry kept up to date by materialized views on insert,
so that reads over hours and days touch a few rows per series (or per minute) instead of every
sample or line.

- `samples_1m`, `samples_5m` (AggregatingMergeTree): per series and bucket `(end - size, end]`
  the first and last sample (excluding staleness markers; (time, value) tuples), count, sum,
  min, max, the sum of the rises between consecutive samples (`deltaSumTimestamp`, which merges
  partial states in time order), and the latest sample including staleness markers. A window
  of whole buckets follows from these exactly (`metrics/window_summaries.py`); a bucket whose
  rises differ from `last - first` holds a counter reset, whose correction the reader takes
  from the raw samples of just that bucket (`telemetry/sample_queries.py`).
- `samples_5m_half_hours`: the rows of `samples_5m` whose buckets end on a half hour or five
  minutes before one, fed from what is written into `samples_5m`: what a 7-day dashboard's
  `rate(x[5m])` and instant selectors read at their 30-minute steps, a third of the rows.
- `logs_1m`, `logs_10m` (SummingMergeTree): lines per minute (and per ten minutes, fed from the
  minutes) by service, environment, host and severity, for histograms, facets and totals of
  queries that filter only on those fields (`telemetry/log_queries.py`).

The views are created after their tables; a rollup table created on a store that already holds
data is filled from it, one day (partition) at a time, before the store takes new writes. A
samples rollup whose columns are not those defined here (made by an earlier version) is dropped
and made again that way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from fullcycle.telemetry.connection import DATABASE
from fullcycle.telemetry.tables import DEDUPLICATION

log = logging.getLogger("fullcycle.telemetry.rollups")

# Prometheus' staleness marker, stored with its bit pattern (ingest/remote_write.py).
STALE_NAN_BITS = 0x7FF0000000000002
_NEVER_FIRST = 2**63 - 1
_NEVER_LAST = -(2**63 - 1)


@dataclass(frozen=True)
class Rollup:
    """A rollup table, the view that fills it, and the raw table it summarises."""

    table: str
    source: str
    seconds: int
    engine: str
    columns: str
    order_by: str
    ttl_column: str
    retention: str  # the table whose retention it keeps (telemetry.schema.Retention)
    source_time: str = "timestamp"
    # When set, the table keeps only its source's buckets ending at a multiple of this many
    # seconds and the bucket before each (a fraction of the rows, for long windows' steps).
    stride_seconds: int = 0

    @property
    def view(self) -> str:
        return f"{self.table}_feed"

    @property
    def size_ms(self) -> int:
        return self.seconds * 1000


# The first and last sample (excluding staleness markers) and the latest one (including them)
# are (time, value) tuples merged by min and max: plain columns that a read takes as they are,
# where `argMin`/`argMax` states (what stores made before 2026-11-27 hold) had to be
# deserialised and finalised row by row, which took most of a rollup read.
_SAMPLE_COLUMNS = (
    "metric LowCardinality(String), fingerprint UInt64, bucket_end DateTime('UTC'),"
    " first_sample SimpleAggregateFunction(min, Tuple(ms Int64, value Float64)),"
    " last_sample SimpleAggregateFunction(max, Tuple(ms Int64, value Float64)),"
    " n SimpleAggregateFunction(sum, UInt64), total SimpleAggregateFunction(sum, Float64),"
    " low SimpleAggregateFunction(min, Float64), high SimpleAggregateFunction(max, Float64),"
    " rises AggregateFunction(deltaSumTimestamp, Float64, Int64),"
    " latest_sample SimpleAggregateFunction(max, Tuple(ms Int64, value Float64))"
)


# The 5-minute buckets are sorted by the hour they end in before the series: a query reads the
# hours of its window only. Sorted by series first, a day's partition holds each series' day in
# one run, so that every granule (8,192 rows, a day of 28 series) held some bucket of a window
# crossing midnight, and a 24-hour window read its first day's partition whole: 270,000 rows of
# a histogram for the 132,000 it used.
_HOUR_FIRST = "(metric, toStartOfHour(bucket_end), fingerprint, bucket_end)"


def _sample_rollup(seconds: int, order_by: str) -> Rollup:
    return Rollup(
        table=f"samples_{seconds // 60}m",
        source="samples",
        seconds=seconds,
        engine="AggregatingMergeTree",
        columns=_SAMPLE_COLUMNS,
        order_by=order_by,
        ttl_column="bucket_end",
        retention="samples",
    )


# Coarsest first: a reader takes the first one whose buckets fit its query.
SAMPLE_ROLLUPS = (
    _sample_rollup(300, _HOUR_FIRST),
    _sample_rollup(60, "(metric, fingerprint, bucket_end)"),
)

# The 5-minute buckets ending on a half hour and the ones ending 5 minutes before: all that
# `rate(x[5m])` (a window of one bucket and its left edge) or an instant selector (5 minutes of
# lookback) reads at steps of 30 minutes or multiples of it, as a 7-day dashboard's panels do;
# a third of `samples_5m`'s rows, fed from the rows written into it (no aggregation).
HALF_HOUR_SAMPLES = Rollup(
    table="samples_5m_half_hours",
    source="samples_5m",
    seconds=300,
    engine="AggregatingMergeTree",
    columns=_SAMPLE_COLUMNS,
    order_by="(metric, fingerprint, bucket_end)",
    ttl_column="bucket_end",
    retention="samples",
    source_time="bucket_end",
    stride_seconds=1800,
)

_LOG_COLUMNS = (
    "minute DateTime('UTC'), service LowCardinality(String),"
    " environment LowCardinality(String), host LowCardinality(String),"
    " severity_text LowCardinality(String), severity_number UInt8, lines UInt64"
)
_LOG_KEY = "(minute, service, severity_number, host, environment, severity_text)"

LOG_ROLLUP = Rollup(
    table="logs_1m",
    source="logs",
    seconds=60,
    engine="SummingMergeTree(lines)",
    columns=_LOG_COLUMNS,
    order_by=_LOG_KEY,
    ttl_column="minute",
    retention="logs",
)
# Ten-minute counts, fed from the one-minute counts (a tenth of their rows for long windows).
LOG_ROLLUP_10M = Rollup(
    table="logs_10m",
    source="logs_1m",
    seconds=600,
    engine="SummingMergeTree(lines)",
    columns=_LOG_COLUMNS,
    order_by=_LOG_KEY,
    ttl_column="minute",
    retention="logs",
    source_time="minute",
)
# Coarsest first: a reader takes the largest whose periods fit inside its window.
LOG_ROLLUPS = (LOG_ROLLUP_10M, LOG_ROLLUP)

# In the order they are created and filled: a rollup after the one it is fed from.
ROLLUPS = (*SAMPLE_ROLLUPS, HALF_HOUR_SAMPLES, LOG_ROLLUP, LOG_ROLLUP_10M)


def _sample_select(rollup: Rollup, source: str, where: str) -> str:
    """Per series and bucket, the summaries of the samples of `source` (sorted by series and
    time first, as deltaSumTimestamp adds rows in the order it sees them)."""
    size = rollup.size_ms
    # Fixed DDL text: no value from outside is formatted in.
    return (
        "SELECT metric, fingerprint,"  # noqa: S608
        f" toDateTime(intDiv(ms + {size - 1}, {size}) * {rollup.seconds}, 'UTC') AS bucket_end,"
        f" min((if(stale, {_NEVER_FIRST}, ms), value)) AS first_sample,"
        f" max((if(stale, {_NEVER_LAST}, ms), value)) AS last_sample,"
        " toUInt64(countIf(NOT stale)) AS n, sum(if(stale, 0, value)) AS total,"
        " min(if(stale, inf, value)) AS low, max(if(stale, -inf, value)) AS high,"
        " deltaSumTimestampState(value, ms) AS rises, max((ms, value)) AS latest_sample"
        " FROM (SELECT metric, fingerprint, toUnixTimestamp64Milli(timestamp) AS ms, value,"
        f" reinterpretAsUInt64(value) = {STALE_NAN_BITS} AS stale"
        f" FROM {source} {where} ORDER BY fingerprint, timestamp)"
        " GROUP BY metric, fingerprint, bucket_end"
    )


def _log_select(rollup: Rollup, source: str, where: str) -> str:
    """Lines per period from the lines, or from the counts of a finer rollup."""
    counted = "count()" if rollup.source == "logs" else "sum(lines)"
    return (
        f"SELECT toStartOfInterval({rollup.source_time}, INTERVAL {rollup.seconds} SECOND)"  # noqa: S608
        " AS minute, service, environment, host, severity_text, severity_number,"
        f" toUInt64({counted}) AS lines FROM {source} {where}"
        " GROUP BY minute, service, environment, host, severity_text, severity_number"
    )


def _strided_select(rollup: Rollup, source: str, where: str) -> str:
    """The rows of a finer rollup whose buckets end on a stride or one bucket before, as they
    are (partial summaries stay partial: the table merges them as its source does)."""
    phase = f"modulo(toUnixTimestamp(bucket_end), {rollup.stride_seconds})"
    kept = f"{phase} IN (0, {rollup.stride_seconds - rollup.seconds})"
    condition = f"{where} AND {kept}" if where else f"WHERE {kept}"
    columns = ", ".join(column_names(rollup.columns))
    return f"SELECT {columns} FROM {source} {condition}"  # noqa: S608 - fixed DDL text


def rollup_select(rollup: Rollup, source: str, where: str = "") -> str:
    if rollup in LOG_ROLLUPS:
        return _log_select(rollup, source, where)
    if rollup.stride_seconds:
        return _strided_select(rollup, source, where)
    return _sample_select(rollup, source, where)


def rollup_table_sql(
    rollup: Rollup, hours: int, cluster: str | None, name: str | None = None
) -> list[str]:
    """The rollup table (named `name` instead, without a cluster); on a cluster a replicated
    table per shard (`<table>_local`) and a Distributed table over them."""
    ttl = f"TTL `{rollup.ttl_column}` + INTERVAL {hours} HOUR DELETE"
    partition = f"PARTITION BY toDate(`{rollup.ttl_column}`)"
    if cluster is None:
        return [
            f"CREATE TABLE IF NOT EXISTS {DATABASE}.{name or rollup.table} ({rollup.columns})"
            f" ENGINE = {rollup.engine} {partition} ORDER BY {rollup.order_by} {ttl}"
            f" SETTINGS {DEDUPLICATION}"
        ]
    on_cluster = f" ON CLUSTER '{cluster}'"
    local = f"{DATABASE}.{rollup.table}_local"
    return [
        f"CREATE TABLE IF NOT EXISTS {local}{on_cluster} ({rollup.columns})"
        f" ENGINE = Replicated{rollup.engine} {partition} ORDER BY {rollup.order_by} {ttl}",
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{rollup.table}{on_cluster} AS {local}"
        f" ENGINE = Distributed('{cluster}', {DATABASE}, {rollup.table}_local, rand())",
    ]


def rollup_view_sql(rollup: Rollup, cluster: str | None) -> str:
    """The materialized view feeding the rollup from every insert into its source."""
    if cluster is None:
        return (
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {DATABASE}.{rollup.view}"
            f" TO {DATABASE}.{rollup.table}"
            f" AS {rollup_select(rollup, f'{DATABASE}.{rollup.source}')}"
        )
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {DATABASE}.{rollup.view} ON CLUSTER '{cluster}'"
        f" TO {DATABASE}.{rollup.table}_local"
        f" AS {rollup_select(rollup, f'{DATABASE}.{rollup.source}_local')}"
    )


def truncate_sql(rollup: Rollup, cluster: str | None) -> str:
    if cluster is None:
        return f"TRUNCATE TABLE {DATABASE}.{rollup.table}"
    return f"TRUNCATE TABLE {DATABASE}.{rollup.table}_local ON CLUSTER '{cluster}'"


def rollup_ttl_sql(rollup: Rollup, hours: int, cluster: str | None) -> str:
    name = f"{rollup.table}_local" if cluster else rollup.table
    on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
    return (
        f"ALTER TABLE {DATABASE}.{name}{on_cluster}"
        f" MODIFY TTL `{rollup.ttl_column}` + INTERVAL {hours} HOUR DELETE"
    )


def existing_tables(client: Client) -> set[str]:
    rows = client.query(
        "SELECT name FROM system.tables WHERE database = {database:String}",
        parameters={"database": DATABASE},
    ).result_rows
    return {str(row[0]) for row in rows}


def backfill(client: Client, rollup: Rollup) -> None:
    """Fill a new rollup table from the rows its source already holds, a day at a time (so that
    memory stays bounded on a large store)."""
    source = f"{DATABASE}.{rollup.source}"
    days_sql, where = _sample_days(rollup) if rollup in SAMPLE_ROLLUPS else _source_days(rollup)
    days = client.query(days_sql).result_rows
    for number, (day,) in enumerate(days, 1):
        client.command(
            f"INSERT INTO {DATABASE}.{rollup.table} {rollup_select(rollup, source, where)}",
            parameters={"day": day},
        )
        log.info(
            "filled %s from the stored data of %s (%d of %d days)",
            rollup.table,
            day,
            number,
            len(days),
        )


def _source_days(rollup: Rollup) -> tuple[str, str]:
    """The days of the source rows, and the condition for one day's rows."""
    column = rollup.source_time
    return (
        f"SELECT DISTINCT toDate({column}) AS day FROM {DATABASE}.{rollup.source} ORDER BY day",  # noqa: S608
        f"WHERE toDate({column}) = {{day:Date}}",
    )


def _sample_days(rollup: Rollup) -> tuple[str, str]:
    """The days the samples' buckets end on, and the condition for the samples of one day's
    buckets: so each bucket is written by one insert (a day of samples would leave the
    bucket ending at midnight in two parts until ClickHouse merges them)."""
    size, seconds = rollup.size_ms, rollup.seconds
    bucket_end = f"intDiv(toUnixTimestamp64Milli(timestamp) + {size - 1}, {size}) * {seconds}"
    midnight = "toDateTime({day:Date}, 'UTC')"
    return (
        f"SELECT DISTINCT toDate(toDateTime({bucket_end}, 'UTC')) AS day"  # noqa: S608
        f" FROM {DATABASE}.{rollup.source} ORDER BY day",
        f"WHERE timestamp > {midnight} - INTERVAL {seconds} SECOND"
        f" AND timestamp <= {midnight} + INTERVAL {24 * 3600 - seconds} SECOND",
    )


def column_names(columns: str) -> list[str]:
    """The names in a list of column definitions (commas inside types' parentheses are not
    separators)."""
    names, depth, start = [], 0, 0
    for position, character in enumerate(f"{columns},"):
        depth += {"(": 1, ")": -1}.get(character, 0)
        if character == "," and depth == 0:
            names.append(columns[start:position].split()[0])
            start = position + 1
    return names


def outdated(client: Client, rollup: Rollup, cluster: str | None) -> bool:
    """Whether the rollup's table exists with other columns than it defines."""
    name = f"{rollup.table}_local" if cluster else rollup.table
    rows = client.query(
        "SELECT name FROM system.columns WHERE database = {database:String}"
        " AND table = {table:String} ORDER BY position",
        parameters={"database": DATABASE, "table": name},
    ).result_rows
    return bool(rows) and [str(row[0]) for row in rows] != column_names(rollup.columns)


def drop_sql(rollup: Rollup, cluster: str | None) -> list[str]:
    """The view and the table(s) of a rollup, to be made again."""
    if cluster is None:
        return [
            f"DROP VIEW IF EXISTS {DATABASE}.{rollup.view}",
            f"DROP TABLE IF EXISTS {DATABASE}.{rollup.table}",
        ]
    on_cluster = f" ON CLUSTER '{cluster}'"
    return [
        f"DROP VIEW IF EXISTS {DATABASE}.{rollup.view}{on_cluster}",
        f"DROP TABLE IF EXISTS {DATABASE}.{rollup.table}{on_cluster}",
        f"DROP TABLE IF EXISTS {DATABASE}.{rollup.table}_local{on_cluster}",
    ]


def sorted_otherwise(client: Client, rollup: Rollup) -> bool:
    """Whether the rollup's table (not on a cluster) exists sorted by another key than it
    defines: made by an earlier version."""
    rows = client.query(
        "SELECT sorting_key FROM system.tables WHERE database = {database:String}"
        " AND name = {table:String}",
        parameters={"database": DATABASE, "table": rollup.table},
    ).result_rows
    return bool(rows) and _key(str(rows[0][0])) != _key(rollup.order_by.strip("()"))


def _key(expressions: str) -> str:
    return "".join(expressions.split())


def resort(client: Client, rollup: Rollup, hours: int) -> None:
    """Sort the rollup's table by its key (not on a cluster): its rows, merged as ClickHouse
    merges them (`FINAL`), are copied a day at a time into a table made with the key, which
    replaces it; the views writing into it and reading from it are made again. Seconds for
    weeks of buckets, where filling it from the samples takes minutes; a start interrupted on
    the way finds the table or its view missing and fills it from the samples."""
    table, copy = f"{DATABASE}.{rollup.table}", f"{DATABASE}.{rollup.table}_resorted"
    client.command(f"DROP TABLE IF EXISTS {copy} SYNC")
    for statement in rollup_table_sql(rollup, hours, None, f"{rollup.table}_resorted"):
        client.command(statement)
    days = client.query(f"SELECT DISTINCT toDate(bucket_end) AS day FROM {table} ORDER BY day")  # noqa: S608
    for (day,) in days.result_rows:
        client.command(
            f"INSERT INTO {copy} SELECT * FROM {table} FINAL"  # noqa: S608 - fixed DDL text
            " WHERE toDate(bucket_end) = {day:Date}",
            parameters={"day": day},
        )
    made = existing_tables(client)
    views = [r for r in ROLLUPS if rollup.table in (r.table, r.source) and r.view in made]
    for view in views:
        client.command(f"DROP VIEW IF EXISTS {DATABASE}.{view.view}")
    client.command(f"EXCHANGE TABLES {copy} AND {table}")
    client.command(f"DROP TABLE {copy} SYNC")
    for view in views:
        client.command(rollup_view_sql(view, None))

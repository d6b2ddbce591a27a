"""Creating the telemetry tables (and changing their retention) in either mode."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from fullcycle.telemetry.connection import DATABASE
from fullcycle.telemetry.rollups import (
    LOG_ROLLUPS,
    ROLLUPS,
    SAMPLE_ROLLUPS,
    backfill,
    drop_sql,
    existing_tables,
    outdated,
    resort,
    rollup_table_sql,
    rollup_ttl_sql,
    rollup_view_sql,
    sorted_otherwise,
    truncate_sql,
)
from fullcycle.telemetry.tables import SAMPLES, TABLES, Column, Table

DURATION = re.compile(r"^(\d+)([hdw])$")
INDEX_DEFINITION = re.compile(r"^INDEX (\w+) (.+) TYPE (.+) GRANULARITY \d+$")
HOURS_PER_UNIT = {"h": 1, "d": 24, "w": 24 * 7}

log = logging.getLogger("fullcycle.telemetry.schema")


def parse_retention(text: str) -> int:
    """'14d', '36h', '2w' -> hours; raises ValueError naming the expected form."""
    match = DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"retention {text!r}: expected a number and a unit, e.g. 36h, 14d, 2w")
    return int(match.group(1)) * HOURS_PER_UNIT[match.group(2)]


@dataclass(frozen=True)
class Retention:
    """How many hours each table keeps its rows."""

    logs: int = 14 * 24
    samples: int = 30 * 24
    spans: int = 7 * 24
    markers: int = 400 * 24

    def hours(self, table: str) -> int:
        return int(getattr(self, table))


def _column_definition(column: Column) -> str:
    codec = f" CODEC({column.codec})" if column.codec else ""
    return f"`{column.name}` {column.clickhouse_type}{codec}"


def _columns(table: Table) -> str:
    definitions = [_column_definition(column) for column in table.stored_columns]
    return ",\n  ".join([*definitions, *table.extra_definitions])


def _ttl(table: Table, hours: int) -> str:
    return f"TTL toDateTime(`{table.ttl_column}`) + INTERVAL {hours} HOUR DELETE"


def create_table_sql(table: Table, hours: int, cluster: str | None) -> list[str]:
    """The DDL for one table: a MergeTree, or on a cluster a Replicated table per shard named
    `<table>_local` and a Distributed table named `<table>` over them."""
    settings = f"SETTINGS {table.settings}" if table.settings else ""
    if cluster is None:
        return [
            f"CREATE TABLE IF NOT EXISTS {DATABASE}.{table.name} (\n  {_columns(table)}\n)"
            f" ENGINE = MergeTree PARTITION BY {table.partition_by} ORDER BY {table.order_by}"
            f" {_ttl(table, hours)} {settings}"
        ]
    local = f"{DATABASE}.{table.name}_local"
    return [
        f"CREATE TABLE IF NOT EXISTS {local} ON CLUSTER '{cluster}' (\n  {_columns(table)}\n)"
        f" ENGINE = ReplicatedMergeTree PARTITION BY {table.partition_by}"
        f" ORDER BY {table.order_by} {_ttl(table, hours)}",
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{table.name} ON CLUSTER '{cluster}'"
        f" AS {local} ENGINE = Distributed('{cluster}', {DATABASE}, {table.name}_local, rand())",
    ]


def series_sql(cluster: str | None) -> list[str]:
    """A series table fed by a materialized view, so label look-ups do not scan samples."""
    on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
    engine = (
        "ReplicatedReplacingMergeTree(last_seen)" if cluster else "ReplacingMergeTree(last_seen)"
    )
    source = f"{DATABASE}.{SAMPLES.name}_local" if cluster else f"{DATABASE}.{SAMPLES.name}"
    return [
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.series{on_cluster} ("
        " metric LowCardinality(String), fingerprint UInt64, service LowCardinality(String),"
        " type LowCardinality(String), unit LowCardinality(String),"
        " labels Map(LowCardinality(String), String), last_seen DateTime64(3, 'UTC'))"
        f" ENGINE = {engine} ORDER BY (metric, fingerprint)",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {DATABASE}.series_feed{on_cluster}"  # noqa: S608
        f" TO {DATABASE}.series AS SELECT metric, fingerprint, any(service) AS service,"
        " any(type) AS type, any(unit) AS unit, any(labels) AS labels,"
        f" max(timestamp) AS last_seen FROM {source} GROUP BY metric, fingerprint",
    ]


def added_columns_sql(client: Client, table: Table, cluster: str | None) -> list[str]:
    """ALTERs that add the columns a table made by an earlier version lacks, on the shard
    tables first and then on the Distributed one."""
    names = [f"{table.name}_local", table.name] if cluster else [table.name]
    on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
    present = _columns_present(client, names)
    return [
        f"ALTER TABLE {DATABASE}.{name}{on_cluster} ADD COLUMN IF NOT EXISTS"
        f" {_column_definition(column)}"
        for name in names
        for column in table.stored_columns
        if (name, column.name) not in present
    ]


def _columns_present(client: Client, tables: list[str]) -> set[tuple[str, str]]:
    rows = client.query(
        "SELECT table, name FROM system.columns"
        " WHERE database = {database:String} AND table IN {tables:Array(String)}",
        parameters={"database": DATABASE, "tables": tables},
    ).result_rows
    return {(str(table), str(name)) for table, name in rows}


def changed_codecs_sql(client: Client, table: Table, cluster: str | None) -> list[str]:
    """ALTERs that give the table's `recompressed` columns the codec of the table definition
    where an earlier version made them with another (on the shard tables, which hold the
    data). Only the definition changes: parts written from then on use the new codec, the
    parts already stored keep theirs (ClickHouse rewrites no data for a change of codec)."""
    if not table.recompressed:
        return []
    name = f"{table.name}_local" if cluster else table.name
    on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
    stored = {
        str(column): str(codec)
        for column, codec in client.query(
            "SELECT name, compression_codec FROM system.columns"
            " WHERE database = {database:String} AND table = {table:String}",
            parameters={"database": DATABASE, "table": name},
        ).result_rows
    }
    return [
        f"ALTER TABLE {DATABASE}.{name}{on_cluster} MODIFY COLUMN {_column_definition(column)}"
        for column in table.stored_columns
        if column.name in table.recompressed
        and column.name in stored
        and stored[column.name] != f"CODEC({column.codec})"
    ]


def changed_indexes_sql(client: Client, table: Table, cluster: str | None) -> list[str]:
    """Statements that build each data-skipping index missing from the table or whose
    expression or type differs from the table definition (an index added or changed by a newer
    version), for the data already stored."""
    name = f"{table.name}_local" if cluster else table.name
    on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
    existing = {
        index: (expression, kind)
        for index, expression, kind in client.query(
            "SELECT name, expr, type_full FROM system.data_skipping_indices"
            " WHERE database = {database:String} AND table = {table:String}",
            parameters={"database": DATABASE, "table": name},
        ).result_rows
    }
    statements = []
    for definition in table.extra_definitions:
        match = INDEX_DEFINITION.match(definition)
        if match is None:
            continue
        index, expression, kind = match.groups()
        if existing.get(index) == (expression, kind):
            continue
        target = f"{DATABASE}.{name}{on_cluster}"
        if index in existing:
            statements.append(f"ALTER TABLE {target} DROP INDEX {index}")
        statements += [
            f"ALTER TABLE {target} ADD {definition}",
            f"ALTER TABLE {target} MATERIALIZE INDEX {index}",
        ]
    return statements


def ensure_schema(client: Client, retention: Retention, cluster: str | None = None) -> None:
    """Create what is missing and apply the configured retention; safe on every start."""
    on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
    client.command(f"CREATE DATABASE IF NOT EXISTS {DATABASE}{on_cluster}")
    existing = existing_tables(client)
    for table in TABLES.values():
        hours = retention.hours(table.name)
        for statement in create_table_sql(table, hours, cluster):
            client.command(statement)
        stored = f"{table.name}_local" if cluster else table.name
        if stored in existing:  # made by an earlier start: bring it up to this definition
            _update_table(client, table, hours, cluster)
    for statement in series_sql(cluster):
        client.command(statement)
    ensure_rollups(client, retention, cluster)


def _update_table(client: Client, table: Table, hours: int, cluster: str | None) -> None:
    """Add the columns and indexes a newer version defines, change the codecs it changed and
    apply the retention, on a table made earlier (a table made just now has them already)."""
    on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
    target = f"{DATABASE}.{table.name}_local" if cluster else f"{DATABASE}.{table.name}"
    statements = (
        added_columns_sql(client, table, cluster)
        + changed_codecs_sql(client, table, cluster)
        + changed_indexes_sql(client, table, cluster)
    )
    for statement in statements:
        client.command(statement)
    client.command(
        f"ALTER TABLE {target}{on_cluster} MODIFY {_ttl(table, hours)}",
        settings={"materialize_ttl_after_modify": 0},
    )


def ensure_rollups(client: Client, retention: Retention, cluster: str | None) -> None:
    """Create the rollup tables and their views (telemetry/rollups.py) with their source's
    retention. Until its view exists a rollup table is (re)filled from the data already stored,
    then the view is made: this runs before the store takes writes, so no row is missed or
    counted twice, and a start interrupted while filling fills it afresh next time. A rollup
    fed from a refilled one is refilled after it; a samples rollup made by an earlier version
    with other columns is dropped first, and so made and filled afresh; one sorted by an
    earlier version's key (not on a cluster) is sorted by this version's, its rows copied."""
    existing = existing_tables(client)
    refilled: set[str] = set()
    for rollup in ROLLUPS:
        hours = retention.hours(rollup.retention)
        if rollup not in LOG_ROLLUPS and outdated(client, rollup, cluster):
            log.warning(
                "%s was made by an earlier version: making it again from the stored samples "
                "(the server starts once it is filled: minutes on a store of weeks)",
                rollup.table,
            )
            for statement in drop_sql(rollup, cluster):
                client.command(statement)
            existing.discard(rollup.view)
        elif rollup in SAMPLE_ROLLUPS and cluster is None and sorted_otherwise(client, rollup):
            log.warning(
                "%s is sorted as an earlier version sorted it: sorting it anew", rollup.table
            )
            resort(client, rollup, hours)
            log.info("sorted %s by %s", rollup.table, rollup.order_by)
        for statement in rollup_table_sql(rollup, hours, cluster):
            client.command(statement)
        client.command(
            rollup_ttl_sql(rollup, hours, cluster), settings={"materialize_ttl_after_modify": 0}
        )
        if rollup.view not in existing or rollup.source in refilled:
            client.command(truncate_sql(rollup, cluster))
            backfill(client, rollup)
            client.command(rollup_view_sql(rollup, cluster))
            refilled.add(rollup.table)

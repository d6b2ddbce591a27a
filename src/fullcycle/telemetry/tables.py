"""The telemetry tables: their columns once, from which the DDL and the Arrow schemas follow.

Every table is a MergeTree ordered for the queries that will run on it (by service or metric,
then time), with a TTL for retention. In cluster mode each table is a Replicated table on every
shard plus a Distributed table over them under the same name (docs/scale-out.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

STRING_MAP = pa.map_(pa.string(), pa.string())
_MAP_TYPE = "Map(LowCardinality(String), String)"


@dataclass(frozen=True)
class Column:
    name: str
    clickhouse_type: str
    arrow_type: pa.DataType
    codec: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    order_by: str
    partition_by: str
    ttl_column: str
    extra_definitions: tuple[str, ...] = ()
    settings: str = ""
    recompressed: tuple[str, ...] = ()
    """Columns whose codec changed since earlier versions: a table made before is given this
    codec when the store starts (parts written from then on, new or merged, use it; the parts
    already stored keep theirs, nothing is rewritten). Their codec is written as ClickHouse
    prints it, so that a start finds it unchanged."""

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        """The columns in ClickHouse: those the batches fill, and the flusher's `wal_batch`."""
        return (*self.columns, WAL_BATCH)

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


WAL_BATCH = Column("wal_batch", "UInt64", pa.uint64(), "Delta, ZSTD(1)")
"""The write-ahead-log batch a row was inserted from (telemetry/flusher.py): recovery after a
crash counts a batch's rows by it rather than trusting ClickHouse's deduplication alone."""


def _ns(name: str) -> Column:
    return Column(name, "DateTime64(9, 'UTC')", pa.timestamp("ns", tz="UTC"), "Delta, ZSTD(1)")


def _text(name: str, low_cardinality: bool = False) -> Column:
    kind = "LowCardinality(String)" if low_cardinality else "String"
    return Column(name, kind, pa.string())


def _map(name: str, codec: str = "ZSTD(1)") -> Column:
    return Column(name, _MAP_TYPE, STRING_MAP, codec)


def _list_of_records(name: str, fields: tuple[tuple[str, str, pa.DataType], ...]) -> Column:
    """An Array of named Tuples in ClickHouse, a list of structs in Arrow (span events, links)."""
    clickhouse = ", ".join(f"{field} {kind}" for field, kind, _ in fields)
    arrow = pa.list_(pa.struct([(field, arrow_type) for field, _, arrow_type in fields]))
    return Column(name, f"Array(Tuple({clickhouse}))", arrow, "ZSTD(1)")


# Re-inserting a write-ahead-log batch after a crash carries the same deduplication token; the
# window makes ClickHouse drop such repeats on plain (non-replicated) MergeTree tables too.
DEDUPLICATION = "non_replicated_deduplication_window = 10000"

# The characters that separate the tokens of the body's text index (its tokenizer,
# splitByNonAlpha, splits on every ASCII character that is not a letter or digit), as a
# regular expression class.
BODY_SEPARATOR_CLASS = r"[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]"
_LETTERS = "'abcdefghijklmnopqrstuvwxyz'"
_CHUNKS = "splitByChar(' ', lower(body))"


def _word_if_letters(word: str, edge_test: str) -> str:
    """`word` if the chunk `c` starts (or ends) with it and it is made only of letters, else
    ''."""
    return (
        f"if({edge_test}(c, {word}) AND (({word}) != '')"
        f" AND (trimBoth({word}, {_LETTERS}) = ''), {word}, '')"
    )


# Per space-separated chunk `c` of the body, tokenised once (`t`): its first word if it starts
# with one made only of letters, and its last word if it ends with one ('' where not).
_CHUNK_EDGES = (
    f"arrayMap((c, t) -> ({_word_if_letters('t[1]', 'startsWith')},"
    f" {_word_if_letters('t[-1]', 'endsWith')}), {_CHUNKS},"
    f" arrayMap(c -> tokens(c, 'splitByNonAlpha'), {_CHUNKS}))"
)
# The body's word pairs: each two words made only of letters with one space between them
# (`connection refused`), in lower case: the last token of a space-separated chunk that ends
# with it and the first token of the next chunk that starts with it. Indexed (`body_pairs`) so
# that such a phrase is answered from the index, without reading bodies
# (fullcycle.telemetry.log_queries). Words with digits are left out (ids would make the index's
# dictionary as large as the data), and no regular expression is used: it is computed on
# every insert and every merge, so each chunk is tokenised once (an earlier form tokenised it
# for each of its two pairs and took its edge words four times: 25 % more CPU, the same
# pairs; a store made with it has the index rebuilt when it starts, schema.py). Written as
# ClickHouse prints it, so that a start finds the index unchanged.
BODY_WORD_PAIRS = (
    "arrayFilter(pair -> (pair != ''), arrayMap((left, right) -> if(((left.2) != '')"
    " AND ((right.1) != ''), concat(left.2, ' ', right.1), ''),"
    f" arrayPopBack({_CHUNK_EDGES}), arrayPopFront({_CHUNK_EDGES})))"
)

LOGS = Table(
    name="logs",
    columns=(
        _ns("timestamp"),
        _ns("observed_timestamp"),
        _text("service", low_cardinality=True),
        _text("environment", low_cardinality=True),
        _text("host", low_cardinality=True),
        _text("severity_text", low_cardinality=True),
        Column("severity_number", "UInt8", pa.uint8()),
        # LZ4 for the body and the attribute maps: a page of rare matches decompresses a whole
        # granule of each for every line it shows, with a quarter less CPU than ZSTD, for 1.36
        # times the disk (docs/benchmarks.md, "The rare number with LZ4 bodies and maps").
        Column("body", "String", pa.string(), "LZ4"),
        _text("trace_id"),
        _text("span_id"),
        _text("scope", low_cardinality=True),
        _map("resource_attributes", "LZ4"),
        _map("attributes", "LZ4"),
    ),
    order_by="(service, timestamp)",
    partition_by="toDate(timestamp)",
    ttl_column="timestamp",
    extra_definitions=(
        # On lower(body): log search matches words regardless of case, and the index can
        # answer that exactly (fullcycle.telemetry.log_queries).
        "INDEX body_text lower(body) TYPE text(tokenizer = splitByNonAlpha) GRANULARITY 1",
        f"INDEX body_pairs {BODY_WORD_PAIRS} TYPE text(tokenizer = array) GRANULARITY 1",
        "INDEX trace_id_bloom trace_id TYPE bloom_filter(0.01) GRANULARITY 4",
    ),
    # Granules of 1,024 lines and compressed blocks of 8-64 KiB: the newest lines of a rare
    # word are read from small granules without decompressing much around them (new stores;
    # a store made before keeps its 8,192-line granules and larger blocks).
    settings=f"{DEDUPLICATION}, index_granularity = 1024, min_compress_block_size = 8192,"
    " max_compress_block_size = 65536",
    recompressed=("body", "resource_attributes", "attributes"),
)

SAMPLES = Table(
    name="samples",
    columns=(
        _text("metric", low_cardinality=True),
        _text("type", low_cardinality=True),
        _text("unit", low_cardinality=True),
        _text("service", low_cardinality=True),
        _map("labels"),
        Column("timestamp", "DateTime64(3, 'UTC')", pa.timestamp("ms", tz="UTC"), "Delta, ZSTD(1)"),
        Column("value", "Float64", pa.float64(), "Gorilla, ZSTD(1)"),
    ),
    order_by="(metric, fingerprint, timestamp)",
    partition_by="toDate(timestamp)",
    ttl_column="timestamp",
    extra_definitions=(
        # The series identity, computed by ClickHouse from the metric and its labels in key
        # order (so senders may list labels in any order).
        "fingerprint UInt64 MATERIALIZED cityHash64(metric, toString(mapSort(labels)))",
    ),
    settings=DEDUPLICATION,
)

SPANS = Table(
    name="spans",
    columns=(
        _text("trace_id"),
        _text("span_id"),
        _text("parent_span_id"),
        _text("name", low_cardinality=True),
        _text("kind", low_cardinality=True),
        _text("service", low_cardinality=True),
        _ns("start"),
        Column("duration_ns", "UInt64", pa.uint64(), "T64, ZSTD(1)"),
        _text("status_code", low_cardinality=True),
        _text("status_message"),
        _map("resource_attributes"),
        _map("attributes"),
        _list_of_records(
            "events",
            (
                ("timestamp", "DateTime64(9, 'UTC')", pa.timestamp("ns", tz="UTC")),
                ("name", "String", pa.string()),
                ("attributes", _MAP_TYPE, STRING_MAP),
            ),
        ),
        _list_of_records(
            "links",
            (
                ("trace_id", "String", pa.string()),
                ("span_id", "String", pa.string()),
                ("attributes", _MAP_TYPE, STRING_MAP),
            ),
        ),
    ),
    order_by="(service, start)",
    partition_by="toDate(start)",
    ttl_column="start",
    extra_definitions=("INDEX trace_id_bloom trace_id TYPE bloom_filter(0.01) GRANULARITY 4",),
    settings=DEDUPLICATION,
)

MARKERS = Table(
    name="markers",
    columns=(
        _ns("timestamp"),
        _text("kind", low_cardinality=True),
        _text("service", low_cardinality=True),
        _text("environment", low_cardinality=True),
        _text("title"),
        _text("reference"),
        _map("attributes"),
    ),
    order_by="(service, timestamp)",
    partition_by="toYYYYMM(timestamp)",
    ttl_column="timestamp",
    settings=DEDUPLICATION,
)

TABLES: dict[str, Table] = {table.name: table for table in (LOGS, SAMPLES, SPANS, MARKERS)}

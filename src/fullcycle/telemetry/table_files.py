"""What an embedded table's files say about its parts, without asking chDB.

A MergeTree part is never changed, only added (an insert, a merge or a mutation writes it as
a new directory of the table's data directory, under its final name before any read can see
it) or removed (its directory goes only after it has been merged away or dropped). So while
the data directory lists the same names, and the table's definition file is the same one (the
table was not made anew), the table's active parts are the same, and so is every answer
computed from them alone: the series catalogue's counts (telemetry/series_catalogue.py), the
logs' parts (telemetry/log_parts.py). Listing the directory takes some 20 microseconds; a query
that asks the same of chDB, a millisecond or more.

Only an embedded store can tell this way: no other process writes into its files (the store
locks its data dir). A ClickHouse server's tables are asked.
"""

from __future__ import annotations

import os
from pathlib import Path

from fullcycle.telemetry.connection import DATABASE, ClickHouse

# The definition file's inode and time, and the sorted names in the table's data directory.
FilesSeen = tuple[tuple[int, int], tuple[str, ...]]


class TableFiles:
    """An embedded table's definition file and data directory, found by asking the engine
    once (and again when the definition file is made anew)."""

    def __init__(self, clickhouse: ClickHouse, engine_path: Path, table: str) -> None:
        """`engine_path`: the embedded engine's directory."""
        self.clickhouse = clickhouse
        self.engine_path = engine_path
        self.table = table
        self._paths: tuple[Path, Path] | None = None  # the definition file and data directory
        self._definition: tuple[int, int] | None = None  # the definition file when found

    def now(self) -> FilesSeen | None:
        """The table's files as they are now (None: there is no such table)."""
        if self._paths is not None:
            seen = _files_at(self._paths)
            if seen is not None and seen[0] == self._definition:
                return seen
        self._paths = self._asked()
        if self._paths is None:
            return None
        seen = _files_at(self._paths)
        self._definition = seen[0] if seen is not None else None
        return seen

    def _asked(self) -> tuple[Path, Path] | None:
        rows = self.clickhouse.client().query(
            "SELECT metadata_path, data_paths[1] FROM system.tables"
            " WHERE database = {database:String} AND name = {table:String}",
            parameters={"database": DATABASE, "table": self.table},
        )
        if not rows.result_rows:
            return None
        definition, data = rows.result_rows[0]
        return self.engine_path / str(definition), Path(str(data))


def _files_at(paths: tuple[Path, Path]) -> FilesSeen | None:
    definition, data = paths
    try:
        stat = os.stat(definition)
        return (stat.st_ino, stat.st_mtime_ns), tuple(sorted(os.listdir(data)))
    except OSError:
        return None

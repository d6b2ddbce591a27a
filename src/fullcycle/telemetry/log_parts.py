"""The logs table's parts, their days and the times of each one's first and last line, which
tell an exact total which parts or days it may count without a time condition
(log_queries.count_matches).

Reading them is a query of a few milliseconds (from the parts' min/max indexes). An embedded
store keeps the last answer with the table's files it was read with (telemetry/table_files.py)
and gives it again without a query while those files are the same; the same files after a
count also show that the count read the parts they were read from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fullcycle.telemetry.connection import DATABASE, ClickHouse
from fullcycle.telemetry.table_files import FilesSeen, TableFiles


@dataclass(frozen=True)
class Parts:
    """(day, part, first line's time ns, last line's time ns) of every part of lines (the day
    is the table's partition), and the table's files they were read with (None: not known, or
    they changed meanwhile)."""

    bounds: tuple[tuple[str, str, int, int], ...]
    files: FilesSeen | None

    def names(self) -> set[str]:
        """The parts' names."""
        return {part for _, part, _, _ in self.bounds}


class LogParts:
    """The parts as last read, kept while the embedded table's files are the same."""

    def __init__(self, clickhouse: ClickHouse, engine_path: Path | None) -> None:
        """`engine_path`: the embedded engine's directory (None for a ClickHouse server)."""
        self.clickhouse = clickhouse
        self._files = (
            TableFiles(clickhouse, engine_path, "logs") if engine_path is not None else None
        )
        self._kept: Parts | None = None
        self._exact_with: tuple[object, ...] | None = None  # the mutations when last exact

    def read(self) -> Parts:
        """The parts now: those kept while the table's files are the same, else asked for."""
        files = self._files.now() if self._files is not None else None
        kept = self._kept
        if files is not None and kept is not None and kept.files == files:
            return kept
        bounds = self._asked()
        if self._files is None or files is None or self._files.now() != files:
            return Parts(bounds, None)  # parts came or went while they were read
        self._kept = Parts(bounds, files)
        return self._kept

    def unchanged_since(self, parts: Parts) -> bool:
        """Whether the table's parts are still those `parts` were read from, as its files
        show (False when that is not known: a server's table, or the files changed)."""
        if parts.files is None or self._files is None:
            return False
        return self._files.now() == parts.files

    def indexes_exact(self, parts: Parts) -> bool:
        """Whether the text indexes of the parts read in `parts` list exactly their lines: no
        part waits for an index to be built (a newer version's index, built in the background
        after a start), none has lines deleted in place (recovery's DELETE, whose lines its
        lists still hold). Only a mutation makes either so, and each leaves a file in the
        table's data directory: while the definition and the mutations' files are those of
        the last answer that said so, it holds without a query (a query of some 3 ms)."""
        mutations = _mutations_seen(parts.files)
        if mutations is not None and mutations == self._exact_with:
            return True
        rows = self.clickhouse.client().query(
            "SELECT (SELECT count() FROM system.mutations WHERE database = {database:String}"
            " AND table = 'logs' AND NOT is_done) + (SELECT count() FROM system.parts"
            " WHERE database = {database:String} AND table = 'logs' AND active"
            " AND has_lightweight_delete)",
            parameters={"database": DATABASE},
        )
        exact = int(rows.result_rows[0][0]) == 0
        self._exact_with = mutations if exact else None
        return exact

    def _asked(self) -> tuple[tuple[str, str, int, int], ...]:
        rows = self.clickhouse.client().query(
            "SELECT _partition_id, _part, toUnixTimestamp64Nano(min(timestamp)),"  # noqa: S608
            " toUnixTimestamp64Nano(max(timestamp))"
            f" FROM {DATABASE}.logs GROUP BY _partition_id, _part"
        )
        return tuple(
            (str(day), str(part), int(first), int(last))
            for day, part, first, last in rows.result_rows
        )


def _mutations_seen(files: FilesSeen | None) -> tuple[object, ...] | None:
    """The table's definition file and its mutations' files (`mutation_N.txt`), as `files`
    show them (None: not known)."""
    if files is None:
        return None
    definition, names = files
    return (definition, *(name for name in names if name.startswith("mutation_")))

"""The logs' days (the table's partitions) and the times of each one's first and last line,
which tell an exact total which days it may count without a time condition
(log_queries.count_matches).

Reading them is a query of a few milliseconds (from the parts' min/max indexes). An embedded
store keeps the last answer with the table's files it was read with (telemetry/table_files.py)
and gives it again without a query while those files are the same; the same files after a
count also show that the count read the parts the days were read from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fullcycle.telemetry.connection import DATABASE, ClickHouse
from fullcycle.telemetry.table_files import FilesSeen, TableFiles


@dataclass(frozen=True)
class Days:
    """(day, first line's time ns, last line's time ns) of every day of lines, and the table's
    files they were read with (None: not known, or they changed meanwhile)."""

    bounds: tuple[tuple[str, int, int], ...]
    files: FilesSeen | None


class LogDays:
    """The days as last read, kept while the embedded table's files are the same."""

    def __init__(self, clickhouse: ClickHouse, engine_path: Path | None) -> None:
        """`engine_path`: the embedded engine's directory (None for a ClickHouse server)."""
        self.clickhouse = clickhouse
        self._files = (
            TableFiles(clickhouse, engine_path, "logs") if engine_path is not None else None
        )
        self._kept: Days | None = None

    def read(self) -> Days:
        """The days now: those kept while the table's files are the same, else asked for."""
        files = self._files.now() if self._files is not None else None
        kept = self._kept
        if files is not None and kept is not None and kept.files == files:
            return kept
        bounds = self._asked()
        if self._files is None or files is None or self._files.now() != files:
            return Days(bounds, None)  # parts came or went while they were read
        self._kept = Days(bounds, files)
        return self._kept

    def unchanged_since(self, days: Days) -> bool:
        """Whether the table's parts are still those `days` were read from, as its files
        show (False when that is not known: a server's table, or the files changed)."""
        if days.files is None or self._files is None:
            return False
        return self._files.now() == days.files

    def _asked(self) -> tuple[tuple[str, int, int], ...]:
        rows = self.clickhouse.client().query(
            "SELECT _partition_id, toUnixTimestamp64Nano(min(timestamp)),"  # noqa: S608
            f" toUnixTimestamp64Nano(max(timestamp)) FROM {DATABASE}.logs GROUP BY _partition_id"
        )
        return tuple((str(day), int(first), int(last)) for day, first, last in rows.result_rows)

"""The answers of series look-ups (label matchers -> the matching series' fingerprints, labels
and types, from the `series` table), kept in the process while the table holds the same series.

A PromQL selector looks up its series before or beside reading their samples, and each look-up
is a MergeTree read with a fixed cost of a few milliseconds (a 24-hour dashboard panel made one
or two). VictoriaMetrics keeps the same kind of cache (tag filters -> metric ids), dropped when a
series is created. Here the store cannot be told of every new series (another server may write
into a shared ClickHouse; OTLP protobuf batches are turned into rows by ClickHouse itself), so
every look-up first checks the table, cheaply and exactly:

- the `series` table's active parts are listed (`system.parts`, about a millisecond); a part is
  never changed, only added (an insert, a merge, a mutation) or removed (merged away, dropped);
- the fingerprints of parts not seen before are read (only those parts: `_part IN (...)`), and
  the catalogue counts, per fingerprint, the active parts that hold it;
- a fingerprint counted for the first time is a new series, one whose count falls to zero is a
  series gone: either empties every kept answer. Rows of known series (every insert writes one
  per series it holds, with its `last_seen`) and merges change nothing that a look-up returns.

An embedded store needs no query to know that nothing changed: no other process can write into
it (the store locks its data dir), and each part is a directory of the table's data directory.
While that directory lists the same names and the table's definition file is the same (not made
anew) as when the parts were last counted (telemetry/table_files.py), `known` gives the kept
answers without asking chDB, and a read binds the series' fingerprints instead of selecting them
with a `series` subquery.

Label values and the metric are part of a series' fingerprint, so a known fingerprint's labels
cannot change; its type is whichever row's (`any(type)`), as without the catalogue. On a cluster
(the `series` table is Distributed over shards' parts) nothing is kept. The counts take about
100 bytes per series and 8 per series and part holding it, besides the answers kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

import numpy as np

from fullcycle.telemetry.connection import DATABASE, ClickHouse
from fullcycle.telemetry.table_files import FilesSeen, TableFiles

Answer = TypeVar("Answer")

# A part listed but merged away before its rows were read is listed again, this many times.
_ATTEMPTS = 5
# Answers kept at most (one per selector and kept labels; a dashboard has a few dozen).
_MAX_ANSWERS = 1000


class SeriesCatalogue:
    """Look-up answers by their key, valid while the `series` table holds the same series."""

    def __init__(
        self, clickhouse: ClickHouse, enabled: bool = True, engine_path: Path | None = None
    ) -> None:
        """`engine_path`: the embedded engine's directory (None for a ClickHouse server)."""
        self.clickhouse = clickhouse
        self.enabled = enabled
        self._table_files = (
            TableFiles(clickhouse, engine_path, "series") if engine_path is not None else None
        )
        self._lock = threading.Lock()
        self._files_seen: FilesSeen | None = None  # the table's files when the parts were counted
        self._parts: dict[str, np.ndarray] = {}  # active part -> its distinct fingerprints
        self._holders: dict[int, int] = {}  # fingerprint -> active parts holding it
        self._answers: dict[Hashable, object] = {}

    def answer(self, key: Hashable, look_up: Callable[[], Answer]) -> Answer:
        """`look_up()`'s answer, kept under `key` until the table's series change."""
        if not self.enabled:
            return look_up()
        with self._lock:
            self._follow_table()
            return self._kept(key, look_up)

    def known(self, key: Hashable, look_up: Callable[[], Answer]) -> Answer | None:
        """`answer` without asking the table whether it changed, when the embedded engine's
        files show it did not (no part added or removed, the table not made anew since the
        parts were counted): no other process writes into an embedded store (the store locks
        its data dir), and a part this process writes is a new directory. None otherwise (a
        ClickHouse server, or the table changed: the caller looks up with `answer`)."""
        if not self.enabled or self._table_files is None:
            return None
        with self._lock:
            if self._files_seen is None or self._table_files.now() != self._files_seen:
                return None
            return self._kept(key, look_up)

    def _kept(self, key: Hashable, look_up: Callable[[], Answer]) -> Answer:
        """The answer kept under `key`, looked up now if there is none (the oldest answer
        makes room beyond `_MAX_ANSWERS`: ad hoc queries must not fill the memory)."""
        if key not in self._answers:
            if len(self._answers) >= _MAX_ANSWERS:
                del self._answers[next(iter(self._answers))]
            self._answers[key] = look_up()
        return self._answers[key]  # type: ignore[return-value]

    def _follow_table(self) -> None:
        """Bring the counts up to the table's active parts; forget every answer when a series
        came or went."""
        self._files_seen = None
        files_seen = self._table_files.now() if self._table_files is not None else None
        for _ in range(_ATTEMPTS):
            active = self._active_parts()
            added = {name for name in active if name not in self._parts}
            read = self._fingerprints_of(
                {name for name in added if active[name]},
                {name for name in added if not active[name]},
            )
            if len(read) < len(added):
                continue  # a part was merged away after it was listed: list them again
            # Parts added first: a merged part holds its sources' series before they go.
            if self._counted(read) | self._uncounted(self._parts.keys() - active):
                self._answers.clear()
            self._files_seen = files_seen
            return
        self._parts.clear()
        self._holders.clear()
        self._answers.clear()
        raise RuntimeError("the series table's parts changed under every look at them")

    def _counted(self, parts: dict[str, list[int]]) -> bool:
        """Count the fingerprints of parts newly active; whether a series is new."""
        new = False
        for name, fingerprints in parts.items():
            for fingerprint in fingerprints:
                holders = self._holders.get(fingerprint, 0)
                new |= holders == 0
                self._holders[fingerprint] = holders + 1
            self._parts[name] = np.array(fingerprints, dtype=np.uint64)
        return new

    def _uncounted(self, parts: set[str]) -> bool:
        """Stop counting the fingerprints of parts no longer active; whether a series is gone."""
        gone = False
        for name in parts:
            for fingerprint in self._parts.pop(name).tolist():
                holders = self._holders.pop(fingerprint) - 1
                gone |= holders == 0
                if holders:
                    self._holders[fingerprint] = holders
        return gone

    def _active_parts(self) -> dict[str, int]:
        """The table's active parts and their rows."""
        rows = self.clickhouse.client().query(
            "SELECT name, rows FROM system.parts"
            " WHERE database = {database:String} AND table = 'series' AND active",
            parameters={"database": DATABASE},
        )
        return {str(name): int(count) for name, count in rows.result_rows}

    def _fingerprints_of(self, parts: set[str], empty: set[str]) -> dict[str, list[int]]:
        """The distinct fingerprints of each of `parts` that is still active (an active part
        with rows gives some), and of the `empty` parts (none)."""
        found: dict[str, list[int]] = {name: [] for name in empty}
        if not parts:
            return found
        rows = self.clickhouse.client().query(
            f"SELECT _part, groupUniqArray(fingerprint) FROM {DATABASE}.series"  # noqa: S608
            " WHERE _part IN {parts:Array(String)} GROUP BY _part",
            parameters={"parts": sorted(parts)},
        )
        found.update(
            (str(name), [int(f) for f in fingerprints]) for name, fingerprints in rows.result_rows
        )
        return found

"""What a band request learnt, kept for the next request of the same band.

A chart with an expected band is drawn again every time its dashboard refreshes, each time over
a window a little later than before. Learning the band again means feeding every step of the
history to a detector per series (80,640 steps for 14 days at 15 s). Instead, the detectors of
the last request of the same band (query, kind, sensitivity, step, history, grid) are kept with
the points they gave for the window, and the next request only feeds the steps after them.

Only settled steps are kept: a step is settled once it is SETTLE_SECONDS (or two steps) old,
so that samples still on their way reach it; newer steps are scored by a copy of the detectors
on every request. What is kept is learnt again after MEMORY_SECONDS, so that history written
late (a backfill) reaches the band, and the memory holds at most MAX_SERIES series' detectors,
dropping the bands used least recently.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from fullcycle.anomaly.detector import Detector, Point
from fullcycle.telemetry.store import TelemetryStore

SETTLE_SECONDS = 120
MEMORY_SECONDS = 3600
MAX_SERIES = 256

LabelKey = tuple[tuple[str, str], ...]
BandKey = tuple[str, str, str, int, int, int]
"""(query, kind, sensitivity, step ms, history ms, grid phase ms)."""


@dataclass
class Learnt:
    """Detectors fed every step of the grid up to `fed_ms`, and the points they gave from
    `points_from_ms` on."""

    detectors: dict[LabelKey, Detector] = field(default_factory=dict)
    points: dict[LabelKey, list[Point]] = field(default_factory=dict)
    fed_ms: int | None = None
    points_from_ms: int = 0
    made_at: float = field(default_factory=time.monotonic)

    def serves(self, window_start_ms: int) -> bool:
        """Whether a window from `window_start_ms` can continue from here: the points it needs
        before the fed steps are kept, and this was learnt recently enough."""
        if self.fed_ms is None or time.monotonic() - self.made_at > MEMORY_SECONDS:
            return False
        return self.points_from_ms <= window_start_ms or self.fed_ms < window_start_ms

    def keep_from(self, window_start_ms: int) -> None:
        """Drop the points before `window_start_ms`: a refreshed window starts later."""
        self.points_from_ms = window_start_ms
        start_s = window_start_ms / 1000
        for key, points in self.points.items():
            self.points[key] = [point for point in points if point.timestamp >= start_s]


class BandMemory:
    """The Learnt of recent bands, least recently used first. A request takes its band's
    Learnt out while it works on it and puts it back after, so no two threads share a
    detector (a second request of the same band meanwhile learns on its own)."""

    def __init__(self) -> None:
        self._learnt: OrderedDict[BandKey, Learnt] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: BandKey) -> Learnt | None:
        with self._lock:
            return self._learnt.pop(key, None)

    def put(self, key: BandKey, learnt: Learnt) -> None:
        with self._lock:
            self._learnt[key] = learnt
            while sum(len(kept.detectors) for kept in self._learnt.values()) > MAX_SERIES:
                self._learnt.popitem(last=False)


_MEMORIES: WeakKeyDictionary[TelemetryStore, BandMemory] = WeakKeyDictionary()
_MEMORIES_LOCK = threading.Lock()


def memory_of(store: TelemetryStore) -> BandMemory:
    """The band memory of this store's data (each store its own: a test's or a process's)."""
    with _MEMORIES_LOCK:
        memory = _MEMORIES.get(store)
        if memory is None:
            memory = _MEMORIES[store] = BandMemory()
        return memory


def settled_until_ms(now_s: float, step_ms: int) -> int:
    """The time up to which steps are settled at `now_s`."""
    return int(now_s * 1000) - max(SETTLE_SECONDS * 1000, 2 * step_ms)

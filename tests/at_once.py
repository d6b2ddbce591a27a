"""Run one call from several threads released at the same instant, to make requests meet."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def at_once(count: int, call: Callable[[int], T]) -> list[T]:
    """`call(0)` … `call(count - 1)`, each on its own thread, started together."""
    barrier = threading.Barrier(count)

    def released(index: int) -> T:
        barrier.wait()
        return call(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(released, range(count)))

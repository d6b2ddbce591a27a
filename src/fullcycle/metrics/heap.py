"""How the C allocator of this process hands memory back: queries keep what they free.

A query over a day of a histogram makes and drops tens of megabytes of arrays (chDB's result,
its Arrow copy, numpy's columns and window arithmetic). With glibc's defaults, arrays of more
than 128 KB come from `mmap` until the first is freed, and the top of the heap is given back to
the kernel whenever 2 MB or more of it are free, so the next query takes the same memory again
page by page: about 6,000 page faults per histogram panel, a fifth of its CPU time spent in the
kernel. Arrays of up to 32 MB taken from the heap, and up to 128 MB of freed heap kept, make
them a few dozen. Nothing is kept but free memory: every query computes its answer afresh.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt(3) parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc's largest mmap threshold on 64-bit systems.
_LARGEST_FROM_HEAP = 32 * 1024 * 1024
_FREE_KEPT = 128 * 1024 * 1024


@functools.cache
def keep_freed_memory() -> bool:
    """Set the thresholds once per process; False where the C library has no `mallopt`
    (not glibc), which then keeps its defaults."""
    name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    if mallopt is None:
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _LARGEST_FROM_HEAP) and mallopt(_M_TRIM_THRESHOLD, _FREE_KEPT)
    )

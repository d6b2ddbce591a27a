"""Queries keep the memory they free (`metrics/heap.py`): a second array as large as a day of
a histogram's columns takes memory the first gave back, without a page fault per 4 KB page."""

from __future__ import annotations

import subprocess
import sys

import pytest

_FAULTS_OF_A_SECOND_ARRAY = """
import resource, sys
import numpy as np
if sys.argv[1] == "kept":
    from fullcycle.metrics.heap import keep_freed_memory
    assert keep_freed_memory()
def faults_of_an_array():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(2_000_000).sum()  # 16 MB, written and freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults_of_an_array()
print(faults_of_an_array())
"""


def _faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _FAULTS_OF_A_SECOND_ARRAY, mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_memory_freed_by_a_query_is_taken_again_without_page_faults() -> None:
    assert _faults("default") > 100  # 16 MB mapped anew (in 4 KB or 2 MB pages: 300-800 faults)
    assert _faults("kept") < 20

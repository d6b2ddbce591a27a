"""Comparing two PromQL answers point by point: the rollup tests check that what the rollups
answer is what the raw samples answer."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from fullcycle.metrics.engine import QueryResult


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def assert_same(query: str, expected: QueryResult, actual: QueryResult) -> None:
    want, have = _by_series(expected), _by_series(actual)
    assert sorted(have) == sorted(want), f"{query}: series differ"
    for key, points in want.items():
        assert [t for t, _ in have[key]] == [t for t, _ in points], f"{query} {key}: times"
        for (t, a), (_, b) in zip(points, have[key], strict=True):
            same = (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9)
            assert same, f"{query} {dict(key)} at {t}: rollup {b} != raw {a}"


def _by_series(result: QueryResult) -> dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]:
    return {tuple(sorted(s.labels.items())): s.points for s in result.series}

"""PromQL evaluation over the telemetry store: `instant_query` and `range_query`.

The expression is parsed by `promql-parser` and evaluated for all steps of the query at once:
a selector is read from the store once for the whole query (`telemetry/sample_queries.py`),
which aligns samples to the steps (instant vectors) or selects just the needed time range
(range vectors); functions, aggregations and operators then work on arrays over the steps.

Semantics follow Prometheus 2 (the version the comparison test runs against): a sample counts
at an evaluation time for 5 minutes (the lookback), a staleness marker ends a series at once,
range windows are closed `[t - range, t]`, and `rate`/`increase` extrapolate as Prometheus does.
What is not supported (subqueries, `@`, native histograms, a few functions) fails with a
PromQLError naming it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import promql_parser as parser

from fullcycle.metrics import aggregation, binary, window_summaries
from fullcycle.metrics.heap import keep_freed_memory
from fullcycle.metrics.histograms import histogram_quantile
from fullcycle.metrics.range_functions import (
    RANGE_FUNCTIONS,
    Windows,
    quantile_over_time,
)
from fullcycle.metrics.values import (
    METRIC_NAME,
    PromQLBadData,
    PromQLError,
    Scalar,
    StepSeries,
    String,
    Value,
    Vector,
    merge_same_labels,
    without_name,
)
from fullcycle.metrics.window_summaries import DELTA_TYPES, SUMMARY_FUNCTIONS
from fullcycle.telemetry import sample_queries
from fullcycle.telemetry.sample_queries import LabelMatcher, MatchOperator
from fullcycle.telemetry.store import TelemetryStore

__all__ = [
    "PromQLBadData",
    "PromQLError",
    "QueryResult",
    "Series",
    "check_syntax",
    "instant_query",
    "range_query",
    "selected_metrics",
    "selector_matchers",
]

LOOKBACK_MS = 5 * 60 * 1000
# The aggregations whose series have only the grouping labels (`topk`/`bottomk` keep their
# operand's series as they are).
_GROUPING_ONLY = ("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "quantile")
# The summary functions that use counter corrections (the others need no raw reads for resets).
COUNTER_FUNCTIONS = ("rate", "increase")
# The summary functions that use the sums of samples (the counter functions too, for the OTLP
# delta counters among their series, whose increase is their sum).
SUM_FUNCTIONS = ("sum_over_time", "avg_over_time")
MAX_POINTS_PER_SERIES = 11_000
# The parser's enums are not hashable: they are looked up by their names.
_OPERATORS: dict[str, MatchOperator] = {
    "MatchOp.Equal": "=",
    "MatchOp.NotEqual": "!=",
    "MatchOp.Re": "=~",
    "MatchOp.NotRe": "!~",
}
_CARDINALITY = {
    "VectorMatchCardinality.OneToOne": "one-to-one",
    "VectorMatchCardinality.ManyToOne": "many-to-one",
    "VectorMatchCardinality.OneToMany": "one-to-many",
    "VectorMatchCardinality.ManyToMany": "many-to-many",
}


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class QueryResult:
    result_type: str  # "vector" | "matrix" | "scalar" | "string"
    series: list[Series] = field(default_factory=list)
    string: str = ""


def instant_query(store: TelemetryStore, expr: str, at: datetime) -> QueryResult:
    """The value of `expr` at `at`: a vector, a scalar, a string, or (for a bare range
    selector such as `x[5m]`) the matrix of its samples."""
    node = _parse(expr)
    keep_freed_memory()
    at_ms = _milliseconds(at)
    evaluator = _Evaluator(store, np.array([at_ms], dtype=np.int64), 0)
    if isinstance(node, parser.MatrixSelector):
        return QueryResult("matrix", evaluator.range_selector(node))
    value = evaluator.evaluate(node)
    seconds = at_ms / 1000
    if isinstance(value, String):
        return QueryResult("string", [], value.value)
    if isinstance(value, Scalar):
        return QueryResult("scalar", [Series({}, [(seconds, float(value.values[0]))])])
    return QueryResult(
        "vector",
        [Series(s.labels, [(seconds, float(s.values[0]))]) for s in value if s.present[0]],
    )


def range_query(
    store: TelemetryStore,
    expr: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    *,
    rollups: bool = True,
) -> QueryResult:
    """The values of `expr` at start, start + step, ... up to end, as a matrix.

    Selectors read the store's rollups where the steps and windows allow it (the same answer,
    from fewer rows); `rollups=False` reads only raw samples (for comparing the two)."""
    return range_queries(store, [expr], start, end, step, rollups=rollups)[0]


def range_queries(
    store: TelemetryStore,
    exprs: list[str],
    start: datetime,
    end: datetime,
    step: timedelta,
    *,
    rollups: bool = True,
) -> list[QueryResult]:
    """`range_query` of each of `exprs` over the same steps, evaluated together: a part that
    reads the store and is written the same in several of them (the bucket rates under a
    latency panel's p50, p95 and p99) is evaluated once. Every expression is parsed before any
    is evaluated, so a syntax error in one answers none."""
    step_ms = int(step.total_seconds() * 1000)
    start_ms, end_ms = _milliseconds(start), _milliseconds(end)
    if step_ms <= 0:
        raise PromQLBadData("zero or negative query resolution step widths are not accepted")
    if end_ms < start_ms:
        raise PromQLBadData("end timestamp must not be before start time")
    if (end_ms - start_ms) // step_ms + 1 > MAX_POINTS_PER_SERIES:
        raise PromQLBadData(
            "exceeded maximum resolution of 11,000 points per timeseries;"
            " try decreasing the query resolution (?step=XX)"
        )
    nodes = [_parse(expr) for expr in exprs]
    keep_freed_memory()
    times = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
    evaluator = _Evaluator(store, times, step_ms, rollups, shared={})
    return [_matrix_of(evaluator.evaluate(node), times) for node in nodes]


def _matrix_of(value: Value, times: np.ndarray) -> QueryResult:
    if isinstance(value, String):
        raise PromQLError("a range query must return an instant vector or a scalar, not a string")
    if isinstance(value, Scalar):
        value = [StepSeries({}, value.values, np.ones(len(times), dtype=bool))]
    seconds = times / 1000
    series = [
        Series(
            s.labels,
            [(float(seconds[i]), float(s.values[i])) for i in np.flatnonzero(s.present)],
        )
        for s in value
        if s.present.any()
    ]
    series.sort(key=lambda one: sorted(one.labels.items()))
    return QueryResult("matrix", series)


def _milliseconds(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _parse(expr: str) -> Any:
    if not expr.strip():
        raise PromQLBadData("the query is empty")
    try:
        return parser.parse(expr)
    except ValueError as error:
        raise PromQLBadData(f"parse error: {error}") from error


def _duration_ms(delta: timedelta | None) -> int:
    return 0 if delta is None else round(delta.total_seconds() * 1000)


def check_syntax(expr: str) -> None:
    """Raises PromQLBadData if `expr` does not parse."""
    _parse(expr)


def selector_matchers(text: str) -> list[LabelMatcher]:
    """The matchers of a series selector such as `up{job="shop"}` (the API's `match[]`)."""
    node = _parse(text)
    if not isinstance(node, parser.VectorSelector):
        raise PromQLBadData(f'{text!r} is not a series selector such as up{{job="shop"}}')
    return _matchers(node)


def _matchers(selector: Any) -> list[LabelMatcher]:
    if selector.at is not None:
        raise PromQLError("the @ modifier is not supported")
    if selector.matchers.or_matchers:
        raise PromQLError("'or' inside a selector's braces is not supported")
    matchers = [
        LabelMatcher(matcher.name, _OPERATORS[str(matcher.op)], matcher.value)
        for matcher in selector.matchers.matchers
    ]
    if selector.name:
        matchers.insert(0, LabelMatcher(METRIC_NAME, "=", selector.name))
    return matchers


def selected_metrics(expr: str) -> set[str] | None:
    """The metric names the selectors of `expr` read, or None when a selector does not name
    exactly one metric (`{job="shop"}`, `{__name__=~"http_.*"}`)."""
    names: set[str] = set()
    pending = [_parse(expr)]
    while pending:
        node = pending.pop()
        if isinstance(node, parser.MatrixSelector):
            node = node.vector_selector
        if isinstance(node, parser.VectorSelector):
            matchers = _matchers(node)
            equal = [m.value for m in matchers if m.name == METRIC_NAME and m.operator == "="]
            if len(equal) != 1:
                return None
            names.add(equal[0])
            continue
        pending.extend(_children(node))
    return names


# Threads evaluating a binary operation's left operand while the caller evaluates the right
# one. A thread is taken only when one is free (never waited for), so nested operations cannot
# wait on each other.
_WORKERS = 2
_OPERAND_THREADS = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="promql-operand")
_OPERANDS = threading.BoundedSemaphore(_WORKERS)


# The nodes whose values `range_queries` shares between the expressions it evaluates: those
# that can read the store (sharing any node would be correct; sharing a number gains nothing).
_SHAREABLE = (
    parser.VectorSelector,
    parser.MatrixSelector,
    parser.AggregateExpr,
    parser.Call,
    parser.BinaryExpr,
)


def _reads_store(node: Any) -> bool:
    """Whether evaluating `node` reads samples (not only numbers and strings)."""
    if isinstance(node, parser.VectorSelector | parser.MatrixSelector):
        return True
    return any(_reads_store(child) for child in _children(node))


def _children(node: Any) -> list[Any]:
    names = ("expr", "lhs", "rhs", "param")
    children = [getattr(node, name, None) for name in names]
    return [child for child in [*children, *getattr(node, "args", [])] if child is not None]


class _Evaluator:
    """Evaluates one parsed expression at the evaluation times `times` (unix ms)."""

    def __init__(
        self,
        store: TelemetryStore,
        times: np.ndarray,
        step_ms: int,
        rollups: bool = True,
        shared: dict[str, Value] | None = None,
    ) -> None:
        """`shared`: values of the parts that read the store, by their text, for expressions
        evaluated together (`range_queries`); values are never changed once made, so the same
        one can be an operand of several."""
        self.store = store
        self.times = times
        self.step_ms = step_ms
        self.rollups = rollups
        self.shared = shared

    def evaluate(self, node: Any) -> Value:
        handler = self._handlers.get(type(node))
        if handler is None:
            raise PromQLError(f"{type(node).__name__} expressions are not supported")
        if self.shared is None or not isinstance(node, _SHAREABLE):
            return handler(self, node)
        text = str(node)
        if text not in self.shared:
            self.shared[text] = handler(self, node)
        return self.shared[text]

    def _number(self, node: Any) -> Value:
        return Scalar(np.full(len(self.times), float(node.val)))

    def _string(self, node: Any) -> Value:
        return String(node.val)

    def _paren(self, node: Any) -> Value:
        return self.evaluate(node.expr)

    def _unary(self, node: Any) -> Value:
        value = self.evaluate(node.expr)
        if isinstance(value, Scalar):
            return Scalar(-value.values)
        if isinstance(value, String):
            raise PromQLError("a string cannot be negated")
        return merge_same_labels(
            [StepSeries(without_name(s.labels), -s.values, s.present) for s in value], "-"
        )

    def _vector(self, node: Any, kept: list[str] | None = None) -> Value:
        """An instant-vector selector: per step, the latest sample within the lookback (the
        series with only the `kept` labels, when given)."""
        labels, values, present = self._vector_rows(node, kept)
        shown = present.any(axis=1)
        return [StepSeries(labels[row], values[row], present[row]) for row in np.flatnonzero(shown)]

    def _vector_rows(
        self, node: Any, kept: list[str] | None
    ) -> tuple[list[dict[str, str]], np.ndarray, np.ndarray]:
        """`_vector`'s series as their labels and arrays of values and presence by series and
        step: a step's value is the latest sample at or before it (the store gives the latest
        of each step that has one, carried forward here), present when it lies within the
        lookback and is no staleness marker."""
        times = self.times - _duration_ms(node.offset)
        found = sample_queries.last_sample_per_step(
            self.store,
            _matchers(node),
            int(times[0]),
            self.step_ms,
            len(times),
            LOOKBACK_MS,
            rollups=self.rollups,
            kept=kept,
        )
        shape = (len(found.labels), len(times))
        rows = np.full(shape, -1, dtype=np.int64)
        rows[found.series, found.steps] = np.arange(len(found.series))
        latest_step = np.where(rows >= 0, np.arange(len(times)), -1)
        np.maximum.accumulate(latest_step, axis=1, out=latest_step)
        latest = np.take_along_axis(rows, np.maximum(latest_step, 0), axis=1)
        safe = np.maximum(latest, 0)
        present = (
            (latest >= 0) & (found.timestamps_ms[safe] >= times - LOOKBACK_MS) & ~found.stale[safe]
        )
        return found.labels, found.values[safe], present

    def _matrix(self, node: Any) -> Value:
        raise PromQLError(
            "a range vector (such as x[5m]) must be passed to a function such as rate()"
        )

    def _range_samples(self, node: Any) -> tuple[list[sample_queries.SeriesSamples], np.ndarray]:
        """Samples of a range selector for all windows, and the windows' ends."""
        if not isinstance(node, parser.MatrixSelector):
            raise PromQLError("subqueries are not supported; pass a range selector such as x[5m]")
        selector = node.vector_selector
        ends = self.times - _duration_ms(selector.offset)
        range_ms = _duration_ms(node.range)
        found = sample_queries.raw_samples(
            self.store, _matchers(selector), int(ends[0]) - range_ms, int(ends[-1])
        )
        return found, ends

    def range_selector(self, node: Any) -> list[Series]:
        """The samples of `x[5m]` at the (single) evaluation time, for an instant query."""
        found, _ends = self._range_samples(node)
        return [
            Series(
                samples.labels,
                [
                    (int(t) / 1000, float(v))
                    for t, v in zip(samples.timestamps_ms, samples.values, strict=True)
                ],
            )
            for samples in found
            if len(samples.timestamps_ms)
        ]

    def _aggregate(self, node: Any) -> Value:
        operator = str(node.op)
        modifier = node.modifier
        without = modifier is not None and modifier.type == parser.AggModifierType.Without
        names = list(modifier.labels) if modifier is not None else []
        kept = None if without or operator not in _GROUPING_ONLY else names
        if kept is not None and operator in aggregation.REDUCERS:
            at_once = self._aggregated_at_once(node, kept)
            if at_once is not None:
                return at_once
        vector = self._as_vector(self._operand(node.expr, kept), f"{operator}()")
        parameter = None
        if node.param is not None:
            value = self.evaluate(node.param)
            if not isinstance(value, Scalar):
                raise PromQLError(f"{operator}(): the parameter must be a number")
            parameter = value.values
        return aggregation.aggregate(operator, vector, names, without, parameter)

    def _aggregated_at_once(self, node: Any, kept: list[str]) -> Value | None:
        """An aggregation keeping only its `kept` grouping labels, of a selector or of a
        summary function of one that names its metric, computed over the arrays of all its
        series at once; None for any other operand."""
        operand = node.expr
        if isinstance(operand, parser.VectorSelector):
            labels, values, present = self._vector_rows(operand, kept)
            return aggregation.aggregate_rows(str(node.op), labels, values, present, kept)
        if _grouped_summary(node) is None:
            return None
        windows = self._windows_of(operand.args[0])
        matchers = _matchers(operand.args[0].vector_selector)
        found = self._summary_buckets(operand.func.name, matchers, windows, kept)
        return self._aggregated(node, found, windows)

    def _operand(self, node: Any, kept: list[str] | None) -> Value:
        """An aggregation's operand. When the aggregation keeps only the `kept` labels, a
        selector, or a range function of one that names its metric, is read with only those
        labels of each series (the look-up of whole label maps costs more than the rest of a
        small panel)."""
        if kept is not None and isinstance(node, parser.VectorSelector):
            return self._vector(node, kept)
        if (
            kept is not None
            and isinstance(node, parser.Call)
            and node.func.name in SUMMARY_FUNCTIONS
            and _names_one_metric(node.args[0])
        ):
            return self._summary_function(node.func.name, node.args[0], kept)
        return self.evaluate(node)

    def _binary(self, node: Any) -> Value:
        operator = str(node.op)
        left, right = self._read_once(node.lhs, node.rhs) or self._both(node.lhs, node.rhs)
        modifier = node.modifier
        return_bool = bool(modifier is not None and modifier.return_bool)
        if isinstance(left, String) or isinstance(right, String):
            raise PromQLError(f"the operator {operator} does not apply to strings")
        if isinstance(left, Scalar) and isinstance(right, Scalar):
            return Scalar(binary.apply(operator, left.values, right.values))
        if isinstance(left, Scalar):
            return binary.vector_scalar(
                operator, self._as_vector(right, operator), left.values, True, return_bool
            )
        if isinstance(right, Scalar):
            return binary.vector_scalar(operator, left, right.values, False, return_bool)
        return binary.vector_vector(operator, left, right, self._matching(modifier, operator))

    def _both(self, left: Any, right: Any) -> tuple[Value, Value]:
        """Both operands; the left one in another thread when a worker is free and both read
        the store (chDB reads, and numpy much of the rest, without holding the GIL)."""
        if not (_reads_store(left) and _reads_store(right)) or not _OPERANDS.acquire(False):
            return self.evaluate(left), self.evaluate(right)
        try:
            pending = _OPERAND_THREADS.submit(self.evaluate, left)
            evaluated_right = self.evaluate(right)
            return pending.result(), evaluated_right
        finally:
            _OPERANDS.release()

    @staticmethod
    def _matching(modifier: Any, operator: str) -> binary.Matching:
        default = "many-to-many" if operator in binary.SET_OPERATORS else "one-to-one"
        if modifier is None:
            return binary.matching_of(default, False, [], [], False)
        matching = modifier.matching
        on = matching is not None and matching.type == parser.LabelModifierType.Include
        labels = list(matching.labels) if matching is not None else []
        return binary.matching_of(
            _CARDINALITY.get(str(modifier.card), default),
            on,
            labels,
            list(modifier.group_labels or []),
            bool(modifier.return_bool),
        )

    def _call(self, node: Any) -> Value:
        name = node.func.name
        arguments = list(node.args)
        if name in SUMMARY_FUNCTIONS:
            return self._summary_function(name, arguments[0])
        if name in RANGE_FUNCTIONS or name == "quantile_over_time":
            return self._range_function(name, arguments)
        if name in ("absent", "absent_over_time"):
            return self._absent(name, arguments)
        function = _INSTANT_FUNCTIONS.get(name)
        if function is None:
            raise PromQLError(f"the function {name}() is not supported")
        return function(self, [self.evaluate(argument) for argument in arguments])

    def _range_function(self, name: str, arguments: list[Any]) -> Vector:
        if name == "quantile_over_time":
            q = self._scalar(self.evaluate(arguments[0]), name)
            function = quantile_over_time(q)
            arguments = arguments[1:]
        else:
            function = RANGE_FUNCTIONS[name]
        found, ends = self._range_samples(arguments[0])
        range_ms = _duration_ms(arguments[0].range)
        vector = []
        for samples in found:
            values, present = function(samples, Windows.over(samples, ends, range_ms))
            if present.any():
                vector.append(StepSeries(without_name(samples.labels), values, present))
        return merge_same_labels(vector, f"{name}()")

    def _summary_function(self, name: str, argument: Any, kept: list[str] | None = None) -> Vector:
        """A function the store's per-bucket summaries suffice for. Buckets divide both the
        step and the range, so every window is made of whole buckets. With `kept`, the series
        have only those labels: the caller's selector names one metric, so no two series have
        the same labels once the name is dropped, and none are joined."""
        windows = self._windows_of(argument)
        found = self._summary_buckets(name, _matchers(argument.vector_selector), windows, kept)
        return self._summary_vector(name, found, windows, kept)

    def _windows_of(self, argument: Any) -> tuple[np.ndarray, int, int]:
        """A range selector's window ends, range and bucket (which divides range and step)."""
        if not isinstance(argument, parser.MatrixSelector):
            raise PromQLError("subqueries are not supported; pass a range selector such as x[5m]")
        ends = self.times - _duration_ms(argument.vector_selector.offset)
        range_ms = _duration_ms(argument.range)
        bucket_ms = math.gcd(self.step_ms, range_ms) if self.step_ms else range_ms
        return ends, range_ms, max(bucket_ms, 1)

    def _summary_buckets(
        self,
        name: str,
        matchers: list[LabelMatcher],
        windows: tuple[np.ndarray, int, int],
        kept: list[str] | None,
    ) -> sample_queries.SeriesBuckets:
        ends, range_ms, bucket_ms = windows

        def read(sums: bool) -> sample_queries.SeriesBuckets:
            return sample_queries.window_buckets(
                self.store,
                matchers,
                int(ends[0]),
                max(self.step_ms, 1),
                len(ends),
                range_ms,
                bucket_ms,
                corrections=name in COUNTER_FUNCTIONS,
                rollups=self.rollups,
                extremes=name in ("min_over_time", "max_over_time"),
                sums=sums,
                kept=kept,
            )

        found = read(sums=name in SUM_FUNCTIONS)
        if name in COUNTER_FUNCTIONS and not set(found.types).isdisjoint(DELTA_TYPES):
            found = read(sums=True)  # delta counters among the series: read again with sums
        return found

    def _summary_vector(
        self,
        name: str,
        found: sample_queries.SeriesBuckets,
        windows: tuple[np.ndarray, int, int],
        kept: list[str] | None,
    ) -> Vector:
        ends, range_ms, bucket_ms = windows
        results = window_summaries.evaluate(
            SUMMARY_FUNCTIONS[name], found, ends, range_ms, bucket_ms
        )
        vector = []
        for labels, (values, present) in zip(found.labels, results, strict=True):
            if present.any():
                keep_name = name == "last_over_time"
                vector.append(
                    StepSeries(labels if keep_name else without_name(labels), values, present)
                )
        return vector if kept is not None else merge_same_labels(vector, f"{name}()")

    def _read_once(self, left: Any, right: Any) -> tuple[Value, Value] | None:
        """Both operands from one read, when they aggregate the same range function of the
        same metric and one's selector only adds matchers to the other's (an error ratio:
        `sum(rate(x{code=~"5.."}[5m])) / sum(rate(x[5m]))`): the wider selector's buckets are
        read once, and the narrower one's series are those of them that its matchers select
        in the `series` table (looked up beside the read). None when they do not."""
        left_operand, right_operand = _grouped_summary(left), _grouped_summary(right)
        if left_operand is None or right_operand is None:
            return None
        (left_call, left_names), (right_call, right_names) = left_operand, right_operand
        name = left_call.func.name
        argument = left_call.args[0]
        if right_call.func.name != name or not _same_window(argument, right_call.args[0]):
            return None
        left_matchers = _matchers(argument.vector_selector)
        right_matchers = _matchers(right_call.args[0].vector_selector)
        if set(right_matchers) <= set(left_matchers):
            wide, narrow, narrow_is_left = right_matchers, left_matchers, True
        elif set(left_matchers) <= set(right_matchers):
            wide, narrow, narrow_is_left = left_matchers, right_matchers, False
        else:
            return None
        kept = sorted({*left_names, *right_names})
        windows = self._windows_of(argument)
        narrow_series = sample_queries.matching_fingerprints(self.store, narrow)
        found = self._summary_buckets(name, wide, windows, kept)
        subset = found.of_series(narrow_series.result())
        wide_value = self._aggregated(left if not narrow_is_left else right, found, windows)
        narrow_value = self._aggregated(left if narrow_is_left else right, subset, windows)
        return (narrow_value, wide_value) if narrow_is_left else (wide_value, narrow_value)

    def _aggregated(
        self, node: Any, found: sample_queries.SeriesBuckets, windows: tuple[np.ndarray, int, int]
    ) -> Value:
        """An aggregation of a range function (`_grouped_summary`) over buckets read for it:
        computed over the arrays of all series' windows at once, never made into a series
        each (the series have only the grouping labels, so none are joined)."""
        names = list(node.modifier.labels) if node.modifier is not None else []
        name = node.expr.func.name
        ends, range_ms, bucket_ms = windows
        values, present = window_summaries.evaluate_rows(
            SUMMARY_FUNCTIONS[name], found, ends, range_ms, bucket_ms
        )
        keep_name = name == "last_over_time"
        return aggregation.aggregate_rows(
            str(node.op), found.labels, values, present, names, keep_name
        )

    def _absent(self, name: str, arguments: list[Any]) -> Vector:
        """1 with the selector's equality labels at the steps where nothing matches."""
        argument = arguments[0]
        if name == "absent":
            vector = self._as_vector(self.evaluate(argument), name)
            selector = argument if isinstance(argument, parser.VectorSelector) else None
        else:
            vector = self._summary_function("count_over_time", argument)
            selector = (
                argument.vector_selector if isinstance(argument, parser.MatrixSelector) else None
            )
        taken = np.zeros(len(self.times), dtype=bool)
        for series in vector:
            taken |= series.present
        if taken.all():
            return []
        return [StepSeries(_absent_labels(selector), np.ones(len(self.times)), ~taken)]

    def _scalar(self, value: Value, where: str) -> np.ndarray:
        if not isinstance(value, Scalar):
            raise PromQLError(f"{where}: expected a number (scalar)")
        return value.values

    @staticmethod
    def _as_vector(value: Value, where: str) -> Vector:
        if not isinstance(value, list):
            raise PromQLError(f"{where}: expected an instant vector")
        return value

    _handlers: ClassVar[dict[type, Callable[[_Evaluator, Any], Value]]] = {
        parser.NumberLiteral: _number,
        parser.StringLiteral: _string,
        parser.ParenExpr: _paren,
        parser.UnaryExpr: _unary,
        parser.VectorSelector: _vector,
        parser.MatrixSelector: _matrix,
        parser.AggregateExpr: _aggregate,
        parser.BinaryExpr: _binary,
        parser.Call: _call,
    }


def _names_one_metric(argument: Any) -> bool:
    """Whether `argument` is a range selector with an equality matcher on the metric name."""
    if not isinstance(argument, parser.MatrixSelector):
        return False
    matchers = _matchers(argument.vector_selector)
    return any(m.name == METRIC_NAME and m.operator == "=" for m in matchers)


def _grouped_summary(node: Any) -> tuple[Any, list[str]] | None:
    """For `sum by (...) (rate(x[5m]))` and the like (an aggregation that keeps only its
    grouping labels, of a function of bucket summaries over a selector that names its metric):
    the call and the grouping labels; None for anything else."""
    if not isinstance(node, parser.AggregateExpr) or str(node.op) not in _GROUPING_ONLY:
        return None
    modifier = node.modifier
    if node.param is not None or (
        modifier is not None and modifier.type == parser.AggModifierType.Without
    ):
        return None
    call = node.expr
    if not (
        isinstance(call, parser.Call)
        and call.func.name in SUMMARY_FUNCTIONS
        and _names_one_metric(call.args[0])
    ):
        return None
    return call, list(modifier.labels) if modifier is not None else []


def _same_window(left: Any, right: Any) -> bool:
    """Whether two range selectors have the same range and offset."""
    return _duration_ms(left.range) == _duration_ms(right.range) and _duration_ms(
        left.vector_selector.offset
    ) == _duration_ms(right.vector_selector.offset)


def _absent_labels(selector: Any) -> dict[str, str]:
    """Prometheus: the equality matchers' labels, except names matched more than once."""
    if selector is None:
        return {}
    labels: dict[str, str] = {}
    seen: set[str] = set()
    for matcher in selector.matchers.matchers:
        if matcher.name in seen:
            labels.pop(matcher.name, None)
            continue
        seen.add(matcher.name)
        if matcher.op == parser.MatchOp.Equal and matcher.name != METRIC_NAME:
            labels[matcher.name] = matcher.value
    return labels


def _mapped(function: Callable[[np.ndarray], np.ndarray]) -> Callable[..., Value]:
    """A function of each value of a vector, dropping the metric name."""

    def evaluate(evaluator: _Evaluator, arguments: list[Value]) -> Value:
        vector = _Evaluator._as_vector(arguments[0], "function argument")
        with np.errstate(all="ignore"):
            return merge_same_labels(
                [StepSeries(without_name(s.labels), function(s.values), s.present) for s in vector],
                "function",
            )

    return evaluate


def _with_scalars(
    function: Callable[..., np.ndarray], defaults: tuple[float, ...] = ()
) -> Callable[..., Value]:
    """A function of a vector and scalar arguments (`clamp_min(v, 0)`, `round(v, 0.1)`)."""

    def evaluate(evaluator: _Evaluator, arguments: list[Value]) -> Value:
        vector = _Evaluator._as_vector(arguments[0], "function argument")
        scalars = [evaluator._scalar(a, "function argument") for a in arguments[1:]]
        for default in defaults[len(scalars) :]:
            scalars.append(np.full(len(evaluator.times), default))
        with np.errstate(all="ignore"):
            return merge_same_labels(
                [
                    StepSeries(without_name(s.labels), function(s.values, *scalars), s.present)
                    for s in vector
                ],
                "function",
            )

    return evaluate


def _round(values: np.ndarray, to_nearest: np.ndarray) -> np.ndarray:
    inverse = 1 / to_nearest
    return np.floor(values * inverse + 0.5) / inverse


def _clamp(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    clamped = np.maximum(np.minimum(values, high), low)
    return np.where(low > high, np.nan, clamped)


def _time(evaluator: _Evaluator, arguments: list[Value]) -> Value:
    return Scalar(evaluator.times / 1000)


def _scalar_of(evaluator: _Evaluator, arguments: list[Value]) -> Value:
    """The value of a vector with exactly one element at a step, NaN otherwise."""
    vector = _Evaluator._as_vector(arguments[0], "scalar()")
    values = np.full(len(evaluator.times), math.nan)
    counts = np.zeros(len(evaluator.times), dtype=int)
    for series in vector:
        counts += series.present
        values = np.where(series.present, series.values, values)
    return Scalar(np.where(counts == 1, values, math.nan))


def _vector_of(evaluator: _Evaluator, arguments: list[Value]) -> Value:
    values = evaluator._scalar(arguments[0], "vector()")
    return [StepSeries({}, values, np.ones(len(values), dtype=bool))]


def _histogram_quantile(evaluator: _Evaluator, arguments: list[Value]) -> Value:
    q = evaluator._scalar(arguments[0], "histogram_quantile()")
    return histogram_quantile(q, _Evaluator._as_vector(arguments[1], "histogram_quantile()"))


def _sorted(descending: bool) -> Callable[..., Value]:
    def evaluate(evaluator: _Evaluator, arguments: list[Value]) -> Value:
        vector = _Evaluator._as_vector(arguments[0], "sort()")
        return sorted(
            vector,
            key=lambda s: -s.values[-1] if descending else s.values[-1],
        )

    return evaluate


def _sgn(values: np.ndarray) -> np.ndarray:
    return np.sign(values)


_INSTANT_FUNCTIONS: dict[str, Callable[..., Value]] = {
    "abs": _mapped(np.abs),
    "ceil": _mapped(np.ceil),
    "floor": _mapped(np.floor),
    "exp": _mapped(np.exp),
    "ln": _mapped(np.log),
    "log2": _mapped(np.log2),
    "log10": _mapped(np.log10),
    "sqrt": _mapped(np.sqrt),
    "sgn": _mapped(_sgn),
    "round": _with_scalars(_round, (1.0,)),
    "clamp": _with_scalars(_clamp),
    "clamp_min": _with_scalars(np.maximum),
    "clamp_max": _with_scalars(np.minimum),
    "time": _time,
    "scalar": _scalar_of,
    "vector": _vector_of,
    "histogram_quantile": _histogram_quantile,
    "sort": _sorted(False),
    "sort_desc": _sorted(True),
}

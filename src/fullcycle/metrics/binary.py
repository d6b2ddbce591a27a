"""Binary operators between scalars and vectors, with Prometheus' vector matching (`on`,
`ignoring`, `group_left`, `group_right`) and set operators (`and`, `or`, `unless`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fullcycle.metrics.values import (
    METRIC_NAME,
    PromQLError,
    StepSeries,
    Vector,
    label_key,
    merge_same_labels,
    without_name,
)


def _power(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.power(left, right)


def _modulo(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.fmod(left, right)


ARITHMETIC: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "%": _modulo,
    "^": _power,
    "atan2": np.arctan2,
}
COMPARISON: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
}
SET_OPERATORS = ("and", "or", "unless")


@dataclass(frozen=True)
class Matching:
    """How the two sides of a vector operation are matched."""

    cardinality: str  # "one-to-one" | "many-to-one" | "one-to-many" | "many-to-many"
    on: bool
    labels: tuple[str, ...]
    include: tuple[str, ...]
    return_bool: bool


def apply(operator: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The operator's values; a comparison gives 1.0 where true and 0.0 where false."""
    with np.errstate(all="ignore"):
        if operator in ARITHMETIC:
            return np.asarray(ARITHMETIC[operator](left, right), dtype=np.float64)
        if operator in COMPARISON:
            return np.asarray(COMPARISON[operator](left, right), dtype=np.float64)
    raise PromQLError(f"the operator {operator} is not supported")


def vector_scalar(
    operator: str, vector: Vector, scalar: np.ndarray, scalar_left: bool, return_bool: bool
) -> Vector:
    result = []
    for series in vector:
        left, right = (scalar, series.values) if scalar_left else (series.values, scalar)
        computed = apply(operator, left, right)
        if operator in COMPARISON and not return_bool:
            result.append(
                StepSeries(series.labels, series.values, series.present & (computed == 1.0))
            )
            continue
        result.append(StepSeries(without_name(series.labels), computed, series.present.copy()))
    return merge_same_labels(result, operator) if result else result


def signature(labels: dict[str, str], matching: Matching) -> tuple[tuple[str, str], ...]:
    if matching.on:
        return tuple((name, labels.get(name, "")) for name in sorted(matching.labels))
    excluded = {*matching.labels, METRIC_NAME}
    return label_key({name: value for name, value in labels.items() if name not in excluded})


def _by_signature(vector: Vector, matching: Matching) -> dict[tuple, list[StepSeries]]:
    groups: dict[tuple, list[StepSeries]] = {}
    for series in vector:
        groups.setdefault(signature(series.labels, matching), []).append(series)
    return groups


def _one_side(members: list[StepSeries], side: str, many_side: bool = False) -> StepSeries:
    """The series of one match group on the "one" side, as one; two with a value at the same
    step are a query error, as in Prometheus."""
    if len(members) == 1:
        return members[0]
    counts = np.sum([m.present for m in members], axis=0)
    if np.any(counts > 1) and many_side:
        raise PromQLError(
            "multiple matches for labels: many-to-one matching must be explicit"
            " (group_left/group_right)"
        )
    if np.any(counts > 1):
        raise PromQLError(
            f"found duplicate series for the match group on the {side} hand-side of the operation;"
            " many-to-many matching not allowed: matching labels must be unique on one side"
        )
    values = np.zeros(len(counts))
    for member in members:
        values = np.where(member.present, member.values, values)
    return StepSeries(members[0].labels, values, counts > 0)


def _result_labels(
    many: dict[str, str], one: dict[str, str], operator: str, matching: Matching
) -> dict[str, str]:
    labels = dict(many)
    if operator in ARITHMETIC or matching.return_bool:
        labels.pop(METRIC_NAME, None)
    if matching.cardinality == "one-to-one":
        if matching.on:
            labels = {name: value for name, value in labels.items() if name in matching.labels}
        else:
            for name in matching.labels:
                labels.pop(name, None)
    for name in matching.include:
        if one.get(name, "") != "":
            labels[name] = one[name]
        else:
            labels.pop(name, None)
    return labels


def vector_vector(operator: str, left: Vector, right: Vector, matching: Matching) -> Vector:
    if operator in SET_OPERATORS:
        return _set_operation(operator, left, right, matching)
    swapped = matching.cardinality == "one-to-many"
    many, one = (right, left) if swapped else (left, right)
    one_groups = {
        key: _one_side(members, "left" if swapped else "right")
        for key, members in _by_signature(one, matching).items()
    }
    if matching.cardinality == "one-to-one":
        for members in _by_signature(many, matching).values():
            _one_side(members, "left", many_side=True)
    result = []
    for series in many:
        partner = one_groups.get(signature(series.labels, matching))
        if partner is None:
            continue
        both = series.present & partner.present
        if not both.any():
            continue
        left_values, right_values = (
            (partner.values, series.values) if swapped else (series.values, partner.values)
        )
        computed = apply(operator, left_values, right_values)
        labels = _result_labels(series.labels, partner.labels, operator, matching)
        if operator in COMPARISON and not matching.return_bool:
            result.append(StepSeries(labels, left_values, both & (computed == 1.0)))
        else:
            result.append(StepSeries(labels, computed, both))
    return merge_same_labels(result, operator)


def _presence_by_signature(vector: Vector, matching: Matching) -> dict[tuple, np.ndarray]:
    presence: dict[tuple, np.ndarray] = {}
    for series in vector:
        key = signature(series.labels, matching)
        presence[key] = presence.get(key, np.zeros_like(series.present)) | series.present
    return presence


def _set_operation(operator: str, left: Vector, right: Vector, matching: Matching) -> Vector:
    right_presence = _presence_by_signature(right, matching)
    if operator in ("and", "unless"):
        result = []
        for series in left:
            other = right_presence.get(signature(series.labels, matching))
            if other is None:
                other = np.zeros_like(series.present)
            keep = series.present & (other if operator == "and" else ~other)
            if keep.any():
                result.append(StepSeries(series.labels, series.values, keep))
        return result
    left_presence = _presence_by_signature(left, matching)
    result = [series for series in left if series.present.any()]
    for series in right:
        taken = left_presence.get(signature(series.labels, matching))
        keep = series.present & ~taken if taken is not None else series.present
        if keep.any():
            result.append(StepSeries(series.labels, series.values, keep))
    return result


def matching_of(
    cardinality: str, on: bool, labels: Sequence[str], include: Sequence[str], return_bool: bool
) -> Matching:
    return Matching(cardinality, on, tuple(labels), tuple(include), return_bool)

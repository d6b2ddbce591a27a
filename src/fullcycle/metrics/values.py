"""What PromQL expressions evaluate to, at every evaluation time (step) of a query at once.

An instant vector is a list of `StepSeries`: a label set with a value and a presence flag per
step, so that a range query is evaluated once for all its steps (numpy arrays) rather than once
per step. A scalar is one array of values per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRIC_NAME = "__name__"


class PromQLError(ValueError):
    """A query that cannot be evaluated; the message is meant for the person who wrote it."""


class PromQLBadData(PromQLError):
    """The query does not parse, or a parameter of the query API is malformed."""


@dataclass
class StepSeries:
    labels: dict[str, str]
    values: np.ndarray
    present: np.ndarray


Vector = list[StepSeries]


@dataclass(frozen=True)
class Scalar:
    values: np.ndarray


@dataclass(frozen=True)
class String:
    value: str


Value = Vector | Scalar | String


def without_name(labels: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in labels.items() if name != METRIC_NAME}


def label_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def merge_same_labels(series: Vector, what: str) -> Vector:
    """Series with equal label sets joined into one; refused where both have a value at a step
    (as Prometheus refuses a vector with two series of one label set). The series are not
    changed, and their arrays not copied: a join makes new ones."""
    merged: dict[tuple[tuple[str, str], ...], StepSeries] = {}
    for one in series:
        key = label_key(one.labels)
        existing = merged.get(key)
        if existing is None:
            merged[key] = one
            continue
        if np.any(existing.present & one.present):
            raise PromQLError(f"{what}: vector cannot contain metrics with the same labelset")
        merged[key] = StepSeries(
            existing.labels,
            np.where(one.present, one.values, existing.values),
            existing.present | one.present,
        )
    return list(merged.values())

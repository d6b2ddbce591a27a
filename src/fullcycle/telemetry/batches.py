"""Rows on their way into the store, built column by column by the decoders.

A decoder makes one batch per table it fills and calls `add(...)` once per record; the batch
becomes an Arrow table (`to_arrow`) that the write-ahead log stores and the store inserts.
Timestamps are integers: nanoseconds since the epoch for logs, spans and markers, milliseconds
for metric samples (Prometheus' resolution).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypedDict

import pyarrow as pa

from fullcycle.telemetry.tables import LOGS, MARKERS, SAMPLES, SPANS, Table

Attributes = Mapping[str, str]


class SpanEvent(TypedDict):
    timestamp: int
    name: str
    attributes: Attributes


class SpanLink(TypedDict):
    trace_id: str
    span_id: str
    attributes: Attributes


class Batch:
    """Columns of one table, appended to row by row."""

    table: Table

    def __init__(self) -> None:
        self.columns: dict[str, list[object]] = {name: [] for name in self.table.column_names}

    def __len__(self) -> int:
        return len(self.columns[self.table.columns[0].name])

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {
                column.name: _arrow_values(self.columns[column.name], column.arrow_type)
                for column in self.table.columns
            },
            schema=self.table.arrow_schema,
        )

    def column_appenders(self) -> tuple[Callable[[object], None], ...]:
        """Each column's `append`, in the table's column order, for decoders whose loop is hot
        enough that `add(...)` with keywords shows in profiles. The caller appends to every
        column once per row."""
        return tuple(self.columns[name].append for name in self.table.column_names)

    def _append(self, **values: object) -> None:
        for name, value in values.items():
            self.columns[name].append(value)


def _arrow_values(values: list[object], arrow_type: pa.DataType) -> list[object] | pa.Array:
    """A column as `pa.table` takes it. Maps that many rows share as one object (a resource's
    attributes on each of its log records, a series' labels on each of its samples) are
    converted once each and repeated by index: converting dicts is the slow part of `to_arrow`.
    """
    if not pa.types.is_map(arrow_type):
        return values
    first_row: dict[int, int] = {}
    indices = [first_row.setdefault(id(value), len(first_row)) for value in values]
    if 2 * len(first_row) > len(values):
        return values
    distinct = list({id(value): value for value in values}.values())
    return pa.array(distinct, arrow_type).take(pa.array(indices, pa.int32()))


class LogBatch(Batch):
    table = LOGS

    def add(
        self,
        *,
        timestamp_ns: int,
        body: str,
        service: str,
        observed_timestamp_ns: int = 0,
        environment: str = "",
        host: str = "",
        severity_text: str = "",
        severity_number: int = 0,
        trace_id: str = "",
        span_id: str = "",
        scope: str = "",
        resource_attributes: Attributes | None = None,
        attributes: Attributes | None = None,
    ) -> None:
        self._append(
            timestamp=timestamp_ns,
            observed_timestamp=observed_timestamp_ns or timestamp_ns,
            service=service,
            environment=environment,
            host=host,
            severity_text=severity_text,
            severity_number=severity_number,
            body=body,
            trace_id=trace_id,
            span_id=span_id,
            scope=scope,
            resource_attributes=resource_attributes or {},
            attributes=attributes or {},
        )


class SampleBatch(Batch):
    table = SAMPLES

    def add(
        self,
        *,
        metric: str,
        labels: Attributes,
        timestamp_ms: int,
        value: float,
        service: str = "",
        type: str = "",
        unit: str = "",
    ) -> None:
        self._append(
            metric=metric,
            type=type,
            unit=unit,
            service=service,
            labels=labels,
            timestamp=timestamp_ms,
            value=value,
        )

    def add_series(
        self,
        *,
        metric: str,
        labels: Attributes,
        timestamps_ms: list[int],
        values: list[float],
        service: str = "",
        type: str = "",
        unit: str = "",
    ) -> None:
        """Many samples of one series at once: each column grows by one list operation."""
        count = len(timestamps_ms)
        columns = self.columns
        columns["metric"] += [metric] * count
        columns["type"] += [type] * count
        columns["unit"] += [unit] * count
        columns["service"] += [service] * count
        columns["labels"] += [labels] * count
        columns["timestamp"] += timestamps_ms
        columns["value"] += values


class SpanBatch(Batch):
    table = SPANS

    def add(
        self,
        *,
        trace_id: str,
        span_id: str,
        name: str,
        service: str,
        start_ns: int,
        duration_ns: int,
        parent_span_id: str = "",
        kind: str = "",
        status_code: str = "",
        status_message: str = "",
        resource_attributes: Attributes | None = None,
        attributes: Attributes | None = None,
        events: list[SpanEvent] | None = None,
        links: list[SpanLink] | None = None,
    ) -> None:
        self._append(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent_span_id,
            name=name,
            kind=kind,
            service=service,
            start=start_ns,
            duration_ns=duration_ns,
            status_code=status_code,
            status_message=status_message,
            resource_attributes=resource_attributes or {},
            attributes=attributes or {},
            events=events or [],
            links=links or [],
        )


class MarkerBatch(Batch):
    table = MARKERS

    def add(
        self,
        *,
        timestamp_ns: int,
        kind: str,
        service: str,
        title: str,
        environment: str = "",
        reference: str = "",
        attributes: Attributes | None = None,
    ) -> None:
        self._append(
            timestamp=timestamp_ns,
            kind=kind,
            service=service,
            environment=environment,
            title=title,
            reference=reference,
            attributes=attributes or {},
        )


BATCH_TYPES: dict[str, type[Batch]] = {
    batch.table.name: batch for batch in (LogBatch, SampleBatch, SpanBatch, MarkerBatch)
}

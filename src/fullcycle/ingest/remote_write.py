"""Prometheus remote_write 1.0: a snappy-compressed protobuf `prometheus.WriteRequest` to samples.

Each series' `__name__` label is the metric and its other labels are the sample's labels; a label
with an empty value is dropped, since in Prometheus an empty label is no label. The service is the
`service`, `service_name` or `job` label, the first one present. Type and unit come from the
request's metadata (matched by metric family, so `x_bucket` finds histogram `x`); Prometheus sends
metadata in requests of their own, so most samples arrive with type "".

What is kept as it is, and what is not stored:

- Staleness markers, the NaN with bit pattern 0x7ff0000000000002 that Prometheus writes when a
  series disappears, are stored as that very NaN, so that queries can tell a series' end from a
  NaN the application reported (Go's NaN is 0x7ff8000000000001; a summary quantile with no
  observations has it).
- Native histograms are decoded but not stored: each one counts as rejected, with a message.
- Exemplars are decoded and dropped: there is no table for them.
- Series without a metric name, or with an empty or repeated label name, are rejected (Prometheus
  rejects them too) and counted, and the rest of the request is stored.
"""

from __future__ import annotations

from typing import Any

from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.otlp_common import UNKNOWN_SERVICE, Rejections
from fullcycle.ingest.prometheus_proto import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    METRIC_TYPES,
    WriteRequest,
    parse_snappy,
)
from fullcycle.telemetry.batches import SampleBatch

METRIC_NAME_LABEL = "__name__"
SERVICE_LABELS = ("service", "service_name", "job")
# Series of one metric family that carry a suffix: histogram and summary parts, counters.
FAMILY_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created", "_info")


def decode_remote_write(
    body: bytes, *, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
) -> Decoded:
    """Samples from a remote_write body, still snappy-compressed as the protocol sends it.

    DecodeError for a body that is not snappy or not a WriteRequest; BodyTooLarge when it
    unpacks to more than `max_decompressed_bytes`.
    """
    request = parse_snappy(WriteRequest, body, max_decompressed_bytes)
    families = _families(request.metadata)
    batch = SampleBatch()
    rejections = Rejections()
    for index, series in enumerate(request.timeseries):
        _add_series(batch, series, index, families, rejections)
    return Decoded(
        batches=[batch],
        accepted=len(batch),
        rejected=rejections.count,
        message=rejections.message,
    )


def _families(metadata: Any) -> dict[str, tuple[str, str]]:
    """Metric family name -> (type, unit) from the request's MetricMetadata."""
    families: dict[str, tuple[str, str]] = {}
    for entry in metadata:
        kind = METRIC_TYPES[entry.type] if 0 <= entry.type < len(METRIC_TYPES) else "UNKNOWN"
        families[entry.metric_family_name] = (kind.lower(), entry.unit)
    return families


def _family_of(metric: str, families: dict[str, tuple[str, str]]) -> tuple[str, str]:
    found = families.get(metric)
    if found is not None:
        return found
    for suffix in FAMILY_SUFFIXES:
        if metric.endswith(suffix):
            found = families.get(metric.removesuffix(suffix))
            if found is not None:
                return found
    return "", ""


def _add_series(
    batch: SampleBatch,
    series: Any,
    index: int,
    families: dict[str, tuple[str, str]],
    rejections: Rejections,
) -> None:
    labels = {label.name: label.value for label in series.labels}
    metric = labels.pop(METRIC_NAME_LABEL, "")
    problem = _label_problem(len(series.labels), labels, metric)
    if problem:
        for _ in range(len(series.samples) + len(series.histograms)):
            rejections.add(f"timeseries[{index}]: {problem}")
        return
    for _ in range(len(series.histograms)):
        rejections.add(f"timeseries[{index}] ({metric}): native histogram samples are not stored")
    if "" in labels.values():
        labels = {name: value for name, value in labels.items() if value}
    service = _service(labels)
    kind, unit = _family_of(metric, families) if families else ("", "")
    samples = series.samples
    batch.add_series(
        metric=metric,
        labels=labels,
        timestamps_ms=[sample.timestamp for sample in samples],
        values=[sample.value for sample in samples],
        service=service,
        type=kind,
        unit=unit,
    )


def _label_problem(label_count: int, labels: dict[str, str], metric: str) -> str:
    if not metric:
        return "the series has no metric name (label __name__)"
    if len(labels) + 1 != label_count:
        return f"the series {metric} repeats a label name"
    if "" in labels:
        return f"the series {metric} has a label with an empty name"
    return ""


def _service(labels: dict[str, str]) -> str:
    for name in SERVICE_LABELS:
        value = labels.get(name)
        if value:
            return value
    return UNKNOWN_SERVICE

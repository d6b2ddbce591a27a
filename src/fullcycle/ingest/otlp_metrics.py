"""OTLP metrics (`POST /v1/metrics`) into Prometheus-style samples.

The mapping follows the conventions of the OTel Prometheus exporter and Prometheus' own OTLP
receiver, so that names and labels read the same as when the service is scraped:

- metric names are sanitised to `[a-zA-Z_:][a-zA-Z0-9_:]*` (dots become underscores, a leading
  digit gets a `_` in front); label names to `[a-zA-Z_][a-zA-Z0-9_]*` (a leading digit gets
  `key_`), and the values of attributes whose names collide after that are joined with `;` in
  the order of the original names;
- a monotonic cumulative Sum is a counter named `..._total`; a Gauge and a non-monotonic
  cumulative Sum are gauges;
- a delta Sum keeps its increments as they are, with type `counter_delta`: nothing adds them up
  here, a query sums them over its range (a monotonic one is still named `..._total`);
- an explicit-bucket Histogram is `<name>_bucket{le="..."}` with cumulative counts (the last
  bucket is `le="+Inf"`), `<name>_sum` and `<name>_count`, type `histogram` (delta ones
  `histogram_delta`, with per-interval counts);
- a Summary is `<name>{quantile="..."}`, `<name>_sum` and `<name>_count`, type `summary`;
- the resource's `service.name` goes to the `service` column and, as Prometheus does, becomes the
  `job` label (`service.namespace/service.name` with a namespace) and `service.instance.id` the
  `instance` label; other resource attributes are not copied to every series.

A data point flagged NO_RECORDED_VALUE (a staleness marker) is skipped. A number data point
without a value and a metric without data are rejected (OTLP partial success). `accepted`
counts data points, not samples: a histogram point makes many samples.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Iterable
from decimal import Decimal

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    DataPointFlags,
    ExponentialHistogram,
    Gauge,
    Histogram,
    Metric,
    NumberDataPoint,
    Sum,
    Summary,
)

from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.otlp_common import (
    IdFields,
    Rejections,
    ResourceInfo,
    attribute_map,
    parse_request,
)
from fullcycle.telemetry.batches import SampleBatch

_EXEMPLAR_IDS = IdFields(children={"exemplars": IdFields(ids=("traceId", "spanId"))})
_DATA_POINTS = IdFields(children={"dataPoints": _EXEMPLAR_IDS})

METRIC_ID_FIELDS = IdFields(
    children={
        "resourceMetrics": IdFields(
            children={
                "scopeMetrics": IdFields(
                    children={
                        "metrics": IdFields(
                            children={
                                "gauge": _DATA_POINTS,
                                "sum": _DATA_POINTS,
                                "histogram": _DATA_POINTS,
                                "exponentialHistogram": _DATA_POINTS,
                            }
                        )
                    }
                )
            }
        )
    }
)

COUNTER = "counter"
COUNTER_DELTA = "counter_delta"
GAUGE = "gauge"
HISTOGRAM = "histogram"
HISTOGRAM_DELTA = "histogram_delta"
SUMMARY = "summary"

_NO_RECORDED_VALUE = DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
_NS_PER_MS = 1_000_000

_INVALID_METRIC_CHARACTERS = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL_CHARACTERS = re.compile(r"[^a-zA-Z0-9_]")


def decode_metrics(body: bytes, content_type: str, *, received_ns: int | None = None) -> Decoded:
    """An ExportMetricsServiceRequest (protobuf or OTLP JSON) as a SampleBatch.

    A data point without a time takes the receive time (`received_ns`, now by default).
    """
    request = parse_request(body, content_type, ExportMetricsServiceRequest, METRIC_ID_FIELDS)
    return metrics_from_request(request, time.time_ns() if received_ns is None else received_ns)


def metrics_from_request(request: ExportMetricsServiceRequest, received_ns: int) -> Decoded:
    samples = _Samples(SampleBatch(), received_ns // _NS_PER_MS)
    for resource_index, resource_metrics in enumerate(request.resource_metrics):
        samples.start_resource(ResourceInfo.of(resource_metrics.resource))
        for scope_index, scope_metrics in enumerate(resource_metrics.scope_metrics):
            for metric_index, metric in enumerate(scope_metrics.metrics):
                path = (
                    f"resourceMetrics[{resource_index}].scopeMetrics[{scope_index}]"
                    f".metrics[{metric_index}]"
                )
                samples.add_metric(metric, path)
    return Decoded(
        batches=[samples.batch],
        accepted=samples.accepted,
        rejected=samples.rejections.count,
        message=samples.rejections.message,
    )


def _resource_labels(resource: ResourceInfo) -> dict[str, str]:
    labels = {}
    if resource.job:
        labels["job"] = resource.job
    if resource.instance:
        labels["instance"] = resource.instance
    return labels


@functools.lru_cache(maxsize=4096)
def metric_name(name: str) -> str:
    """The Prometheus name of an OTel metric: `http.server.duration` -> `http_server_duration`."""
    sanitised = _INVALID_METRIC_CHARACTERS.sub("_", name)
    return f"_{sanitised}" if sanitised[:1].isdigit() else sanitised


@functools.lru_cache(maxsize=4096)
def label_name(name: str) -> str:
    """A Prometheus label name for an attribute key: `http.route` -> `http_route`."""
    sanitised = _INVALID_LABEL_CHARACTERS.sub("_", name)
    return f"key_{sanitised}" if sanitised[:1].isdigit() else sanitised


@functools.lru_cache(maxsize=1024)
def prometheus_float(value: float) -> str:
    """A bound or quantile as Prometheus writes it (Go's FormatFloat 'f', -1): 0.005, 1, +Inf."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class _Samples:
    """Adds the samples of one request's metrics to a batch, counting points and rejections."""

    def __init__(self, batch: SampleBatch, received_ms: int) -> None:
        self.batch = batch
        self.received_ms = received_ms
        self.accepted = 0
        self.rejections = Rejections()
        self.service = ""
        self.resource_labels: dict[str, str] = {}

    def start_resource(self, resource: ResourceInfo) -> None:
        """The metrics that follow come from `resource`."""
        self.service = resource.service
        self.resource_labels = _resource_labels(resource)

    def add_metric(self, metric: Metric, path: str) -> None:
        kind = metric.WhichOneof("data")
        if not metric.name:
            self.rejections.add(f"{path}.name: a metric needs a name")
        elif kind == "gauge":
            name = metric_name(metric.name)
            self._add_numbers(metric, metric.gauge, name, GAUGE, f"{path}.gauge")
        elif kind == "sum":
            self._add_sum(metric, metric.sum, f"{path}.sum")
        elif kind == "histogram":
            self._add_histogram(metric, metric.histogram, f"{path}.histogram")
        elif kind == "exponential_histogram":
            self._add_exponential_histogram(metric, metric.exponential_histogram)
        elif kind == "summary":
            self._add_summary(metric, metric.summary)
        else:
            self.rejections.add(f"{path}: metric {metric.name!r} has no data")

    def _add_sum(self, metric: Metric, data: Sum, path: str) -> None:
        name = metric_name(metric.name)
        if data.is_monotonic and not name.endswith("_total"):
            name = f"{name}_total"
        if data.aggregation_temporality == _DELTA:
            sample_type = COUNTER_DELTA
        else:
            sample_type = COUNTER if data.is_monotonic else GAUGE
        self._add_numbers(metric, data, name, sample_type, path)

    def _add_numbers(
        self, metric: Metric, data: Gauge | Sum, name: str, sample_type: str, path: str
    ) -> None:
        add = self.batch.add
        service = self.service
        unit = metric.unit
        for index, point in enumerate(data.data_points):
            if point.flags & _NO_RECORDED_VALUE:
                continue
            value = _number(point)
            if value is None:
                self.rejections.add(f"{path}.dataPoints[{index}]: the data point has no value")
                continue
            add(
                metric=name,
                labels=self._labels(point.attributes),
                timestamp_ms=self.timestamp_ms(point.time_unix_nano),
                value=value,
                service=service,
                type=sample_type,
                unit=unit,
            )
            self.accepted += 1

    def _add_histogram(self, metric: Metric, data: Histogram, path: str) -> None:
        name = metric_name(metric.name)
        sample_type = HISTOGRAM_DELTA if data.aggregation_temporality == _DELTA else HISTOGRAM
        for index, point in enumerate(data.data_points):
            if point.flags & _NO_RECORDED_VALUE:
                continue
            bounds = point.explicit_bounds
            counts = point.bucket_counts
            if counts and len(counts) != len(bounds) + 1:
                self.rejections.add(
                    f"{path}.dataPoints[{index}]: {len(counts)} bucket counts "
                    f"for {len(bounds)} explicit bounds (expected {len(bounds) + 1})"
                )
                continue
            labels = self._labels(point.attributes)
            series = _Series(self, metric, sample_type, point.time_unix_nano)
            cumulative = 0
            for bound, count in zip(bounds, counts, strict=False):
                cumulative += count
                series.add(f"{name}_bucket", {**labels, "le": prometheus_float(bound)}, cumulative)
            series.add(f"{name}_bucket", {**labels, "le": "+Inf"}, point.count)
            if point.HasField("sum"):
                series.add(f"{name}_sum", labels, point.sum)
            series.add(f"{name}_count", labels, point.count)
            self.accepted += 1

    def _add_exponential_histogram(self, metric: Metric, data: ExponentialHistogram) -> None:
        """Only `_sum` and `_count` of an exponential histogram: its buckets are not stored yet."""
        name = metric_name(metric.name)
        sample_type = HISTOGRAM_DELTA if data.aggregation_temporality == _DELTA else HISTOGRAM
        for point in data.data_points:
            if point.flags & _NO_RECORDED_VALUE:
                continue
            labels = self._labels(point.attributes)
            series = _Series(self, metric, sample_type, point.time_unix_nano)
            if point.HasField("sum"):
                series.add(f"{name}_sum", labels, point.sum)
            series.add(f"{name}_count", labels, point.count)
            self.accepted += 1

    def _add_summary(self, metric: Metric, data: Summary) -> None:
        name = metric_name(metric.name)
        for point in data.data_points:
            if point.flags & _NO_RECORDED_VALUE:
                continue
            labels = self._labels(point.attributes)
            series = _Series(self, metric, SUMMARY, point.time_unix_nano)
            for quantile in point.quantile_values:
                quantile_labels = {**labels, "quantile": prometheus_float(quantile.quantile)}
                series.add(name, quantile_labels, quantile.value)
            series.add(f"{name}_sum", labels, point.sum)
            series.add(f"{name}_count", labels, point.count)
            self.accepted += 1

    def _labels(self, attributes: Iterable[KeyValue]) -> dict[str, str]:
        """Point attributes as labels, then `job` and `instance` from the resource on top."""
        labels: dict[str, str] = {}
        for key, value in sorted(attribute_map(attributes).items()):
            name = label_name(key)
            labels[name] = f"{labels[name]};{value}" if name in labels else value
        labels.update(self.resource_labels)
        return labels

    def timestamp_ms(self, time_unix_nano: int) -> int:
        return time_unix_nano // _NS_PER_MS if time_unix_nano else self.received_ms


class _Series:
    """The samples of one histogram or summary data point: same time, type, unit and service."""

    def __init__(self, samples: _Samples, metric: Metric, sample_type: str, time_ns: int) -> None:
        self._add = samples.batch.add
        self._service = samples.service
        self._type = sample_type
        self._unit = metric.unit
        self._timestamp_ms = samples.timestamp_ms(time_ns)

    def add(self, name: str, labels: dict[str, str], value: float) -> None:
        self._add(
            metric=name,
            labels=labels,
            timestamp_ms=self._timestamp_ms,
            value=float(value),
            service=self._service,
            type=self._type,
            unit=self._unit,
        )


def _number(point: NumberDataPoint) -> float | None:
    kind = point.WhichOneof("value")
    if kind == "as_double":
        return point.as_double
    if kind == "as_int":
        return float(point.as_int)
    return None

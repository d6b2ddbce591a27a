"""OTLP metrics (`POST /v1/metrics`) into Prometheus-style samples.

Names and labels are those Prometheus' own OTLP receiver gives (its default translation,
"UnderscoreEscapingWithSuffixes", from github.com/prometheus/otlptranslator), so that a metric
reads the same as when Prometheus receives it:

- a metric name is split into words at every character outside `[a-zA-Z0-9:]` and the words are
  joined with `_` (`http.server.request.duration` -> `http_server_request_duration`); the unit
  is added as a word unless the name has it already (`s` -> `_seconds`, `ms` ->
  `_milliseconds`, `By` -> `_bytes`, `By/s` -> `_bytes_per_second`, `{request}` -> nothing);
  a monotonic Sum ends in `_total`, a Gauge of unit `1` in `_ratio`; a leading digit gets `_`;
- a label name has every run of characters outside `[a-zA-Z0-9]` replaced by one `_`, and
  `key_` in front of a leading digit; the values of attributes whose names collide after that
  are joined with `;` in the order of the original names;
- a monotonic cumulative Sum is type `counter`; a Gauge and a non-monotonic cumulative Sum are
  `gauge`;
- a delta Sum keeps its increments as they are, with type `counter_delta`: nothing adds them up
  here, a query sums them over its range (a monotonic one is still named `..._total`);
- an explicit-bucket Histogram is `<name>_bucket{le="..."}` with cumulative counts (the last
  bucket is `le="+Inf"`), `<name>_sum` and `<name>_count`, type `histogram` (delta ones
  `histogram_delta`, with per-interval counts);
- an ExponentialHistogram becomes the same classic form: each bucket's upper bound is its
  `le` (the zero bucket's is its threshold), counts made cumulative over negative, zero and
  positive buckets, empty buckets inside the populated range included; points finer than scale
  3 (bounds 2^(1/8) ≈ 9 % apart) are merged down to scale 3, so that the set of `le` labels
  stays small and stable while the SDK rescales;
- a Summary is `<name>{quantile="..."}`, `<name>_sum` and `<name>_count`, type `summary`;
- the resource's `service.name` goes to the `service` column and, as Prometheus does, becomes the
  `job` label (`service.namespace/service.name` with a namespace) and `service.instance.id` the
  `instance` label; other resource attributes are not copied to every series.

A data point flagged NO_RECORDED_VALUE (a staleness marker) is skipped. A number data point
without a value, a metric without data and one whose name has no usable character are rejected
(OTLP partial success). `accepted` counts data points, not samples: a histogram point makes many.
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
    ExponentialHistogramDataPoint,
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

_INVALID_METRIC_CHARACTERS = re.compile(r"[^a-zA-Z0-9:]")
_NON_METRIC_WORD = re.compile(r"[^a-zA-Z0-9:]+")
_NON_LABEL_RUN = re.compile(r"[^a-zA-Z0-9]+")
_UNDERSCORES = re.compile(r"__+")


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


# Prometheus' words for UCUM units (otlptranslator's unitMap and perUnitMap).
_UNIT_WORDS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
_PER_UNIT_WORDS = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}


@functools.lru_cache(maxsize=4096)
def metric_name(name: str, unit: str = "", kind: str = "") -> str:
    """The Prometheus name of an OTel metric ("" when nothing of it is usable).

    `kind` is COUNTER for a monotonic Sum (`_total`), GAUGE for a Gauge (`_ratio` with unit
    `1`) and "" for the rest: `metric_name("http.server.duration", "s", "")` is
    `http_server_duration_seconds`.
    """
    words = [word for word in _NON_METRIC_WORD.split(name) if word]
    words += _unit_words(unit, words)
    if kind == COUNTER:
        words = [*(word for word in words if word != "total"), "total"]
    if unit == "1" and kind == GAUGE:
        words = [*(word for word in words if word != "ratio"), "ratio"]
    joined = "_".join(words)
    return f"_{joined}" if joined[:1].isdigit() else joined


def _unit_words(unit: str, name_words: list[str]) -> list[str]:
    """What a unit adds to a name: `By/s` -> bytes, per_second; nothing the name has already.

    Annotations in braces (`{request}`) add nothing; unknown units are added as they are.
    """
    main, _, per = (part.strip() for part in unit.partition("/"))
    main_word = "" if not main or "{" in main or "}" in main else _UNIT_WORDS.get(main, main)
    per_word = "" if not per or "{" in per or "}" in per else _PER_UNIT_WORDS.get(per, per)
    main_word = _clean_unit_word(main_word)
    per_word = _clean_unit_word(f"per_{per_word}") if per_word else ""
    if main_word in name_words:
        main_word = ""
    per_word = per_word.removesuffix("_") if per_word != "per_" else ""
    if per_word in name_words:
        per_word = ""
    if per_word:
        main_word = main_word.removesuffix("_")
    return [word for word in (main_word, per_word) if word]


def _clean_unit_word(word: str) -> str:
    return _UNDERSCORES.sub("_", _INVALID_METRIC_CHARACTERS.sub("_", word)).removeprefix("_")


@functools.lru_cache(maxsize=4096)
def label_name(name: str) -> str:
    """A Prometheus label name for an attribute key: `http.route` -> `http_route` ("" if none).

    `__name__`-style reserved names keep their double underscores.
    """
    if len(name) >= 4 and name.startswith("__") and name.endswith("__"):
        sanitised = f"__{_NON_LABEL_RUN.sub('_', name[2:-2])}__"
    else:
        sanitised = _NON_LABEL_RUN.sub("_", name)
        if sanitised[:1].isdigit():
            sanitised = f"key_{sanitised}"
    return sanitised if sanitised.strip("_") else ""


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
            return
        if kind is None:
            self.rejections.add(f"{path}: metric {metric.name!r} has no data")
            return
        name = metric_name(metric.name, metric.unit, _naming_kind(metric))
        if not name:
            self.rejections.add(f"{path}.name: {metric.name!r} has no letter or digit")
        elif kind == "gauge":
            self._add_numbers(metric, metric.gauge, name, GAUGE, f"{path}.gauge")
        elif kind == "sum":
            self._add_numbers(metric, metric.sum, name, _sum_type(metric.sum), f"{path}.sum")
        elif kind == "histogram":
            self._add_histogram(metric, metric.histogram, name, f"{path}.histogram")
        elif kind == "exponential_histogram":
            self._add_exponential_histogram(metric, metric.exponential_histogram, name)
        else:
            self._add_summary(metric, metric.summary, name)

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

    def _add_histogram(self, metric: Metric, data: Histogram, name: str, path: str) -> None:
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

    def _add_exponential_histogram(
        self, metric: Metric, data: ExponentialHistogram, name: str
    ) -> None:
        """Exponential buckets as classic cumulative `_bucket{le}` series (at most scale
        EXPONENTIAL_SCALE), with `_sum` and `_count`: the form every query already reads."""
        sample_type = HISTOGRAM_DELTA if data.aggregation_temporality == _DELTA else HISTOGRAM
        for point in data.data_points:
            if point.flags & _NO_RECORDED_VALUE:
                continue
            labels = self._labels(point.attributes)
            series = _Series(self, metric, sample_type, point.time_unix_nano)
            for bound, cumulative in exponential_buckets(point):
                series.add(f"{name}_bucket", {**labels, "le": prometheus_float(bound)}, cumulative)
            series.add(f"{name}_bucket", {**labels, "le": "+Inf"}, point.count)
            if point.HasField("sum"):
                series.add(f"{name}_sum", labels, point.sum)
            series.add(f"{name}_count", labels, point.count)
            self.accepted += 1

    def _add_summary(self, metric: Metric, data: Summary, name: str) -> None:
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
            if name:
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


EXPONENTIAL_SCALE = 3


def exponential_buckets(point: ExponentialHistogramDataPoint) -> list[tuple[float, int]]:
    """(upper bound, cumulative count) of an exponential histogram point, in ascending bounds.

    At scale s a bucket of index i holds values in (base^i, base^(i+1)] with base = 2^(2^-s),
    negative buckets the mirror image; merging down to a coarser scale maps i to i >> (s - t).
    """
    scale = min(point.scale, EXPONENTIAL_SCALE)
    shift = point.scale - scale
    buckets_per_doubling = 2**scale
    negative = _merged_counts(point.negative.offset, point.negative.bucket_counts, shift)
    positive = _merged_counts(point.positive.offset, point.positive.bucket_counts, shift)
    bounds: list[tuple[float, int]] = [
        (-_power_of_two(index, buckets_per_doubling), count)
        for index, count in sorted(negative.items(), reverse=True)
    ]
    if point.zero_count or negative:
        bounds.append((point.zero_threshold, point.zero_count))
    bounds += [
        (_power_of_two(index + 1, buckets_per_doubling), count)
        for index, count in sorted(positive.items())
    ]
    cumulative = 0
    result: list[tuple[float, int]] = []
    for bound, count in bounds:
        cumulative += count
        result.append((bound, cumulative))
    return result


def _power_of_two(index: int, buckets_per_doubling: int) -> float:
    """base^index = 2^(index / 2^scale), exact at whole powers of two."""
    return float(2.0 ** (index / buckets_per_doubling))


def _merged_counts(offset: int, counts: Iterable[int], shift: int) -> dict[int, int]:
    """Bucket counts by index at the coarser scale, every index from the first to the last
    populated one present (empty buckets keep the set of bounds stable)."""
    merged: dict[int, int] = {}
    for position, count in enumerate(counts):
        index = (offset + position) >> shift
        merged[index] = merged.get(index, 0) + count
    populated = [index for index, count in merged.items() if count]
    if not populated:
        return {}
    return {index: merged.get(index, 0) for index in range(min(populated), max(populated) + 1)}


def _naming_kind(metric: Metric) -> str:
    """What the metric is for naming: COUNTER (gets `_total`), GAUGE (`_ratio`) or neither ("")."""
    kind = metric.WhichOneof("data")
    if kind == "sum":
        return COUNTER if metric.sum.is_monotonic else ""
    return GAUGE if kind == "gauge" else ""


def _sum_type(data: Sum) -> str:
    if data.aggregation_temporality == _DELTA:
        return COUNTER_DELTA
    return COUNTER if data.is_monotonic else GAUGE


def _number(point: NumberDataPoint) -> float | None:
    kind = point.WhichOneof("value")
    if kind == "as_double":
        return point.as_double
    if kind == "as_int":
        return float(point.as_int)
    return None

"""Protobuf messages of Prometheus remote_write 1.0 and the Loki push API, without generated code.

The messages are described here as `FileDescriptorProto`s and their classes made at import time
by `message_factory.GetMessageClass`, so no `protoc` step and no vendored `_pb2` files. Field
numbers follow prometheus/prompb `types.proto` and `remote.proto` (WriteRequest field 2 is
reserved: metadata is field 3) and grafana/loki `pkg/push/push.proto`. The descriptors live in a
private pool so that they cannot clash with anything registered in the default pool.

The classes are typed `Any`: their fields exist only at run time, which mypy cannot see.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.descriptor_pb2 import (
    DescriptorProto,
    EnumDescriptorProto,
    EnumValueDescriptorProto,
    FileDescriptorProto,
)
from google.protobuf.descriptor_pb2 import FieldDescriptorProto as FieldProto
from google.protobuf.message import DecodeError as ProtobufDecodeError

from fullcycle.ingest.compression import decompress
from fullcycle.ingest.errors import DecodeError

DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
"""The decompressed-size limit when the caller gives none (the server passes its setting)."""

DOUBLE = FieldProto.TYPE_DOUBLE
INT32 = FieldProto.TYPE_INT32
INT64 = FieldProto.TYPE_INT64
UINT32 = FieldProto.TYPE_UINT32
UINT64 = FieldProto.TYPE_UINT64
SINT32 = FieldProto.TYPE_SINT32
SINT64 = FieldProto.TYPE_SINT64
ENUM = FieldProto.TYPE_ENUM
MESSAGE = FieldProto.TYPE_MESSAGE


def _field(
    name: str, number: int, kind: int, type_name: str = "", *, repeated: bool = False
) -> FieldProto:
    label = FieldProto.LABEL_REPEATED if repeated else FieldProto.LABEL_OPTIONAL
    field = FieldProto(name=name, number=number, type=kind, label=label)
    if type_name:
        field.type_name = type_name
    return field


def _string(name: str, number: int) -> FieldProto:
    return _field(name, number, FieldProto.TYPE_STRING)


def _messages(name: str, number: int, type_name: str) -> FieldProto:
    return _field(name, number, MESSAGE, type_name, repeated=True)


def _message(name: str, *fields: FieldProto) -> DescriptorProto:
    return DescriptorProto(name=name, field=list(fields))


def _enum(name: str, *values: str) -> EnumDescriptorProto:
    return EnumDescriptorProto(
        name=name,
        value=[
            EnumValueDescriptorProto(name=value, number=number)
            for number, value in enumerate(values)
        ],
    )


METRIC_TYPES = (
    "UNKNOWN",
    "COUNTER",
    "GAUGE",
    "HISTOGRAM",
    "GAUGEHISTOGRAM",
    "SUMMARY",
    "INFO",
    "STATESET",
)
"""`MetricMetadata.MetricType`, in enum-number order."""


def _prometheus_file() -> FileDescriptorProto:
    label = ".prometheus.Label"
    metric_metadata = _message(
        "MetricMetadata",
        _field("type", 1, ENUM, ".prometheus.MetricMetadata.MetricType"),
        _string("metric_family_name", 2),
        _string("help", 4),
        _string("unit", 5),
    )
    metric_metadata.enum_type.append(_enum("MetricType", *METRIC_TYPES))
    histogram = _message(
        "Histogram",
        _field("count_int", 1, UINT64),
        _field("count_float", 2, DOUBLE),
        _field("sum", 3, DOUBLE),
        _field("schema", 4, SINT32),
        _field("zero_threshold", 5, DOUBLE),
        _field("zero_count_int", 6, UINT64),
        _field("zero_count_float", 7, DOUBLE),
        _messages("negative_spans", 8, ".prometheus.BucketSpan"),
        _field("negative_deltas", 9, SINT64, repeated=True),
        _field("negative_counts", 10, DOUBLE, repeated=True),
        _messages("positive_spans", 11, ".prometheus.BucketSpan"),
        _field("positive_deltas", 12, SINT64, repeated=True),
        _field("positive_counts", 13, DOUBLE, repeated=True),
        _field("reset_hint", 14, INT32),
        _field("timestamp", 15, INT64),
    )
    return FileDescriptorProto(
        name="fullcycle/prometheus/remote.proto",
        package="prometheus",
        syntax="proto3",
        message_type=[
            _message(
                "WriteRequest",
                _messages("timeseries", 1, ".prometheus.TimeSeries"),
                _messages("metadata", 3, ".prometheus.MetricMetadata"),
            ),
            _message(
                "TimeSeries",
                _messages("labels", 1, label),
                _messages("samples", 2, ".prometheus.Sample"),
                _messages("exemplars", 3, ".prometheus.Exemplar"),
                _messages("histograms", 4, ".prometheus.Histogram"),
            ),
            _message("Label", _string("name", 1), _string("value", 2)),
            _message("Sample", _field("value", 1, DOUBLE), _field("timestamp", 2, INT64)),
            _message(
                "Exemplar",
                _messages("labels", 1, label),
                _field("value", 2, DOUBLE),
                _field("timestamp", 3, INT64),
            ),
            _message("BucketSpan", _field("offset", 1, SINT32), _field("length", 2, UINT32)),
            histogram,
            metric_metadata,
        ],
    )


def _loki_file() -> FileDescriptorProto:
    return FileDescriptorProto(
        name="fullcycle/loki/push.proto",
        package="logproto",
        syntax="proto3",
        dependency=[timestamp_pb2.DESCRIPTOR.name],
        message_type=[
            _message("PushRequest", _messages("streams", 1, ".logproto.StreamAdapter")),
            _message(
                "StreamAdapter",
                _string("labels", 1),
                _messages("entries", 2, ".logproto.EntryAdapter"),
                _field("hash", 3, UINT64),
            ),
            _message("LabelPairAdapter", _string("name", 1), _string("value", 2)),
            _message(
                "EntryAdapter",
                _field("timestamp", 1, MESSAGE, ".google.protobuf.Timestamp"),
                _string("line", 2),
                _messages("structuredMetadata", 3, ".logproto.LabelPairAdapter"),
            ),
        ],
    )


def _build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(_prometheus_file())
    pool.Add(_loki_file())
    return pool


_POOL = _build_pool()


def _message_class(full_name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))


WriteRequest: Any = _message_class("prometheus.WriteRequest")
PushRequest: Any = _message_class("logproto.PushRequest")


def parse_snappy(message_class: Any, body: bytes, max_decompressed_bytes: int) -> Any:
    """A snappy-compressed (raw block format) `message_class`, as remote_write and Loki send it.

    Raises BodyTooLarge when it unpacks to more than `max_decompressed_bytes`.
    """
    return parse(message_class, decompress(body, "snappy", max_decompressed_bytes))


def parse(message_class: Any, data: bytes) -> Any:
    """Parse `data` as a `message_class`, with a DecodeError naming the message if it is not one.

    Strings that are not valid UTF-8 are malformed protobuf for proto3, and protobuf says so.
    """
    message = message_class()
    try:
        message.ParseFromString(data)
    except (ProtobufDecodeError, RuntimeError, ValueError) as error:
        name = message_class.DESCRIPTOR.full_name
        raise DecodeError(f"not a valid {name} protobuf message ({error})") from error
    return message

"""OTLP/HTTP decoding: requests the real OTel Python SDK sent, and requests built here with the
OTLP protobuf classes, decode into the right rows; bad requests raise DecodeError saying where.

tests/fixtures/otlp/ holds copies of the otlp_* captures in ../shared/fixtures/real-clients/
(OpenTelemetry Python SDK 1.45.2; protobuf from opentelemetry-exporter-otlp-proto-http, JSON from
opentelemetry-exporter-otlp-json-http 0.66b1), so that these tests run without the shared folder;
a test checks that the copies are still the shared files where that folder is present.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    DataPointFlags,
    Metric,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.errors import DecodeError, UnsupportedContentType
from fullcycle.ingest.otlp import (
    decode_logs,
    decode_metrics,
    decode_traces,
    encode_export_response,
)
from fullcycle.ingest.otlp_metrics import label_name, metric_name, prometheus_float
from fullcycle.telemetry.batches import Batch

FIXTURES = Path(__file__).parent / "fixtures" / "otlp"
SHARED_FIXTURES = Path(__file__).parents[2] / "shared" / "fixtures" / "real-clients"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
RECEIVED_NS = 1_800_000_000_123_456_789
TIME_NS = 1_700_000_000_250_000_000
TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN_ID = bytes.fromhex("b7ad6b7169203331")

CAPTURED_RESOURCE = {
    "telemetry.sdk.language": "python",
    "telemetry.sdk.name": "opentelemetry",
    "telemetry.sdk.version": "1.45.2",
    "service.name": "peer-demo",
    "deployment.environment": "test",
}
# The two captures come from two runs of the same program: these differ between them.
BIN_RUN = {
    "instance": "63302c79-96b5-4348-964b-b261b566b4e8",
    "trace_id": "917402610914a29905979e73fab3154e",
    "span_id": "f39aa1820feb7aec",
}
JSON_RUN = {
    "instance": "26b8368a-2e8b-4131-b07c-6500ad8b0217",
    "trace_id": "c5b01d762ed01b7046438454d01f88aa",
    "span_id": "6cd63721e3bf0688",
}


def captured(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def rows(batch: Batch) -> list[dict[str, Any]]:
    """The batch's rows as dicts."""
    names = list(batch.columns)
    return [
        dict(zip(names, values, strict=True))
        for values in zip(*(batch.columns[name] for name in names), strict=True)
    ]


def only_rows(decoded: Decoded) -> list[dict[str, Any]]:
    [batch] = decoded.batches
    assert decoded.accepted == len(batch) or batch.table.name == "samples"
    return rows(batch)


def otlp_json(request: Message) -> bytes:
    """OTLP JSON of a request, written independently of the decoder: hex ids, camelCase."""
    document = json_format.MessageToDict(request)
    _ids_to_hex(document)
    return json.dumps(document).encode()


def _ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_hex(item)


def protobuf_of_json(body: bytes, request_class: type[Message]) -> bytes:
    """The protobuf form of an OTLP JSON request, converted independently of the decoder."""
    document = json.loads(body)
    _ids_to_base64(document)
    return json_format.ParseDict(document, request_class()).SerializeToString()


def _ids_to_base64(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                _ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_base64(item)


def key_values(**attributes: Any) -> list[KeyValue]:
    return [
        KeyValue(key=key.replace("__", "."), value=any_value(v)) for key, v in attributes.items()
    ]


def any_value(value: Any) -> AnyValue:
    if isinstance(value, AnyValue):
        return value
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    return AnyValue(string_value=value)


def logs_request(*records: LogRecord, resource: list[KeyValue] | None = None) -> bytes:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(
        key_values(service__name="checkout") if resource is None else resource
    )
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "shop.checkout"
    scope_logs.log_records.extend(records)
    return request.SerializeToString()


def one_log(record: LogRecord, **resource: Any) -> dict[str, Any]:
    body = logs_request(record, resource=key_values(**resource) if resource else None)
    [row] = only_rows(decode_logs(body, PROTOBUF, received_ns=RECEIVED_NS))
    return row


def metrics_request(*metrics: Metric, resource: list[KeyValue] | None = None) -> bytes:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(
        key_values(service__name="checkout", service__instance__id="pod-7")
        if resource is None
        else resource
    )
    resource_metrics.scope_metrics.add().metrics.extend(metrics)
    return request.SerializeToString()


def samples(*metrics: Metric, resource: list[KeyValue] | None = None) -> list[dict[str, Any]]:
    decoded = decode_metrics(
        metrics_request(*metrics, resource=resource), PROTOBUF, received_ns=RECEIVED_NS
    )
    assert decoded.rejected == 0, decoded.message
    return only_rows(decoded)


def by_series(rows_: list[dict[str, Any]]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(row["metric"], tuple(sorted(row["labels"].items()))): row["value"] for row in rows_}


def traces_request(*spans: Span, resource: list[KeyValue] | None = None) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        key_values(service__name="checkout") if resource is None else resource
    )
    resource_spans.scope_spans.add().spans.extend(spans)
    return request.SerializeToString()


def span(**fields: Any) -> Span:
    defaults: dict[str, Any] = {
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "name": "GET /cart",
        "start_time_unix_nano": TIME_NS,
        "end_time_unix_nano": TIME_NS + 1500,
    }
    return Span(**{**defaults, **fields})


# --- the captured requests --------------------------------------------------------------------


@pytest.mark.skipif(not SHARED_FIXTURES.is_dir(), reason="the shared fixtures are not here")
@pytest.mark.parametrize(
    "name",
    [f"otlp_{signal}.{ext}" for signal in ("logs", "metrics", "traces") for ext in ("bin", "json")],
)
def test_the_copied_captures_are_the_shared_ones(name: str) -> None:
    assert captured(name) == (SHARED_FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "content_type", "run", "time_ns", "observed_ns"),
    [
        ("otlp_logs.bin", PROTOBUF, BIN_RUN, 1795700482000291072, 1795700482000383666),
        ("otlp_logs.json", JSON, JSON_RUN, 1795700482340659712, 1795700482340715704),
    ],
)
def test_captured_log_record_lands_in_every_column(
    name: str, content_type: str, run: dict[str, str], time_ns: int, observed_ns: int
) -> None:
    decoded = decode_logs(captured(name), content_type, received_ns=RECEIVED_NS)

    assert (decoded.accepted, decoded.rejected, decoded.message) == (1, 0, "")
    assert only_rows(decoded) == [
        {
            "timestamp": time_ns,
            "observed_timestamp": observed_ns,
            "service": "peer-demo",
            "environment": "test",
            "host": run["instance"],
            "severity_text": "WARN",
            "severity_number": 13,
            "body": "payment slow",
            "trace_id": run["trace_id"],
            "span_id": run["span_id"],
            "scope": "peer.demo",
            "resource_attributes": {**CAPTURED_RESOURCE, "service.instance.id": run["instance"]},
            "attributes": {
                "order_id": "A-17",
                "code.file.path": "/tmp/peers/otel_emit.py",
                "code.function.name": "<module>",
                "code.line.number": "54",
            },
        }
    ]


@pytest.mark.parametrize(
    ("name", "content_type", "run", "timestamp_ms"),
    [
        ("otlp_metrics.bin", PROTOBUF, BIN_RUN, 1795700482020),
        ("otlp_metrics.json", JSON, JSON_RUN, 1795700482346),
    ],
)
def test_captured_counter_and_histogram_become_prometheus_samples(
    name: str, content_type: str, run: dict[str, str], timestamp_ms: int
) -> None:
    decoded = decode_metrics(captured(name), content_type, received_ns=RECEIVED_NS)

    assert (decoded.accepted, decoded.rejected, decoded.message) == (2, 0, "")
    series = {"route": "/checkout", "job": "peer-demo", "instance": run["instance"]}
    histogram = "http_duration_milliseconds"
    bounds = ["0", "5", "10", "25", "50", "75", "100", "250", "500", "750", "1000", "2500"]
    bounds += ["5000", "7500", "10000", "+Inf"]
    cumulative = [0, 0, 0, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3]

    def sample(metric: str, type_: str, unit: str, value: float, **extra: str) -> dict[str, Any]:
        return {
            "metric": metric,
            "type": type_,
            "unit": unit,
            "service": "peer-demo",
            "labels": {**series, **extra},
            "timestamp": timestamp_ms,
            "value": value,
        }

    assert only_rows(decoded) == [
        sample("http_requests_total", "counter", "1", 3.0),
        *(
            sample(f"{histogram}_bucket", "histogram", "ms", float(count), le=bound)
            for bound, count in zip(bounds, cumulative, strict=True)
        ),
        sample(f"{histogram}_sum", "histogram", "ms", 302.5),
        sample(f"{histogram}_count", "histogram", "ms", 3.0),
    ]


@pytest.mark.parametrize(
    ("name", "content_type", "run", "start_ns", "duration_ns"),
    [
        ("otlp_traces.bin", PROTOBUF, BIN_RUN, 1795700481999900125, 618091),
        ("otlp_traces.json", JSON, JSON_RUN, 1795700482340339504, 449780),
    ],
)
def test_captured_span_lands_in_every_column(
    name: str, content_type: str, run: dict[str, str], start_ns: int, duration_ns: int
) -> None:
    decoded = decode_traces(captured(name), content_type)

    assert (decoded.accepted, decoded.rejected, decoded.message) == (1, 0, "")
    assert only_rows(decoded) == [
        {
            "trace_id": run["trace_id"],
            "span_id": run["span_id"],
            "parent_span_id": "",
            "name": "GET /checkout",
            "kind": "internal",
            "service": "peer-demo",
            "start": start_ns,
            "duration_ns": duration_ns,
            "status_code": "unset",
            "status_message": "",
            "resource_attributes": {**CAPTURED_RESOURCE, "service.instance.id": run["instance"]},
            "attributes": {"http.method": "GET"},
            "events": [],
            "links": [],
        }
    ]


SIGNALS = {
    "logs": (decode_logs, ExportLogsServiceRequest),
    "metrics": (decode_metrics, ExportMetricsServiceRequest),
    "traces": (decode_traces, ExportTraceServiceRequest),
}


def decode(signal: str, body: bytes, content_type: str) -> list[dict[str, Any]]:
    decoder, _ = SIGNALS[signal]
    if signal == "traces":
        return only_rows(decode_traces(body, content_type))
    return only_rows(decoder(body, content_type, received_ns=RECEIVED_NS))


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_each_capture_decodes_to_the_same_rows_in_the_other_encoding(signal: str) -> None:
    _, request_class = SIGNALS[signal]
    protobuf_capture = captured(f"otlp_{signal}.bin")
    json_capture = captured(f"otlp_{signal}.json")
    protobuf_request = request_class.FromString(protobuf_capture)

    assert decode(signal, otlp_json(protobuf_request), JSON) == decode(
        signal, protobuf_capture, PROTOBUF
    )
    assert decode(signal, protobuf_of_json(json_capture, request_class), PROTOBUF) == decode(
        signal, json_capture, JSON
    )


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_both_captures_give_the_same_rows_but_for_what_differs_between_runs(signal: str) -> None:
    def comparable(rows_: list[dict[str, Any]], run: dict[str, str]) -> str:
        text = json.dumps(rows_)
        for field in ("instance", "trace_id", "span_id"):
            text = text.replace(run[field], field)
        return text

    def without_times(rows_: list[dict[str, Any]]) -> list[dict[str, Any]]:
        times = ("timestamp", "observed_timestamp", "start", "duration_ns")
        return [{k: v for k, v in row.items() if k not in times} for row in rows_]

    from_protobuf = without_times(decode(signal, captured(f"otlp_{signal}.bin"), PROTOBUF))
    from_json = without_times(decode(signal, captured(f"otlp_{signal}.json"), JSON))

    assert comparable(from_protobuf, BIN_RUN) == comparable(from_json, JSON_RUN)


# --- logs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text"),
    [
        *[(0, ""), (1, "TRACE"), (4, "TRACE"), (5, "DEBUG"), (8, "DEBUG"), (9, "INFO")],
        *[(12, "INFO"), (13, "WARN"), (16, "WARN"), (17, "ERROR"), (20, "ERROR"), (21, "FATAL")],
        (24, "FATAL"),
    ],
)
def test_severity_text_comes_from_the_number_when_absent(number: int, text: str) -> None:
    row = one_log(LogRecord(time_unix_nano=TIME_NS, severity_number=number))

    assert (row["severity_text"], row["severity_number"]) == (text, number)


def test_severity_text_sent_is_kept_as_is() -> None:
    row = one_log(LogRecord(severity_number=17, severity_text="Err"))

    assert (row["severity_text"], row["severity_number"]) == ("Err", 17)


def test_log_time_falls_back_to_observed_time_then_receive_time() -> None:
    observed_only = one_log(LogRecord(observed_time_unix_nano=TIME_NS))
    neither = one_log(LogRecord())
    time_only = one_log(LogRecord(time_unix_nano=TIME_NS))

    assert (observed_only["timestamp"], observed_only["observed_timestamp"]) == (TIME_NS, TIME_NS)
    assert (neither["timestamp"], neither["observed_timestamp"]) == (RECEIVED_NS, RECEIVED_NS)
    assert (time_only["timestamp"], time_only["observed_timestamp"]) == (TIME_NS, RECEIVED_NS)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (AnyValue(string_value="plain text"), "plain text"),
        (AnyValue(), ""),
        (AnyValue(int_value=-42), "-42"),
        (AnyValue(double_value=0.1), "0.1"),
        (AnyValue(double_value=1e300), "1e+300"),
        (AnyValue(bool_value=True), "true"),
        (AnyValue(bytes_value=b"\x00\xffhi"), "AP9oaQ=="),
        (
            AnyValue(
                kvlist_value={
                    "values": key_values(
                        user="ann", n=3, ok=False, tags=AnyValue(array_value={"values": []})
                    )
                }
            ),
            '{"user":"ann","n":3,"ok":false,"tags":[]}',
        ),
        (
            AnyValue(
                array_value={
                    "values": [any_value("é"), any_value(1.5), any_value(b"\x01"), AnyValue()]
                }
            ),
            '["é",1.5,"AQ==",null]',
        ),
    ],
)
def test_log_bodies_of_every_kind_become_text(body: AnyValue, text: str) -> None:
    assert one_log(LogRecord(body=body))["body"] == text


def test_attributes_become_strings_with_nested_maps_flattened() -> None:
    nested = AnyValue(
        kvlist_value={
            "values": key_values(a=1, b=AnyValue(kvlist_value={"values": key_values(c="d")}))
        }
    )
    array = AnyValue(array_value={"values": [any_value("x"), any_value(2), any_value(True)]})
    record = LogRecord(
        attributes=key_values(
            s="text", i=7, f=2.5, t=True, by=b"hi", empty=AnyValue(), nested=nested, list=array
        )
    )

    assert one_log(record)["attributes"] == {
        "s": "text",
        "i": "7",
        "f": "2.5",
        "t": "true",
        "by": "aGk=",
        "empty": "",
        "nested.a": "1",
        "nested.b.c": "d",
        "list": '["x",2,true]',
    }


def test_all_zero_and_absent_ids_are_empty_strings() -> None:
    zero = one_log(LogRecord(trace_id=bytes(16), span_id=bytes(8)))
    absent = one_log(LogRecord())
    present = one_log(LogRecord(trace_id=TRACE_ID, span_id=SPAN_ID))

    assert (zero["trace_id"], zero["span_id"]) == ("", "")
    assert (absent["trace_id"], absent["span_id"]) == ("", "")
    assert (present["trace_id"], present["span_id"]) == (TRACE_ID.hex(), SPAN_ID.hex())


def test_resource_gives_service_environment_and_host() -> None:
    row = one_log(
        LogRecord(),
        service__name="billing",
        deployment__environment__name="prod",
        deployment__environment="old-name",
        host__name="web-3",
        service__instance__id="pod-1",
    )

    assert (row["service"], row["environment"], row["host"]) == ("billing", "prod", "web-3")


def test_resource_without_service_name_is_unknown_service() -> None:
    row = one_log(LogRecord(), host__name="web-3")

    assert (row["service"], row["environment"], row["host"]) == ("unknown_service", "", "web-3")


def test_records_of_several_resources_and_scopes_keep_their_own_resource() -> None:
    request = ExportLogsServiceRequest()
    for service in ("a", "b"):
        resource_logs = request.resource_logs.add()
        resource_logs.resource.attributes.extend(key_values(service__name=service))
        for scope in ("s1", "s2"):
            scope_logs = resource_logs.scope_logs.add()
            scope_logs.scope.name = scope
            scope_logs.log_records.add(body=any_value(f"{service}/{scope}"))

    decoded = decode_logs(request.SerializeToString(), PROTOBUF)

    assert decoded.accepted == 4
    assert [(r["service"], r["scope"], r["body"]) for r in only_rows(decoded)] == [
        ("a", "s1", "a/s1"),
        ("a", "s2", "a/s2"),
        ("b", "s1", "b/s1"),
        ("b", "s2", "b/s2"),
    ]


def test_otlp_json_accepts_snake_case_names_enum_names_and_numbers_for_64_bit_integers() -> None:
    document = {
        "resource_logs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"string_value": "x"}}]
                },
                "scope_logs": [
                    {
                        "log_records": [
                            {
                                "time_unix_nano": TIME_NS,
                                "severity_number": "SEVERITY_NUMBER_ERROR",
                                "trace_id": TRACE_ID.hex().upper(),
                                "span_id": SPAN_ID.hex(),
                                "body": {"int_value": 5},
                                "unknownField": {"is": "ignored"},
                            }
                        ]
                    }
                ],
            }
        ]
    }

    [row] = only_rows(decode_logs(json.dumps(document).encode(), JSON))

    assert (row["service"], row["timestamp"], row["severity_number"]) == ("x", TIME_NS, 17)
    assert (row["severity_text"], row["body"]) == ("ERROR", "5")
    assert (row["trace_id"], row["span_id"]) == (TRACE_ID.hex(), SPAN_ID.hex())


@pytest.mark.parametrize(
    "content_type",
    ["application/x-protobuf", "application/protobuf", "Application/X-Protobuf; charset=binary"],
)
def test_protobuf_content_types(content_type: str) -> None:
    assert decode_logs(logs_request(LogRecord()), content_type).accepted == 1


def test_json_content_type_with_charset() -> None:
    body = b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{}]}]}]}'

    assert decode_logs(body, "application/json; charset=utf-8").accepted == 1


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/x-ndjson"])
def test_unknown_content_type_is_named_in_the_error(content_type: str) -> None:
    with pytest.raises(UnsupportedContentType, match=f"unsupported content type '{content_type}'"):
        decode_logs(b"{}", content_type)


def test_empty_requests_have_no_rows() -> None:
    assert decode_logs(b"", PROTOBUF).accepted == 0
    assert decode_traces(b"{}", JSON).accepted == 0
    assert decode_metrics(b"", PROTOBUF).accepted == 0


# --- bad requests -----------------------------------------------------------------------------

LOG_RECORD_1 = re.escape("resourceLogs[0].scopeLogs[0].logRecords[1]")


def json_logs(*records: dict[str, Any]) -> bytes:
    return json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": list(records)}]}]}).encode()


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"timeUnixNano": "abc"}, rf"{LOG_RECORD_1}\.timeUnixNano: .*'abc'"),
        ({"timeUnixNano": "18446744073709551615"}, rf"{LOG_RECORD_1}\.timeUnixNano: .*2262"),
        ({"timeUnixNano": -1}, rf"{LOG_RECORD_1}\.timeUnixNano: "),
        ({"severityNumber": 99}, rf"{LOG_RECORD_1}\.severityNumber: expected 0 to 24, got 99"),
        ({"traceId": "not-hex"}, rf"{LOG_RECORD_1}\.traceId: expected a hex id, got 'not-hex'"),
        ({"traceId": "abcd"}, rf"{LOG_RECORD_1}\.traceId: expected a 16-byte id .* got 2 bytes"),
        ({"spanId": "00" * 9}, rf"{LOG_RECORD_1}\.spanId: expected a 8-byte id .* got 9 bytes"),
        ({"body": {"intValue": "x"}}, rf"{LOG_RECORD_1}\.body\.intValue: "),
        ({"attributes": {"a": "b"}}, rf"{LOG_RECORD_1}\.attributes: .*repeated field"),
        ({"attributes": [5]}, rf"{LOG_RECORD_1}\.attributes\[0\]: expected an object"),
        (
            {"attributes": [{"key": "k", "value": {"boolValue": "yes"}}]},
            rf"{LOG_RECORD_1}\.attributes\[0\]\.value\.boolValue: ",
        ),
    ],
)
def test_bad_json_log_record_is_named_with_its_field(record: dict[str, Any], message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_logs(json_logs({}, record), JSON)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (LogRecord(time_unix_nano=2**63), rf"{LOG_RECORD_1}\.timeUnixNano: "),
        (LogRecord(observed_time_unix_nano=2**64 - 1), rf"{LOG_RECORD_1}\.observedTimeUnixNano: "),
        (LogRecord(severity_number=25), rf"{LOG_RECORD_1}\.severityNumber: "),
        (LogRecord(severity_number=-3), rf"{LOG_RECORD_1}\.severityNumber: "),
        (LogRecord(trace_id=b"\x01" * 15), rf"{LOG_RECORD_1}\.traceId: .*got 15 bytes"),
        (LogRecord(span_id=b"\x01" * 16), rf"{LOG_RECORD_1}\.spanId: .*got 16 bytes"),
    ],
)
def test_bad_protobuf_log_record_is_named_with_its_field(record: LogRecord, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_logs(logs_request(LogRecord(), record), PROTOBUF)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", r"^line 1: not valid JSON \(Expecting property name .* at column 2\)"),
        (b'{"a": 1}\n{', r"^line 2: not valid JSON \(Extra data at column 1\)"),
        (b"[1, 2]", r"expected a JSON object \(ExportLogsServiceRequest\), got list"),
        (b'{"resourceLogs": "x"}', r"^resourceLogs: repeated field"),
        (b'{"resourceLogs": [{"scopeLogs": [7]}]}', r"^resourceLogs\[0\]\.scopeLogs\[0\]: "),
        (b"\xff\xfe{}", r"not UTF-8 text \(byte 0\)"),
        (b'{"resourceLogs": [{"resource": {"attributes": [{"key": "\\ud800"}]}}]}', "surrogate"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_json_is_a_decode_error(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_logs(body, JSON)


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_malformed_protobuf_is_a_decode_error_naming_the_message(signal: str) -> None:
    decoder, request_class = SIGNALS[signal]
    truncated = captured(f"otlp_{signal}.bin")[:-3]

    with pytest.raises(DecodeError, match=f"not a valid protobuf {request_class.__name__}"):
        decoder(truncated, PROTOBUF)


def test_invalid_utf8_in_a_protobuf_string_is_a_decode_error() -> None:
    body = logs_request(LogRecord(severity_text="WARN"))
    broken = body.replace(b"WARN", b"W\xffRN")

    with pytest.raises(DecodeError, match="not a valid protobuf ExportLogsServiceRequest"):
        decode_logs(broken, PROTOBUF)


# --- metrics ----------------------------------------------------------------------------------

CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
NO_RECORDED_VALUE = DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
SERIES = (("instance", "pod-7"), ("job", "checkout"), ("route", "/cart"))


def point(**fields: Any) -> dict[str, Any]:
    return {"time_unix_nano": TIME_NS, "attributes": key_values(route="/cart"), **fields}


def test_monotonic_cumulative_sum_is_a_counter_with_total_suffix() -> None:
    metric = Metric(
        name="http.server.requests",
        unit="{request}",
        sum={
            "is_monotonic": True,
            "aggregation_temporality": CUMULATIVE,
            "data_points": [point(as_int=12)],
        },
    )

    assert samples(metric) == [
        {
            "metric": "http_server_requests_total",
            "type": "counter",
            "unit": "{request}",
            "service": "checkout",
            "labels": dict(SERIES),
            "timestamp": TIME_NS // 1_000_000,
            "value": 12.0,
        }
    ]


def test_total_suffix_is_not_doubled() -> None:
    metric = Metric(
        name="jobs_total",
        sum={
            "is_monotonic": True,
            "aggregation_temporality": CUMULATIVE,
            "data_points": [point(as_int=1)],
        },
    )

    assert [row["metric"] for row in samples(metric)] == ["jobs_total"]


def test_non_monotonic_sum_and_gauge_are_gauges() -> None:
    up_down = Metric(
        name="queue.size",
        sum={
            "is_monotonic": False,
            "aggregation_temporality": CUMULATIVE,
            "data_points": [point(as_int=-3)],
        },
    )
    gauge = Metric(name="cpu.utilization", unit="1", gauge={"data_points": [point(as_double=0.25)]})

    assert [(r["metric"], r["type"], r["value"], r["unit"]) for r in samples(up_down, gauge)] == [
        ("queue_size", "gauge", -3.0, ""),
        ("cpu_utilization_ratio", "gauge", 0.25, "1"),
    ]


def test_delta_sums_keep_their_increments_as_counter_delta() -> None:
    monotonic = Metric(
        name="orders",
        sum={
            "is_monotonic": True,
            "aggregation_temporality": DELTA,
            "data_points": [point(as_int=5), point(as_int=2, time_unix_nano=TIME_NS + 60 * 10**9)],
        },
    )
    up_down = Metric(
        name="stock",
        sum={
            "is_monotonic": False,
            "aggregation_temporality": DELTA,
            "data_points": [point(as_double=-1.5)],
        },
    )

    rows_ = samples(monotonic, up_down)

    assert [(r["metric"], r["type"], r["value"], r["timestamp"]) for r in rows_] == [
        ("orders_total", "counter_delta", 5.0, TIME_NS // 10**6),
        ("orders_total", "counter_delta", 2.0, TIME_NS // 10**6 + 60_000),
        ("stock", "counter_delta", -1.5, TIME_NS // 10**6),
    ]


def test_histogram_buckets_accumulate_up_to_inf() -> None:
    metric = Metric(
        name="http.server.duration",
        unit="s",
        histogram={
            "aggregation_temporality": CUMULATIVE,
            "data_points": [
                point(
                    count=10,
                    sum=4.75,
                    explicit_bounds=[0.005, 0.1, 1.0, 2.5],
                    bucket_counts=[1, 4, 0, 3, 2],
                )
            ],
        },
    )

    rows_ = samples(metric)

    assert {(r["type"], r["unit"], r["service"], r["timestamp"]) for r in rows_} == {
        ("histogram", "s", "checkout", TIME_NS // 1_000_000)
    }
    assert by_series(rows_) == {
        ("http_server_duration_seconds_bucket", (*SERIES[:2], ("le", "0.005"), SERIES[2])): 1.0,
        ("http_server_duration_seconds_bucket", (*SERIES[:2], ("le", "0.1"), SERIES[2])): 5.0,
        ("http_server_duration_seconds_bucket", (*SERIES[:2], ("le", "1"), SERIES[2])): 5.0,
        ("http_server_duration_seconds_bucket", (*SERIES[:2], ("le", "2.5"), SERIES[2])): 8.0,
        ("http_server_duration_seconds_bucket", (*SERIES[:2], ("le", "+Inf"), SERIES[2])): 10.0,
        ("http_server_duration_seconds_sum", SERIES): 4.75,
        ("http_server_duration_seconds_count", SERIES): 10.0,
    }


def test_histogram_without_buckets_or_sum_has_inf_bucket_and_count() -> None:
    metric = Metric(name="h", histogram={"data_points": [point(count=4)]})

    assert by_series(samples(metric)) == {
        ("h_bucket", (*SERIES[:2], ("le", "+Inf"), SERIES[2])): 4.0,
        ("h_count", SERIES): 4.0,
    }


def test_delta_histogram_is_histogram_delta() -> None:
    metric = Metric(
        name="h",
        histogram={"aggregation_temporality": DELTA, "data_points": [point(count=1, sum=1.0)]},
    )

    assert {row["type"] for row in samples(metric)} == {"histogram_delta"}


def test_exponential_histogram_gives_cumulative_buckets_sum_and_count() -> None:
    # Scale 1: base sqrt(2); positive offset 2 -> buckets (2, 2.83] and (2.83, 4];
    # negative offset 0 -> [-1.41, -1); zero bucket threshold 0.001.
    metric = Metric(
        name="rpc.duration",
        unit="ms",
        exponential_histogram={
            "aggregation_temporality": CUMULATIVE,
            "data_points": [
                point(
                    count=10,
                    sum=31.5,
                    scale=1,
                    zero_count=1,
                    zero_threshold=0.001,
                    positive={"offset": 2, "bucket_counts": [2, 4]},
                    negative={"offset": 0, "bucket_counts": [3]},
                )
            ],
        },
    )

    rows_ = samples(metric)

    def bucket(le: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return ("rpc_duration_milliseconds_bucket", (*SERIES[:2], ("le", le), SERIES[2]))

    assert by_series(rows_) == {
        bucket("-1"): 3.0,
        bucket("0.001"): 4.0,
        bucket("2.8284271247461903"): 6.0,
        bucket("4"): 10.0,
        bucket("+Inf"): 10.0,
        ("rpc_duration_milliseconds_sum", SERIES): 31.5,
        ("rpc_duration_milliseconds_count", SERIES): 10.0,
    }
    assert {(r["type"], r["unit"]) for r in rows_} == {("histogram", "ms")}


def test_fine_exponential_histogram_is_merged_down_to_scale_3() -> None:
    # Scale 5 indexes 32..39 all fall into scale-3 indexes 8 and 9: (2, 2.18] and (2.18, 2.38].
    metric = Metric(
        name="latency",
        exponential_histogram={
            "aggregation_temporality": CUMULATIVE,
            "data_points": [
                point(count=8, scale=5, positive={"offset": 32, "bucket_counts": [1] * 8})
            ],
        },
    )

    buckets = {
        dict(labels)["le"]: value
        for (name, labels), value in by_series(samples(metric)).items()
        if name == "latency_bucket"
    }

    assert buckets == {
        "2.1810154653305154": 4.0,
        "2.378414230005442": 8.0,
        "+Inf": 8.0,
    }


def test_summary_gives_quantiles_sum_and_count() -> None:
    metric = Metric(
        name="gc.pause",
        summary={
            "data_points": [
                point(
                    count=20,
                    sum=3.5,
                    quantile_values=[
                        {"quantile": 0.5, "value": 0.1},
                        {"quantile": 0.99, "value": 0.9},
                        {"quantile": 1.0, "value": 1.2},
                    ],
                )
            ]
        },
    )

    rows_ = samples(metric)

    assert {r["type"] for r in rows_} == {"summary"}
    assert by_series(rows_) == {
        ("gc_pause", (*SERIES[:2], ("quantile", "0.5"), SERIES[2])): 0.1,
        ("gc_pause", (*SERIES[:2], ("quantile", "0.99"), SERIES[2])): 0.9,
        ("gc_pause", (*SERIES[:2], ("quantile", "1"), SERIES[2])): 1.2,
        ("gc_pause_sum", SERIES): 3.5,
        ("gc_pause_count", SERIES): 20.0,
    }


def test_points_with_no_recorded_value_are_skipped_and_not_counted() -> None:
    flagged = {"flags": NO_RECORDED_VALUE}
    metrics = [
        Metric(name="g", gauge={"data_points": [point(**flagged), point(as_int=1)]}),
        Metric(name="h", histogram={"data_points": [point(count=1, **flagged)]}),
        Metric(name="e", exponential_histogram={"data_points": [point(count=1, **flagged)]}),
        Metric(name="s", summary={"data_points": [point(count=1, **flagged)]}),
    ]

    decoded = decode_metrics(metrics_request(*metrics), PROTOBUF)

    assert (decoded.accepted, decoded.rejected) == (1, 0)
    assert [row["metric"] for row in only_rows(decoded)] == ["g"]


def test_data_point_without_value_is_rejected_with_its_place() -> None:
    metrics = [
        Metric(name="ok", gauge={"data_points": [point(as_int=1)]}),
        Metric(name="bad", gauge={"data_points": [point(as_int=1), point()]}),
        Metric(name="no_data"),
    ]

    decoded = decode_metrics(metrics_request(*metrics), PROTOBUF)

    assert (decoded.accepted, decoded.rejected) == (2, 2)
    assert decoded.message == (
        "resourceMetrics[0].scopeMetrics[0].metrics[1].gauge.dataPoints[1]: "
        "the data point has no value; "
        "resourceMetrics[0].scopeMetrics[0].metrics[2]: metric 'no_data' has no data"
    )


def test_histogram_with_mismatched_buckets_is_rejected() -> None:
    metric = Metric(
        name="h",
        histogram={"data_points": [point(count=1, explicit_bounds=[1.0], bucket_counts=[1])]},
    )

    decoded = decode_metrics(metrics_request(metric), PROTOBUF)

    assert (decoded.accepted, decoded.rejected) == (0, 1)
    assert decoded.message == (
        "resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[0]: "
        "1 bucket counts for 1 explicit bounds (expected 2)"
    )


def test_many_rejections_are_summarised() -> None:
    metric = Metric(name="g", gauge={"data_points": [point() for _ in range(5)]})

    decoded = decode_metrics(metrics_request(metric), PROTOBUF)

    assert decoded.rejected == 5
    assert decoded.message.endswith("dataPoints[2]: the data point has no value; and 2 more")


def test_job_and_instance_come_from_the_resource() -> None:
    resource = key_values(
        service__name="cart", service__namespace="shop", service__instance__id="i-9", host__name="h"
    )
    gauge = Metric(
        name="g", gauge={"data_points": [point(as_int=1, attributes=key_values(job="mine"))]}
    )

    [row] = samples(gauge, resource=resource)

    assert row["service"] == "cart"
    assert row["labels"] == {"job": "shop/cart", "instance": "i-9"}


def test_without_service_name_there_is_no_job_label() -> None:
    gauge = Metric(name="g", gauge={"data_points": [point(as_int=1, attributes=[])]})

    [row] = samples(gauge, resource=key_values(service__namespace="shop"))

    assert (row["service"], row["labels"]) == ("unknown_service", {})


def test_label_names_are_sanitised_and_colliding_values_joined() -> None:
    attributes = key_values(http__route="/a", http_route="/b", **{"1st": "x", "k-v": "y"})
    gauge = Metric(name="g", gauge={"data_points": [point(as_int=1, attributes=attributes)]})

    [row] = samples(gauge, resource=[])

    assert row["labels"] == {"http_route": "/a;/b", "key_1st": "x", "k_v": "y"}


def test_point_without_time_takes_the_receive_time() -> None:
    gauge = Metric(name="g", gauge={"data_points": [point(as_int=1, time_unix_nano=0)]})

    assert [row["timestamp"] for row in samples(gauge)] == [RECEIVED_NS // 1_000_000]


@pytest.mark.parametrize(
    ("name", "unit", "kind", "prometheus"),
    [
        ("http.server.duration", "", "", "http_server_duration"),
        ("process.runtime.cpython.gc_count", "", "", "process_runtime_cpython_gc_count"),
        ("ns:metric-name/x", "", "", "ns:metric_name_x"),
        ("2xx.count", "", "", "_2xx_count"),
        ("größe", "", "", "gr_e"),
        ("__a..b__", "", "", "a_b"),
        ("http.server.request.duration", "s", "", "http_server_request_duration_seconds"),
        ("rpc.latency", "ms", "", "rpc_latency_milliseconds"),
        ("disk.io", "By", "counter", "disk_io_bytes_total"),
        ("disk.io", "By/s", "gauge", "disk_io_bytes_per_second"),
        ("packets", "{packet}/s", "", "packets_per_second"),
        ("requests", "{request}", "counter", "requests_total"),
        ("memory.bytes", "By", "gauge", "memory_bytes"),
        ("jobs.total.count", "1", "counter", "jobs_count_total"),
        ("cpu.utilization", "1", "gauge", "cpu_utilization_ratio"),
        ("cpu.utilization", "1", "", "cpu_utilization"),
        ("load", "%", "gauge", "load_percent"),
        ("temperature", "Cel", "gauge", "temperature_celsius"),
        ("weird", "m@s", "gauge", "weird_m_s"),
        ("...", "", "", ""),
    ],
)
def test_metric_names_are_those_prometheus_gives(
    name: str, unit: str, kind: str, prometheus: str
) -> None:
    assert metric_name(name, unit, kind) == prometheus


def test_metric_without_a_usable_name_is_rejected() -> None:
    decoded = decode_metrics(
        metrics_request(Metric(name="...", gauge={"data_points": [point(as_int=1)]})), PROTOBUF
    )

    assert (decoded.accepted, decoded.rejected) == (0, 1)
    assert decoded.message == (
        "resourceMetrics[0].scopeMetrics[0].metrics[0].name: '...' has no letter or digit"
    )


@pytest.mark.parametrize(
    ("attribute", "label"),
    [
        ("http.route", "http_route"),
        ("a:b.c", "a_b_c"),
        ("a..b__c", "a_b_c"),
        ("1st", "key_1st"),
        ("_private", "_private"),
        ("__meta__", "__meta__"),
        ("__", ""),
        ("...", ""),
    ],
)
def test_label_names_are_those_prometheus_gives(attribute: str, label: str) -> None:
    assert label_name(attribute) == label


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (1.0, "1"),
        (0.005, "0.005"),
        (2.5, "2.5"),
        (1e-7, "0.0000001"),
        (1e21, "1000000000000000000000"),
        (-10.0, "-10"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
    ],
)
def test_bounds_and_quantiles_are_formatted_as_prometheus_does(value: float, text: str) -> None:
    assert prometheus_float(value) == text


def test_metrics_json_with_exemplar_ids_and_enum_names() -> None:
    document = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "c",
                                "sum": {
                                    "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "asDouble": "NaN",
                                            "timeUnixNano": TIME_NS,
                                            "exemplars": [
                                                {"traceId": TRACE_ID.hex(), "spanId": SPAN_ID.hex()}
                                            ],
                                        }
                                    ],
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }

    [row] = only_rows(decode_metrics(json.dumps(document).encode(), JSON))

    assert (row["metric"], row["type"], row["service"]) == (
        "c_total",
        "counter_delta",
        "unknown_service",
    )
    assert row["value"] != row["value"]  # NaN


def test_bad_exemplar_id_is_named() -> None:
    points = {"dataPoints": [{"exemplars": [{"traceId": "xyz"}]}]}
    document = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"gauge": points}]}]}]}

    with pytest.raises(
        DecodeError,
        match=r"^resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.gauge\.dataPoints\[0\]"
        r"\.exemplars\[0\]\.traceId: expected a hex id",
    ):
        decode_metrics(json.dumps(document).encode(), JSON)


# --- traces -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (Span.SpanKind.SPAN_KIND_UNSPECIFIED, "unspecified"),
        (Span.SpanKind.SPAN_KIND_INTERNAL, "internal"),
        (Span.SpanKind.SPAN_KIND_SERVER, "server"),
        (Span.SpanKind.SPAN_KIND_CLIENT, "client"),
        (Span.SpanKind.SPAN_KIND_PRODUCER, "producer"),
        (Span.SpanKind.SPAN_KIND_CONSUMER, "consumer"),
        (17, "unspecified"),
    ],
)
def test_span_kinds(kind: int, name: str) -> None:
    [row] = only_rows(decode_traces(traces_request(span(kind=kind)), PROTOBUF))

    assert row["kind"] == name


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (Status.StatusCode.STATUS_CODE_UNSET, "unset"),
        (Status.StatusCode.STATUS_CODE_OK, "ok"),
        (Status.StatusCode.STATUS_CODE_ERROR, "error"),
    ],
)
def test_span_status(code: int, name: str) -> None:
    status = Status(code=code, message="card declined")
    [row] = only_rows(decode_traces(traces_request(span(status=status)), PROTOBUF))

    assert (row["status_code"], row["status_message"]) == (name, "card declined")


def test_span_columns() -> None:
    parent = bytes.fromhex("00f067aa0ba902b7")
    request = traces_request(
        span(parent_span_id=parent, attributes=key_values(http__status_code=500)),
        resource=key_values(service__name="cart", k8s__pod__name="cart-1"),
    )

    [row] = only_rows(decode_traces(request, PROTOBUF))

    assert row == {
        "trace_id": TRACE_ID.hex(),
        "span_id": SPAN_ID.hex(),
        "parent_span_id": parent.hex(),
        "name": "GET /cart",
        "kind": "unspecified",
        "service": "cart",
        "start": TIME_NS,
        "duration_ns": 1500,
        "status_code": "unset",
        "status_message": "",
        "resource_attributes": {"service.name": "cart", "k8s.pod.name": "cart-1"},
        "attributes": {"http.status_code": "500"},
        "events": [],
        "links": [],
    }


def test_span_events_and_links_are_kept_with_their_span() -> None:
    linked_trace, linked_span = bytes.fromhex("ab" * 16), bytes.fromhex("cd" * 8)
    request = traces_request(
        span(
            events=[
                {
                    "time_unix_nano": TIME_NS + 500,
                    "name": "exception",
                    "attributes": key_values(exception__type="TimeoutError"),
                }
            ],
            links=[
                {
                    "trace_id": linked_trace,
                    "span_id": linked_span,
                    "attributes": key_values(messaging__operation="receive"),
                }
            ],
        )
    )

    [row] = only_rows(decode_traces(request, PROTOBUF))

    assert row["events"] == [
        {
            "timestamp": TIME_NS + 500,
            "name": "exception",
            "attributes": {"exception.type": "TimeoutError"},
        }
    ]
    assert row["links"] == [
        {
            "trace_id": linked_trace.hex(),
            "span_id": linked_span.hex(),
            "attributes": {"messaging.operation": "receive"},
        }
    ]


def test_span_ending_before_it_starts_has_zero_duration() -> None:
    [row] = only_rows(decode_traces(traces_request(span(end_time_unix_nano=TIME_NS - 1)), PROTOBUF))

    assert row["duration_ns"] == 0


def test_all_zero_parent_id_is_a_root_span() -> None:
    [row] = only_rows(decode_traces(traces_request(span(parent_span_id=bytes(8))), PROTOBUF))

    assert row["parent_span_id"] == ""


def test_spans_without_ids_are_rejected() -> None:
    request = traces_request(span(), span(trace_id=bytes(16)), span(span_id=b""))

    decoded = decode_traces(request, PROTOBUF)

    assert (decoded.accepted, decoded.rejected) == (1, 2)
    assert decoded.message == (
        "resourceSpans[0].scopeSpans[0].spans[1].traceId: a span needs a non-zero traceId; "
        "resourceSpans[0].scopeSpans[0].spans[2].spanId: a span needs a non-zero spanId"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"trace_id": b"\x01" * 8}, r"spans\[0\]\.traceId: expected a 16-byte id .*got 8 bytes"),
        ({"parent_span_id": b"\x01" * 4}, r"spans\[0\]\.parentSpanId: .*got 4 bytes"),
        ({"start_time_unix_nano": 2**63}, r"spans\[0\]\.startTimeUnixNano: "),
        (
            {"links": [{"trace_id": b"\x01" * 16, "span_id": b"\x02" * 3}]},
            r"spans\[0\]\.links\[0\]\.spanId: expected a 8-byte id .*got 3 bytes",
        ),
        (
            {"events": [{"time_unix_nano": 2**63, "name": "late"}]},
            r"spans\[0\]\.events\[0\]\.timeUnixNano: .* beyond the year 2262",
        ),
    ],
)
def test_bad_span_fields_are_named(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_traces(traces_request(span(**fields)), PROTOBUF)


def test_traces_json_with_hex_link_ids_and_kind_names() -> None:
    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE_ID.hex(),
                                "spanId": SPAN_ID.hex(),
                                "name": "consume",
                                "kind": "SPAN_KIND_CONSUMER",
                                "startTimeUnixNano": str(TIME_NS),
                                "endTimeUnixNano": TIME_NS + 10,
                                "status": {"code": "STATUS_CODE_ERROR"},
                                "links": [{"traceId": "ab" * 16, "spanId": "cd" * 8}],
                            }
                        ]
                    }
                ]
            }
        ]
    }

    [row] = only_rows(decode_traces(json.dumps(document).encode(), JSON))

    assert (row["kind"], row["status_code"], row["duration_ns"]) == ("consumer", "error", 10)
    assert row["links"] == [{"trace_id": "ab" * 16, "span_id": "cd" * 8, "attributes": {}}]


# --- responses --------------------------------------------------------------------------------

RESPONSES: dict[str, tuple[type[Message], str, str]] = {
    "logs": (ExportLogsServiceResponse, "rejected_log_records", "rejectedLogRecords"),
    "metrics": (ExportMetricsServiceResponse, "rejected_data_points", "rejectedDataPoints"),
    "traces": (ExportTraceServiceResponse, "rejected_spans", "rejectedSpans"),
}


@pytest.mark.parametrize("signal", sorted(RESPONSES))
def test_protobuf_response_carries_partial_success(signal: str) -> None:
    response_class, field, _ = RESPONSES[signal]

    full = response_class.FromString(encode_export_response(signal, PROTOBUF, 0, ""))
    partial = response_class.FromString(encode_export_response(signal, PROTOBUF, 3, "3 bad"))

    assert not full.HasField("partial_success")
    assert getattr(partial.partial_success, field) == 3
    assert partial.partial_success.error_message == "3 bad"


@pytest.mark.parametrize("signal", sorted(RESPONSES))
def test_json_response_carries_partial_success(signal: str) -> None:
    _, _, json_field = RESPONSES[signal]

    full = encode_export_response(signal, "application/json; charset=utf-8", 0, "")
    partial = encode_export_response(signal, JSON, 2, "spans[1]: bad")

    assert json.loads(full) == {}
    assert json.loads(partial) == {
        "partialSuccess": {json_field: "2", "errorMessage": "spans[1]: bad"}
    }


def test_response_for_unknown_content_type_is_unsupported() -> None:
    with pytest.raises(UnsupportedContentType, match="unsupported content type 'text/xml'"):
        encode_export_response("logs", "text/xml", 0, "")

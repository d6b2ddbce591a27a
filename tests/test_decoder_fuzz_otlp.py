"""Random and mutated OTLP bodies: the decoders raise DecodeError or return storable rows.

Mutations start from the requests the real OTel Python SDK sent (tests/fixtures/otlp/) and from
a request using every field. A fixed seed makes every run try the same bodies.
"""

from __future__ import annotations

import base64
import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.errors import DecodeError
from fullcycle.ingest.otlp import (
    decode_logs,
    decode_metrics,
    decode_traces,
    encode_export_response,
)

FIXTURES = Path(__file__).parent / "fixtures" / "otlp"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ROUNDS = 3000

Decoder = Callable[[bytes, str], Decoded]

SIGNALS: dict[str, tuple[Decoder, type[Message]]] = {
    "logs": (decode_logs, ExportLogsServiceRequest),
    "metrics": (decode_metrics, ExportMetricsServiceRequest),
    "traces": (decode_traces, ExportTraceServiceRequest),
}

# Values dropped into random places of a JSON request.
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -1e308,
    float("inf"),
    2**64,
    2**63,
    -(2**63) - 1,
    "",
    "abc",
    "0",
    "-5",
    "1e3",
    "NaN",
    "SPAN_KIND_SERVER",
    "c5b01d762ed01b7046438454d01f88aa",
    "6cd63721e3bf0688",
    "zz",
    "AAAA",
    "\u00e9\ud7ff",
    "\ud800",
    [],
    [1, "a", None],
    {},
    {"stringValue": "x"},
    {"intValue": "7"},
    {"kvlistValue": {"values": [{"key": "k", "value": {"arrayValue": {"values": [{}]}}}]}},
    {"arrayValue": {}},
    [{"key": "k"}],
    [{"value": {"doubleValue": "Infinity"}}],
]


def every_field_request(signal: str) -> dict[str, Any]:
    """A JSON request with every kind of record the decoder handles."""
    resource = {
        "attributes": [
            {"key": "service.name", "value": {"stringValue": "fuzz"}},
            {"key": "service.namespace", "value": {"stringValue": "shop"}},
            {
                "key": "nested",
                "value": {
                    "kvlistValue": {
                        "values": [
                            {"key": "a", "value": {"arrayValue": {"values": [{"intValue": "1"}]}}},
                            {"key": "b", "value": {"bytesValue": "aGk="}},
                        ]
                    }
                },
            },
        ]
    }
    exemplar = {"traceId": "c5b01d762ed01b7046438454d01f88aa", "spanId": "6cd63721e3bf0688"}
    point = {
        "attributes": [{"key": "route", "value": {"stringValue": "/"}}],
        "timeUnixNano": "1700000000000000000",
        "exemplars": [exemplar],
    }
    if signal == "logs":
        record = {
            "timeUnixNano": "1700000000000000000",
            "severityNumber": 9,
            "body": {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 1.5}}]}},
            "traceId": "c5b01d762ed01b7046438454d01f88aa",
            "spanId": "6cd63721e3bf0688",
            "attributes": [{"key": "flag", "value": {"boolValue": True}}],
        }
        scope = {"scope": {"name": "s"}, "logRecords": [record, {"body": {"intValue": "3"}}]}
        return {"resourceLogs": [{"resource": resource, "scopeLogs": [scope]}]}
    if signal == "metrics":
        metrics = [
            {"name": "g", "gauge": {"dataPoints": [{**point, "asDouble": 1.5}]}},
            {
                "name": "s",
                "sum": {
                    "dataPoints": [{**point, "asInt": "3"}],
                    "isMonotonic": True,
                    "aggregationTemporality": 1,
                },
            },
            {
                "name": "h",
                "histogram": {
                    "dataPoints": [
                        {**point, "count": "3", "sum": 2.5, "bucketCounts": ["1", "2"],
                         "explicitBounds": [1.0]},
                    ]
                },
            },
            {
                "name": "e",
                "exponentialHistogram": {"dataPoints": [{**point, "count": "2", "sum": 1.0}]},
            },
            {
                "name": "q",
                "summary": {
                    "dataPoints": [
                        {**point, "count": "2", "sum": 4.0,
                         "quantileValues": [{"quantile": 0.5, "value": 2.0}]},
                    ]
                },
            },
        ]  # fmt: skip
        scope = {"scope": {"name": "s"}, "metrics": metrics}
        return {"resourceMetrics": [{"resource": resource, "scopeMetrics": [scope]}]}
    span = {
        "traceId": "c5b01d762ed01b7046438454d01f88aa",
        "spanId": "6cd63721e3bf0688",
        "parentSpanId": "6cd63721e3bf0689",
        "name": "GET /",
        "kind": 2,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000000005000",
        "status": {"code": 2, "message": "boom"},
        "links": [{"traceId": "c5b01d762ed01b7046438454d01f88ab", "spanId": "6cd63721e3bf0680"}],
        "events": [{"name": "e", "timeUnixNano": "1700000000000000001"}],
    }
    scope = {"scope": {"name": "s"}, "spans": [span]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [scope]}]}


def seeds(signal: str) -> list[dict[str, Any]]:
    captured = json.loads((FIXTURES / f"otlp_{signal}.json").read_bytes())
    return [captured, every_field_request(signal)]


def protobuf_seeds(signal: str) -> list[bytes]:
    _, request_class = SIGNALS[signal]
    richer = decode_json_to_protobuf(every_field_request(signal), request_class)
    return [(FIXTURES / f"otlp_{signal}.bin").read_bytes(), richer]


def decode_json_to_protobuf(document: dict[str, Any], request_class: type[Message]) -> bytes:
    """The protobuf form of an OTLP JSON request (hex ids turned into bytes by hand)."""
    document = json.loads(json.dumps(document))
    hex_to_base64(document)
    message = json_format.ParseDict(document, request_class(), ignore_unknown_fields=True)
    return message.SerializeToString()


def hex_to_base64(node: Any) -> None:
    """Hex ids into base64 (invalid hex is left for the parser to refuse)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    continue
            else:
                hex_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            hex_to_base64(item)


def mutate_bytes(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    choice = rng.randrange(6)
    if choice == 0 and data:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif choice == 1:
        del data[rng.randrange(len(data) + 1) :]
    elif choice == 2:
        position = rng.randrange(len(data) + 1)
        data[position:position] = rng.randbytes(rng.randint(1, 16))
    elif choice == 3 and data:
        start = rng.randrange(len(data))
        del data[start : start + rng.randint(1, 32)]
    elif choice == 4 and data:
        data[rng.randrange(len(data))] = rng.choice([0x00, 0x7F, 0x80, 0xFF, 0x22, 0x7B])
    else:
        data = bytearray(rng.randbytes(rng.randint(0, 64)))
    return bytes(data)


def containers(node: Any) -> list[dict[str, Any] | list[Any]]:
    """Every object and array in a JSON document."""
    found: list[dict[str, Any] | list[Any]] = []
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            found.append(current)
            pending.extend(current.values())
        elif isinstance(current, list):
            found.append(current)
            pending.extend(current)
    return found


def odd_value(rng: random.Random) -> Any:
    value = rng.choice(ODD_VALUES)
    if rng.random() < 0.1:
        return [copy.deepcopy(value) for _ in range(rng.randint(1, 3))]
    return copy.deepcopy(value)


def mutate_json(rng: random.Random, document: dict[str, Any]) -> bytes:
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        target = rng.choice(containers(document))
        if isinstance(target, dict):
            if not target or rng.random() < 0.2:
                key = rng.choice(["timeUnixNano", "traceId", "kind", "body", "dataPoints", "x"])
                target[key] = odd_value(rng)
            elif rng.random() < 0.2:
                del target[rng.choice(list(target))]
            else:
                target[rng.choice(list(target))] = odd_value(rng)
        elif target and rng.random() < 0.8:
            target[rng.randrange(len(target))] = odd_value(rng)
        else:
            target.append(odd_value(rng))
    text = json.dumps(document)
    if rng.random() < 0.2:
        return mutate_bytes(rng, text.encode())
    return text.encode()


def check_decodes_or_rejects(decoder: Decoder, body: bytes, content_type: str) -> None:
    try:
        decoded = decoder(body, content_type)
    except DecodeError as error:
        assert str(error)
        return
    for batch in decoded.batches:
        batch.to_arrow()
    assert decoded.accepted >= 0
    assert decoded.rejected >= 0


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_mutated_protobuf_bodies_decode_or_raise_decode_error(signal: str) -> None:
    decoder, _ = SIGNALS[signal]
    rng = random.Random(f"protobuf-{signal}")
    bodies = protobuf_seeds(signal)
    for _ in range(ROUNDS):
        body = mutate_bytes(rng, rng.choice(bodies))
        check_decodes_or_rejects(decoder, body, PROTOBUF)


def protobuf_with_odd_values(rng: random.Random, signal: str) -> bytes | None:
    """A well-formed protobuf request carrying odd values (huge times, short ids, ...)."""
    _, request_class = SIGNALS[signal]
    text = mutate_json(rng, rng.choice(seeds(signal)))
    if b"\\ud800" in text:
        return None  # protobuf strings cannot hold a lone surrogate
    try:
        return decode_json_to_protobuf(json.loads(text), request_class)
    except (ValueError, TypeError, AttributeError, OverflowError, json_format.ParseError):
        return None


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_protobuf_bodies_with_odd_values_decode_or_raise_decode_error(signal: str) -> None:
    decoder, _ = SIGNALS[signal]
    rng = random.Random(f"odd-protobuf-{signal}")
    tried = 0
    for _ in range(ROUNDS):
        body = protobuf_with_odd_values(rng, signal)
        if body is not None:
            tried += 1
            check_decodes_or_rejects(decoder, body, PROTOBUF)
    assert tried > ROUNDS // 10


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_mutated_json_bodies_decode_or_raise_decode_error(signal: str) -> None:
    decoder, _ = SIGNALS[signal]
    rng = random.Random(f"json-{signal}")
    documents = seeds(signal)
    for _ in range(ROUNDS):
        body = mutate_json(rng, rng.choice(documents))
        check_decodes_or_rejects(decoder, body, JSON)


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_the_seeds_themselves_decode(signal: str) -> None:
    decoder, _ = SIGNALS[signal]
    for document in seeds(signal):
        assert decoder(json.dumps(document).encode(), JSON).accepted > 0
    for body in protobuf_seeds(signal):
        assert decoder(body, PROTOBUF).accepted > 0


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_responses_encode_for_any_rejection_message(signal: str) -> None:
    rng = random.Random(f"response-{signal}")
    for _ in range(50):
        message = "".join(chr(rng.randrange(0x20, 0xD7FF)) for _ in range(rng.randint(0, 30)))
        rejected = rng.randint(0, 2**40)
        assert isinstance(encode_export_response(signal, JSON, rejected, message), bytes)
        assert isinstance(encode_export_response(signal, PROTOBUF, rejected, message), bytes)

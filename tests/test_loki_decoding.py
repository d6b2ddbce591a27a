"""Loki push decoding: JSON and snappy protobuf bodies, and the stream label string parser.

No Loki client can be installed here (Promtail, Alloy, Fluent Bit, Vector), so the bodies are
made to the documented format; the protobuf ones also byte by byte, to check the field numbers
of grafana/loki's push.proto independently of our descriptors.
"""

from __future__ import annotations

import gzip
import json
import struct
from typing import Any

import cramjam
import pytest

from fullcycle.ingest.errors import DecodeError, UnsupportedContentType
from fullcycle.ingest.loki import decode_loki_push, parse_label_string
from fullcycle.ingest.prometheus_proto import PushRequest

RECEIVED_NS = 1_800_000_000_123_456_789
JSON = "application/json"
PROTOBUF = "application/x-protobuf"


def _rows(body: bytes, content_type: str = JSON, encoding: str | None = None) -> list[dict]:
    decoded = decode_loki_push(body, content_type, encoding, received_ns=RECEIVED_NS)
    (batch,) = decoded.batches
    assert decoded.accepted == len(batch)
    return [
        {
            **row,
            "timestamp": batch.columns["timestamp"][index],
            "observed_timestamp": batch.columns["observed_timestamp"][index],
            "attributes": dict(row["attributes"]),
        }
        for index, row in enumerate(batch.to_arrow().to_pylist())
    ]


def _json(streams: list[dict[str, Any]]) -> bytes:
    return json.dumps({"streams": streams}).encode()


def _push(*streams: tuple[str, list[tuple[int, int, str, dict[str, str]]]]) -> bytes:
    request = PushRequest()
    for labels, entries in streams:
        stream = request.streams.add(labels=labels)
        for seconds, nanos, line, metadata in entries:
            entry = stream.entries.add(line=line)
            entry.timestamp.seconds = seconds
            entry.timestamp.nanos = nanos
            for name, value in metadata.items():
                entry.structuredMetadata.add(name=name, value=value)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


class TestJson:
    BODY = _json(
        [
            {
                "stream": {"service_name": "checkout", "level": "warn", "host": "web-1"},
                "values": [
                    ["1700000000000000001", "payment slow"],
                    ["1700000000000000002", "payment retried", {"trace_id": "ab12", "try": "2"}],
                ],
            },
            {"stream": {"job": "batch", "env": "prod"}, "values": [["1700000000500000000", "x"]]},
        ]
    )

    def test_every_column_of_an_entry(self) -> None:
        assert _rows(self.BODY)[0] == {
            "timestamp": 1700000000000000001,
            "observed_timestamp": RECEIVED_NS,
            "service": "checkout",
            "environment": "",
            "host": "web-1",
            "severity_text": "warn",
            "severity_number": 13,
            "body": "payment slow",
            "trace_id": "",
            "span_id": "",
            "scope": "",
            "resource_attributes": [],
            "attributes": {"service_name": "checkout", "level": "warn", "host": "web-1"},
        }

    def test_structured_metadata(self) -> None:
        second = _rows(self.BODY)[1]
        assert second["body"] == "payment retried"
        assert second["trace_id"] == "ab12"
        assert second["attributes"] == {
            "service_name": "checkout",
            "level": "warn",
            "host": "web-1",
            "trace_id": "ab12",
            "try": "2",
        }

    def test_second_stream(self) -> None:
        third = _rows(self.BODY)[2]
        assert (third["service"], third["environment"], third["severity_number"]) == (
            "batch",
            "prod",
            0,
        )
        assert third["timestamp"] == 1700000000500000000

    def test_gzip_content_encoding(self) -> None:
        assert _rows(gzip.compress(self.BODY), JSON, "gzip") == _rows(self.BODY)

    def test_snappy_content_encoding(self) -> None:
        body = bytes(cramjam.snappy.compress_raw(self.BODY))
        assert _rows(body, "application/json; charset=utf-8", "snappy") == _rows(self.BODY)

    def test_integer_timestamps_are_accepted(self) -> None:
        body = _json([{"stream": {"app": "a"}, "values": [[1700000000000000000, "l"]]}])
        assert _rows(body)[0]["timestamp"] == 1700000000000000000


class TestProtobuf:
    def test_every_column_of_an_entry(self) -> None:
        body = _push(
            (
                '{app="api", detected_level="error", instance="10.0.0.5:80", '
                'environment="staging"}',
                [(1700000000, 42, "boom", {"span_id": "cd34"})],
            )
        )
        assert _rows(body, PROTOBUF) == [
            {
                "timestamp": 1700000000_000000042,
                "observed_timestamp": RECEIVED_NS,
                "service": "api",
                "environment": "staging",
                "host": "10.0.0.5:80",
                "severity_text": "error",
                "severity_number": 17,
                "body": "boom",
                "trace_id": "",
                "span_id": "cd34",
                "scope": "",
                "resource_attributes": [],
                "attributes": {
                    "app": "api",
                    "detected_level": "error",
                    "instance": "10.0.0.5:80",
                    "environment": "staging",
                    "span_id": "cd34",
                },
            }
        ]

    def test_field_numbers_of_push_proto(self) -> None:
        timestamp = _varint_field(1, 1700000000) + _varint_field(2, 7)
        metadata = _bytes_field(1, b"user") + _bytes_field(2, b"u1")
        entry = _bytes_field(1, timestamp) + _bytes_field(2, b"hello") + _bytes_field(3, metadata)
        stream = _bytes_field(1, b'{service="svc"}') + _bytes_field(2, entry) + _varint_field(3, 99)
        body = bytes(cramjam.snappy.compress_raw(_bytes_field(1, stream)))
        (row,) = _rows(body, PROTOBUF)
        assert (row["timestamp"], row["body"], row["service"]) == (
            1700000000_000000007,
            "hello",
            "svc",
        )
        assert row["attributes"] == {"service": "svc", "user": "u1"}

    @pytest.mark.parametrize("encoding", [None, "", "snappy"])
    def test_always_snappy(self, encoding: str | None) -> None:
        body = _push(('{app="a"}', [(1, 0, "l", {})]))
        assert _rows(body, PROTOBUF, encoding)[0]["body"] == "l"

    def test_no_content_type_means_protobuf(self) -> None:
        assert _rows(_push(('{app="a"}', [(1, 0, "l", {})])), "")[0]["service"] == "a"

    def test_entry_without_timestamp_gets_the_receive_time(self) -> None:
        request = PushRequest()
        request.streams.add(labels='{app="a"}').entries.add(line="no time")
        body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
        assert _rows(body, PROTOBUF)[0]["timestamp"] == RECEIVED_NS


class TestColumnsFromLabels:
    @pytest.mark.parametrize(
        ("labels", "service"),
        [
            ({"service_name": "a", "service": "b", "app": "c", "job": "d"}, "a"),
            ({"service": "b", "app": "c", "job": "d"}, "b"),
            ({"app": "c", "job": "d"}, "c"),
            ({"job": "d"}, "d"),
            ({"filename": "/var/log/x"}, "unknown_service"),
        ],
    )
    def test_service(self, labels: dict[str, str], service: str) -> None:
        body = _json([{"stream": labels, "values": [["1", "l"]]}])
        assert _rows(body)[0]["service"] == service

    @pytest.mark.parametrize(
        ("level", "number"),
        [
            ("trace", 1),
            ("debug", 5),
            ("info", 9),
            ("INFO", 9),
            ("notice", 10),
            ("warn", 13),
            ("warning", 13),
            ("error", 17),
            ("err", 17),
            ("crit", 18),
            ("critical", 21),
            ("fatal", 21),
            ("verbose", 0),
        ],
    )
    def test_severity(self, level: str, number: int) -> None:
        body = _json([{"stream": {"app": "a", "level": level}, "values": [["1", "l"]]}])
        row = _rows(body)[0]
        assert (row["severity_text"], row["severity_number"]) == (level, number)

    def test_level_label_before_detected_level_before_severity(self) -> None:
        labels = {"app": "a", "severity": "debug", "detected_level": "info", "level": "error"}
        body = _json([{"stream": labels, "values": [["1", "l"]]}])
        assert _rows(body)[0]["severity_text"] == "error"

    def test_level_from_structured_metadata(self) -> None:
        body = _json([{"stream": {"app": "a"}, "values": [["1", "l", {"detected_level": "warn"}]]}])
        assert _rows(body)[0]["severity_number"] == 13

    @pytest.mark.parametrize(
        ("labels", "host"),
        [
            ({"host": "h", "hostname": "n", "instance": "i"}, "h"),
            ({"hostname": "n", "instance": "i"}, "n"),
            ({"instance": "i"}, "i"),
        ],
    )
    def test_host(self, labels: dict[str, str], host: str) -> None:
        body = _json([{"stream": {"app": "a", **labels}, "values": [["1", "l"]]}])
        assert _rows(body)[0]["host"] == host


class TestLabelString:
    @pytest.mark.parametrize(
        ("text", "labels"),
        [
            ("{}", {}),
            ("  { }  ", {}),
            ('{app="x"}', {"app": "x"}),
            ('{app="x", level="info"}', {"app": "x", "level": "info"}),
            ('{app="x",level="info",}', {"app": "x", "level": "info"}),
            ('{ app = "x" ,\tlevel = "info" }', {"app": "x", "level": "info"}),
            ('{msg="a, b, c"}', {"msg": "a, b, c"}),
            ('{msg="a=b"}', {"msg": "a=b"}),
            ('{msg="}{"}', {"msg": "}{"}),
            ('{msg="say \\"hi\\""}', {"msg": 'say "hi"'}),
            ('{path="C:\\\\temp"}', {"path": "C:\\temp"}),
            ('{m="a\\nb\\tc"}', {"m": "a\nb\tc"}),
            ('{m="caf\\u00e9 \\U0001F600"}', {"m": "café 😀"}),
            ('{m="\\xc3\\xa9\\101"}', {"m": "éA"}),
            ('{m="é"}', {"m": "é"}),
            ('{m=""}', {"m": ""}),
            ('{m=`raw \\n "q"`}', {"m": 'raw \\n "q"'}),
            ('{"dotted.name"="v"}', {"dotted.name": "v"}),
            ('{_a1="v"}', {"_a1": "v"}),
        ],
    )
    def test_parses(self, text: str, labels: dict[str, str]) -> None:
        assert parse_label_string(text) == labels

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("", "expected '{' at offset 0"),
            ('app="x"', "expected '{' at offset 0"),
            ("{", "expected a label name at offset 1"),
            ('{app="x"', "expected '}' at offset 8"),
            ("{app}", "expected '=' at offset 4"),
            ('{app!="x"}', "expected '=' at offset 4"),
            ('{app=~"x"}', "expected a quoted label value at offset 5"),
            ("{app=x}", "expected a quoted label value at offset 5"),
            ('{a="1" b="2"}', "expected '}' at offset 7"),
            ('{a="1",,}', "expected a label name at offset 7"),
            ('{a="1", a="2"}', "label 'a' appears twice at offset 8"),
            ('{a="unterminated\\"}', "unterminated string at offset 3"),
            ('{a="\\q"}', "unknown escape \\q at offset 4"),
            ('{a="\\x4"}', "expected 2 hex digits after \\x at offset 4"),
            ('{a="\\ud800"}', "\\ud800 is not a character at offset 4"),
            ('{a="\\777"}', "\\777 is more than a byte at offset 4"),
            ('{a="\\xff"}', "the string is not valid UTF-8 at offset 3"),
            ('{a="1"} extra', "nothing after '}' at offset 8"),
            ('{1a="x"}', "expected a label name at offset 1"),
        ],
    )
    def test_refuses(self, text: str, problem: str) -> None:
        with pytest.raises(DecodeError) as error:
            parse_label_string(text, "streams[3].labels")
        assert str(error.value).startswith(f"streams[3].labels: {problem} in ")


class TestMalformed:
    @pytest.mark.parametrize(
        ("document", "message"),
        [
            ({}, "streams: expected an array, got null"),
            ({"streams": {}}, "streams: expected an array, got an object"),
            ({"streams": [1]}, "streams[0]: expected an object, got a number"),
            (
                {"streams": [{"values": []}]},
                "streams[0].stream: expected an object of labels, got null",
            ),
            (
                {"streams": [{"stream": {"a": 1}, "values": []}]},
                "streams[0].stream.a: expected a string value, got a number",
            ),
            (
                {"streams": [{"stream": {}, "values": "x"}]},
                "streams[0].values: expected an array, got a string",
            ),
            (
                {"streams": [{"stream": {}, "values": [["1", "a"], ["1"]]}]},
                "streams[0].values[1]: expected [timestamp, line] or "
                '[timestamp, line, structured metadata], got ["1"]',
            ),
            (
                {"streams": [{"stream": {}, "values": [["2024-01-01", "a"]]}]},
                "streams[0].values[0][0]: expected nanoseconds since the epoch as a string of "
                'digits, got "2024-01-01"',
            ),
            (
                {"streams": [{"stream": {}, "values": [["1", 5]]}]},
                "streams[0].values[0][1]: expected the log line as a string, got a number",
            ),
            (
                {"streams": [{"stream": {}, "values": [["1", "a", {"k": None}]]}]},
                "streams[0].values[0][2].k: expected a string value, got null",
            ),
            (
                {"streams": [{"stream": {}, "values": [["9999999999999999999", "a"]]}]},
                "streams[0].values[0][0]: 9999999999999999999 ns is outside the years 1677-2262",
            ),
        ],
    )
    def test_json_structure(self, document: dict[str, Any], message: str) -> None:
        with pytest.raises(DecodeError) as error:
            decode_loki_push(json.dumps(document).encode(), JSON, None)
        assert str(error.value) == message

    def test_invalid_json_names_line_and_column(self) -> None:
        with pytest.raises(
            DecodeError, match=r"request body: not valid JSON \(.* at line 2 column"
        ):
            decode_loki_push(b'{"streams": [\n  {"stream": }]}', JSON, None)

    def test_bad_labels_name_the_stream(self) -> None:
        body = _push(('{app="a"}', []), ("{app=a}", []))
        with pytest.raises(DecodeError, match=r"^streams\[1\]\.labels: expected a quoted"):
            decode_loki_push(body, PROTOBUF, None)

    def test_bad_timestamp_names_the_entry(self) -> None:
        timestamp = _varint_field(1, 1) + _varint_field(2, 2_000_000_000)
        entry = _bytes_field(1, timestamp) + _bytes_field(2, b"x")
        stream = _bytes_field(1, b'{a="b"}') + _bytes_field(2, entry)
        body = bytes(cramjam.snappy.compress_raw(_bytes_field(1, stream)))
        with pytest.raises(DecodeError, match=r"^streams\[0\]\.entries\[0\]\.timestamp: nanos"):
            decode_loki_push(body, PROTOBUF, None)

    def test_protobuf_that_is_not_snappy(self) -> None:
        request = PushRequest()
        request.streams.add(labels='{a="b"}')
        with pytest.raises(DecodeError):
            decode_loki_push(request.SerializeToString(), PROTOBUF, None)

    def test_snappy_of_something_else(self) -> None:
        body = bytes(cramjam.snappy.compress_raw(struct.pack("<d", 1.5) * 3))
        with pytest.raises(DecodeError, match=r"not a valid logproto\.PushRequest"):
            decode_loki_push(body, PROTOBUF, None)

    def test_unsupported_content_type(self) -> None:
        with pytest.raises(UnsupportedContentType, match="text/plain"):
            decode_loki_push(b"hello", "text/plain", None)

    def test_unsupported_content_encoding(self) -> None:
        with pytest.raises(DecodeError, match="unsupported content encoding 'br'"):
            decode_loki_push(b"{}", JSON, "br")

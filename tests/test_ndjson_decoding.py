"""Plain NDJSON log decoding, with bodies captured from syslog-ng's http destination."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fullcycle.ingest.errors import DecodeError
from fullcycle.ingest.ndjson_logs import decode_ndjson_logs

FIXTURES = Path(__file__).parent / "fixtures" / "shippers"
RECEIVED_NS = 1_800_000_000_000_000_000


def _rows(body: bytes) -> list[dict[str, Any]]:
    decoded = decode_ndjson_logs(body, received_ns=RECEIVED_NS)
    (batch,) = decoded.batches
    assert (decoded.accepted, decoded.rejected) == (len(batch), 0)
    return [
        {
            **row,
            "timestamp": batch.columns["timestamp"][index],
            "observed_timestamp": batch.columns["observed_timestamp"][index],
            "attributes": dict(row["attributes"]),
        }
        for index, row in enumerate(batch.to_arrow().to_pylist())
    ]


def _ndjson(*records: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(record) for record in records).encode()


def _row(**fields: Any) -> dict[str, Any]:
    return _rows(_ndjson(fields))[0]


class TestSyslogNgCaptures:
    def test_every_column(self) -> None:
        rows = _rows((FIXTURES / "syslogng_http.ndjson").read_bytes())
        assert len(rows) == 3
        assert rows[0] == {
            "timestamp": 1795700530_000000000,  # ISODATE 2026-11-26T13:42:10+00:00
            "observed_timestamp": RECEIVED_NS,
            "service": "unknown_service",  # syslog-ng's default template has no PROGRAM
            "environment": "",
            "host": "vm",
            "severity_text": "notice",
            "severity_number": 10,
            "body": 'level=error msg="db timeout" shard=1',
            "trace_id": "",
            "span_id": "",
            "scope": "",
            "resource_attributes": [],
            "attributes": {"FACILITY": "user"},
        }
        assert [row["body"][-7:] for row in rows] == ["shard=1", "shard=2", "shard=3"]

    def test_single_line_without_final_newline(self) -> None:
        (row,) = _rows((FIXTURES / "syslogng_http_1.ndjson").read_bytes())
        assert (row["body"], row["timestamp"]) == ("boot line", 1795700528_000000000)

    def test_program_field(self) -> None:
        row = _row(PROGRAM="nginx", MESSAGE="m", HOST="h", PRIORITY="err", PID="12")
        assert (row["service"], row["severity_number"]) == ("nginx", 17)
        assert row["attributes"] == {"PID": "12"}


class TestOwnFormat:
    def test_documented_fields(self) -> None:
        row = _row(
            timestamp="2024-05-01T10:00:00.123456789Z",
            service="checkout",
            level="error",
            message="card declined",
            order_id=1234,
            user={"id": "u1", "plan": "pro"},
        )
        assert row == {
            "timestamp": 1714557600_123456789,
            "observed_timestamp": RECEIVED_NS,
            "service": "checkout",
            "environment": "",
            "host": "",
            "severity_text": "error",
            "severity_number": 17,
            "body": "card declined",
            "trace_id": "",
            "span_id": "",
            "scope": "",
            "resource_attributes": [],
            "attributes": {"order_id": "1234", "user.id": "u1", "user.plan": "pro"},
        }

    def test_environment_host_and_trace(self) -> None:
        row = _row(message="m", env="prod", hostname="h1", trace_id="abc", span_id="def")
        assert (row["environment"], row["host"], row["trace_id"], row["span_id"]) == (
            "prod",
            "h1",
            "abc",
            "def",
        )
        assert row["attributes"] == {}

    def test_pino_record(self) -> None:
        row = _row(level=30, time=1531171074631, msg="hello world", pid=657, hostname="mbp")
        assert (row["severity_text"], row["severity_number"]) == ("info", 9)
        assert (row["timestamp"], row["body"], row["host"]) == (
            1531171074631_000000,
            "hello world",
            "mbp",
        )
        assert row["attributes"] == {"pid": "657"}

    def test_record_without_timestamp_gets_the_receive_time(self) -> None:
        assert _row(message="m")["timestamp"] == RECEIVED_NS

    def test_blank_lines_crlf_and_bom(self) -> None:
        body = b'\xef\xbb\xbf{"message":"a"}\r\n\r\n  \n{"message":"b"}\r\n'
        assert [row["body"] for row in _rows(body)] == ["a", "b"]

    def test_empty_body(self) -> None:
        assert _rows(b"") == []

    @pytest.mark.parametrize(
        ("value", "timestamp"),
        [
            ("2024-05-01T10:00:00Z", 1714557600_000000000),
            ("2024-05-01T10:00:00z", 1714557600_000000000),
            ("2024-05-01t10:00:00", 1714557600_000000000),
            ("2024-05-01T10:00:00+0200", 1714550400_000000000),
            ("2024-05-01T10:00:00-05:30", 1714577400_000000000),
            ("2024-05-01T10:00", 1714557600_000000000),
            ("2024-05-01", 1714521600_000000000),
            ("2024-05-01T10:00:00,5Z", 1714557600_500000000),
            ("2024-05-01T10:00:00.1234567891234Z", 1714557600_123456789),
            ("1969-12-31T23:59:59Z", -1_000000000),
            (1714557600000, 1714557600_000000000),
            (1714557600000.25, 1714557600_000250000),
            ("-1.5", -1_500000),
            (0, 0),
        ],
    )
    def test_timestamp_formats(self, value: Any, timestamp: int) -> None:
        assert _row(timestamp=value, message="m")["timestamp"] == timestamp


class TestAllOrNothing:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (
                b'{"message":"a"}\n{"message": "b",}\n',
                "line 2: not valid JSON (Expecting property name enclosed in double quotes at "
                "column 17)",
            ),
            (b'{"message":"a"}\n\n[1]', "line 3: expected a JSON object, got an array"),
            (b'"text"', "line 1: expected a JSON object, got a string"),
            (b'{"a": NaN}', "line 1: not valid JSON (NaN is not a JSON value)"),
            (b'{"message":"\xff"}', "line 1: not valid UTF-8 (byte 12)"),
            (b'{"m":"\\ud800"}', "line 1: a string has an unpaired surrogate escape"),
            (
                b'{"timestamp":"soon"}',
                'line 1: timestamp: cannot parse "soon" as a timestamp (expected ISO 8601 or '
                "epoch milliseconds)",
            ),
            (
                b'{"@timestamp":"2024-02-30T00:00:00Z"}',
                'line 1: @timestamp: "2024-02-30T00:00:00Z" is not a valid date (day is out of '
                "range for month)",
            ),
            (b'{"time":"2024-05-01T25:00:00Z"}', "line 1: time: "),
            (b'{"time":true}', "line 1: time: cannot parse true as a timestamp"),
            (b'{"time":[1]}', "line 1: time: cannot parse [1] as a timestamp"),
            (
                b'{"time":99999999999999999}',
                "line 1: time: 99999999999999999 is outside the years 1677-2262",
            ),
            (b'{"time":"9999-01-01"}', 'line 1: time: "9999-01-01" is outside the years'),
            (b'{"time":"' + b"1" * 30 + b'"}', "line 1: time: cannot parse"),
            (b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}", "line 1: not valid JSON ("),
        ],
    )
    def test_one_bad_line_rejects_the_request(self, body: bytes, message: str) -> None:
        with pytest.raises(DecodeError) as error:
            decode_ndjson_logs(body)
        assert str(error.value).startswith(message)

    def test_good_lines_before_a_bad_one_are_not_kept(self) -> None:
        body = b'{"message":"a"}\n{"message":"b"}\n{"message":"c",\n'
        with pytest.raises(DecodeError, match=r"^line 3: not valid JSON"):
            decode_ndjson_logs(body)

    def test_line_numbers_count_blank_lines(self) -> None:
        body = b'{"message":"a"}\n\n\n{"time":"x"}\n'
        with pytest.raises(DecodeError, match=r"^line 4: time: "):
            decode_ndjson_logs(body)

    def test_surrogate_pairs_are_fine(self) -> None:
        assert _rows(b'{"message":"\\ud83d\\ude00"}')[0]["body"] == "😀"

    def test_unicode_digits_are_not_numbers(self) -> None:
        row = _row(level="\u0663", message="m")  # ARABIC-INDIC DIGIT THREE
        assert (row["severity_text"], row["severity_number"]) == ("\u0663", 0)
        with pytest.raises(DecodeError, match="cannot parse"):
            decode_ndjson_logs(json.dumps({"time": "\u0661\u0662"}).encode())

"""Elasticsearch bulk decoding and the bulk reply, with bodies captured from rsyslog."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from fullcycle.ingest.elastic_bulk import BulkDecoded, bulk_reply, decode_bulk
from fullcycle.ingest.errors import DecodeError

FIXTURES = Path(__file__).parent / "fixtures" / "shippers"
RECEIVED_NS = 1_800_000_000_000_000_000
AUTO_ID = re.compile(r"[A-Za-z0-9_-]{20}")


def _decode(body: bytes, **options: Any) -> BulkDecoded:
    return decode_bulk(body, received_ns=RECEIVED_NS, **options)


def _rows(decoded: BulkDecoded) -> list[dict[str, Any]]:
    (batch,) = decoded.batches
    return [
        {
            **row,
            "timestamp": batch.columns["timestamp"][index],
            "observed_timestamp": batch.columns["observed_timestamp"][index],
            "attributes": dict(row["attributes"]),
        }
        for index, row in enumerate(batch.to_arrow().to_pylist())
    ]


def _bulk(*lines: dict[str, Any] | str) -> bytes:
    return "".join(
        (line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines
    ).encode()


def _document(**fields: Any) -> bytes:
    return _bulk({"index": {"_index": "logs"}}, fields)


class TestRsyslogCaptures:
    def test_every_column_of_the_first_document(self) -> None:
        decoded = _decode((FIXTURES / "rsyslog_es_bulk_2.ndjson").read_bytes())
        assert (decoded.accepted, decoded.rejected, decoded.message) == (3, 0, "")
        assert _rows(decoded)[0] == {
            "timestamp": 1795700422044677000,  # 2026-11-26T13:40:22.044677+00:00
            "observed_timestamp": RECEIVED_NS,
            "service": "app",  # from "tag": "app:"
            "environment": "",
            "host": "vm",
            "severity_text": "",
            "severity_number": 0,
            "body": 'level=info msg="user login" user=u1 latency_ms=7',
            "trace_id": "",
            "span_id": "",
            "scope": "",
            "resource_attributes": [],
            "attributes": {"tag": "app:"},
        }

    def test_all_documents_in_order(self) -> None:
        rows = _rows(_decode((FIXTURES / "rsyslog_es_bulk_2.ndjson").read_bytes()))
        assert [(row["timestamp"], row["body"]) for row in rows] == [
            (1795700422044677000, 'level=info msg="user login" user=u1 latency_ms=7'),
            (1795700422046364000, 'level=info msg="user login" user=u2 latency_ms=14'),
            (1795700422046376000, 'level=info msg="user login" user=u3 latency_ms=21'),
        ]

    def test_single_document_request(self) -> None:
        decoded = _decode((FIXTURES / "rsyslog_es_bulk_1.ndjson").read_bytes())
        (row,) = _rows(decoded)
        assert (row["body"], row["service"], row["host"]) == (
            "first line before start",
            "app",
            "vm",
        )
        assert row["timestamp"] == 1795700420057024000

    def test_reply_has_the_shape_elasticsearch_gives(self) -> None:
        decoded = _decode((FIXTURES / "rsyslog_es_bulk_2.ndjson").read_bytes())
        reply = bulk_reply(decoded, took_ms=4)
        assert list(reply) == ["took", "errors", "items"]
        assert (reply["took"], reply["errors"], len(reply["items"])) == (4, False, 3)
        ids = [item["index"]["_id"] for item in reply["items"]]
        assert all(AUTO_ID.fullmatch(item_id) for item_id in ids)
        assert len(set(ids)) == 3
        for sequence_number, item in enumerate(reply["items"]):
            assert list(item) == ["index"]
            assert {**item["index"], "_id": "x"} == {
                "_id": "x",
                "_index": "applogs",
                "_version": 1,
                "result": "created",
                "_shards": {"total": 1, "successful": 1, "failed": 0},
                "_seq_no": sequence_number,
                "_primary_term": 1,
                "status": 201,
            }
        json.dumps(reply)


class TestActions:
    BODY = _bulk(
        {"delete": {"_index": "logs", "_id": "d1"}},
        {"update": {"_index": "logs", "_id": "u1"}},
        {"doc": {"message": "changed"}},
        {"create": {"_index": "logs", "_id": "c1"}},
        {"message": "created", "@timestamp": "2024-05-01T10:00:00Z"},
        {"index": {}},
        {"message": "bad time", "@timestamp": "yesterday"},
        {"index": {"_index": "other"}},
        "[1, 2]",
        {"index": {"_id": 7}},
        {"message": "second"},
    )

    def test_outcomes_in_request_order(self) -> None:
        decoded = _decode(self.BODY, default_index="fallback")
        assert (decoded.accepted, decoded.rejected) == (2, 4)
        assert [(i.action, i.index, i.error_type) for i in decoded.items] == [
            ("delete", "logs", "illegal_argument_exception"),
            ("update", "logs", "illegal_argument_exception"),
            ("create", "logs", ""),
            ("index", "fallback", "mapper_parsing_exception"),
            ("index", "other", "mapper_parsing_exception"),
            ("index", "fallback", ""),
        ]
        assert [row["body"] for row in _rows(decoded)] == ["created", "second"]

    def test_error_items(self) -> None:
        reply = bulk_reply(_decode(self.BODY), took_ms=1)
        assert reply["errors"] is True
        assert reply["items"][0] == {
            "delete": {
                "_index": "logs",
                "_id": "d1",
                "status": 400,
                "error": {
                    "type": "illegal_argument_exception",
                    "reason": "line 1: the bulk action [delete] is not supported: fullcycle "
                    "stores log documents (index and create) and does not change them",
                },
            }
        }
        bad_time = reply["items"][3]["index"]
        assert bad_time["status"] == 400
        assert bad_time["error"] == {
            "type": "mapper_parsing_exception",
            "reason": 'failed to parse document: line 7: @timestamp: cannot parse "yesterday" '
            "as a timestamp (expected ISO 8601 or epoch milliseconds)",
        }
        assert reply["items"][4]["index"]["error"]["reason"] == (
            "failed to parse document: line 9: expected a JSON object, got an array"
        )

    def test_success_items_echo_given_ids_and_count_sequence_numbers(self) -> None:
        items = bulk_reply(_decode(self.BODY), took_ms=1)["items"]
        assert items[2]["create"]["_id"] == "c1"
        assert items[5]["index"]["_id"] == "7"
        assert [items[2]["create"]["_seq_no"], items[5]["index"]["_seq_no"]] == [0, 1]

    def test_message_summarises_the_rejections(self) -> None:
        message = _decode(self.BODY).message
        assert message.startswith("line 1: the bulk action [delete] is not supported")
        assert message.endswith("; and 1 more")


class TestFraming:
    def test_final_newline_may_be_missing(self) -> None:
        body = _document(message="a").rstrip(b"\n")
        assert _rows(_decode(body))[0]["body"] == "a"

    def test_crlf_and_blank_lines(self) -> None:
        body = b'\r\n{"index":{}}\r\n\r\n{"message":"a"}\r\n\r\n{"create":{}}\r\n{"message":"b"}'
        assert [row["body"] for row in _rows(_decode(body))] == ["a", "b"]

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"", "the bulk body has no actions"),
            (b"\n\n", "the bulk body has no actions"),
            (b'{"index":{}', "line 1: not valid JSON ("),
            (b'{"index":{}}\n{"message":"a"}\n{"index":', "line 3: not valid JSON ("),
            (b'"index"\n{}', "line 1: expected a JSON object, got a string"),
            (b'{"upsert":{}}\n{}', "line 1: unknown bulk action [upsert]: expected one of"),
            (b'{"index":{},"create":{}}\n{}', "line 1: malformed action/metadata line"),
            (b"{}\n{}", "line 1: malformed action/metadata line"),
            (b'{"index":"logs"}\n{}', "line 1: malformed action/metadata line: [index] must"),
            (b'{"index":{}}\n{}\n{"index":{}}', "line 3: the index action has no document line"),
            (b'{"index":{"_id":{"a":1}}}\n{}', "line 1: _id must be a string, got an object"),
            (b'{"index":{}}\n\xff', None),
        ],
    )
    def test_malformed_requests_fail_as_a_whole(self, body: bytes, message: str | None) -> None:
        if message is None:
            decoded = _decode(body)
            assert decoded.items[0].error_reason == (
                "failed to parse document: line 2: not valid UTF-8 (byte 0)"
            )
            return
        with pytest.raises(DecodeError) as error:
            _decode(body)
        assert str(error.value).startswith(message)


class TestDocumentFields:
    """Field placement for what rsyslog, syslog-ng and ECS-style shippers put in documents."""

    def _row(self, **fields: Any) -> dict[str, Any]:
        return _rows(_decode(_document(**fields)))[0]

    def test_rsyslog_plain_syslog_template(self) -> None:
        row = self._row(
            **{
                "@timestamp": "2024-05-01T12:00:00.5+02:00",
                "host": "db-1",
                "severity-num": 3,
                "facility-num": 1,
                "severity": "err",
                "facility": "user",
                "syslogtag": "postgres[812]:",
                "programname": "postgres",
                "message": " connection refused",
            }
        )
        assert row["timestamp"] == 1714557600_500000000
        assert (row["service"], row["host"], row["body"]) == (
            "postgres",
            "db-1",
            " connection refused",
        )
        assert (row["severity_text"], row["severity_number"]) == ("err", 17)
        assert row["attributes"] == {
            "severity-num": "3",
            "facility-num": "1",
            "facility": "user",
            "syslogtag": "postgres[812]:",
        }

    @pytest.mark.parametrize(
        ("tag", "service"),
        [("sshd[42]:", "sshd"), ("cron:", "cron"), ("kernel", "kernel"), ("  app: ", "app")],
    )
    def test_service_from_syslog_tag(self, tag: str, service: str) -> None:
        assert self._row(syslogtag=tag, message="m")["service"] == service

    def test_service_field_order(self) -> None:
        row = self._row(app="a", program="p", service="s", syslogtag="t:")
        assert row["service"] == "s"
        assert row["attributes"] == {"app": "a", "program": "p", "syslogtag": "t:"}

    def test_ecs_document(self) -> None:
        row = self._row(
            **{
                "@timestamp": "2024-05-01T10:00:00.123Z",
                "message": "GET /",
                "log": {"level": "warn", "logger": "http"},
                "service": {"name": "shop", "version": "1.2"},
                "host": {"name": "web-3", "ip": ["10.0.0.3"]},
                "trace": {"id": "4bf92f3577b34da6a3ce929d0e0e4736"},
                "span": {"id": "00f067aa0ba902b7"},
                "http": {"response": {"status_code": 200}},
            }
        )
        assert (row["service"], row["host"], row["severity_number"]) == ("shop", "web-3", 13)
        assert (row["trace_id"], row["span_id"]) == (
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        )
        assert row["attributes"] == {
            "log.logger": "http",
            "service.version": "1.2",
            "host.ip": '["10.0.0.3"]',
            "http.response.status_code": "200",
        }

    def test_non_strings_as_json(self) -> None:
        row = self._row(message=42, ok=True, none=None, ratio=0.25, tags=["a", "é"], empty={})
        assert row["body"] == "42"
        assert row["attributes"] == {
            "ok": "true",
            "none": "null",
            "ratio": "0.25",
            "tags": '["a","é"]',
            "empty": "{}",
        }

    @pytest.mark.parametrize(
        ("fields", "timestamp"),
        [
            ({"@timestamp": "2024-05-01T10:00:00Z"}, 1714557600_000000000),
            ({"@timestamp": "2024-05-01T10:00:00"}, 1714557600_000000000),
            ({"timestamp": "2024-05-01 10:00:00.25"}, 1714557600_250000000),
            ({"time": 1714557600123}, 1714557600_123000000),
            ({"time": "1714557600123"}, 1714557600_123000000),
            ({"ISODATE": "2024-05-01T12:00:00+02:00"}, 1714557600_000000000),
            ({}, RECEIVED_NS),
            ({"@timestamp": None}, RECEIVED_NS),
        ],
    )
    def test_timestamps(self, fields: dict[str, Any], timestamp: int) -> None:
        assert self._row(message="m", **fields)["timestamp"] == timestamp

    @pytest.mark.parametrize(
        ("fields", "severity"),
        [
            ({"PRIORITY": "notice"}, ("notice", 10)),
            ({"severity": "emerg"}, ("emerg", 21)),
            ({"severity": "alert"}, ("alert", 19)),
            ({"severity": "crit"}, ("crit", 18)),
            ({"severity": "warning"}, ("warning", 13)),
            ({"severity": "debug"}, ("debug", 5)),
            ({"severity": 4}, ("warning", 13)),
            ({"PRIORITY": "6"}, ("info", 9)),
            ({"level": "ERROR", "severity": "info"}, ("ERROR", 17)),
        ],
    )
    def test_levels(self, fields: dict[str, Any], severity: tuple[str, int]) -> None:
        row = self._row(message="m", **fields)
        assert (row["severity_text"], row["severity_number"]) == severity

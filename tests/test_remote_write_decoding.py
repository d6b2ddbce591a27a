"""Prometheus remote_write decoding: a body captured from a real Prometheus, and hand-made ones."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import cramjam
import pytest

from fullcycle.ingest.compression import BodyTooLarge
from fullcycle.ingest.errors import DecodeError
from fullcycle.ingest.prometheus_proto import WriteRequest
from fullcycle.ingest.remote_write import decode_remote_write

FIXTURES = Path(__file__).parent / "fixtures" / "shippers"
CAPTURED = FIXTURES / "prom_remote_write.bin"
CAPTURED_AT_MS = 1795700339748  # 2026-11-26T13:38:59.748Z, the scrape in the capture

STALE_NAN_BITS = 0x7FF0000000000002
GO_NAN_BITS = 0x7FF8000000000001


def _bits(value: float) -> int:
    return int.from_bytes(struct.pack("<d", value), "little")


def _float(bits: int) -> float:
    return float(struct.unpack("<d", bits.to_bytes(8, "little"))[0])


def _rows(body: bytes) -> list[dict[str, Any]]:
    decoded = decode_remote_write(body)
    (batch,) = decoded.batches
    return [
        {**row, "labels": dict(row["labels"]), "timestamp": batch.columns["timestamp"][index]}
        for index, row in enumerate(batch.to_arrow().to_pylist())
    ]


def _snappy(message: Any) -> bytes:
    return bytes(cramjam.snappy.compress_raw(message.SerializeToString()))


def _series(request: Any, labels: dict[str, str], *samples: tuple[float, int]) -> Any:
    series = request.timeseries.add()
    for name, value in labels.items():
        series.labels.add(name=name, value=value)
    for value, timestamp in samples:
        series.samples.add(value=value, timestamp=timestamp)
    return series


# A protobuf wire encoder small enough to check the field numbers independently of our
# descriptors (Prometheus' prompb: WriteRequest.metadata is 3, field 2 is reserved).
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _double_field(number: int, value: float) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", value)


def _label(name: str, value: str) -> bytes:
    return _bytes_field(1, name.encode()) + _bytes_field(2, value.encode())


class TestCapturedPrometheusBody:
    def test_the_capture_is_the_request_its_headers_describe(self) -> None:
        lines = (FIXTURES / "prom_remote_write_requests.jsonl").read_text().splitlines()
        request = json.loads(lines[1])
        assert request["path"] == "/api/v1/write"
        assert request["headers"]["Content-Encoding"] == "snappy"
        assert request["headers"]["X-Prometheus-Remote-Write-Version"] == "0.1.0"
        assert request["body_len"] == CAPTURED.stat().st_size

    def test_every_series_is_one_sample(self) -> None:
        decoded = decode_remote_write(CAPTURED.read_bytes())
        assert (decoded.accepted, decoded.rejected, decoded.message) == (383, 0, "")
        assert len(decoded.batches[0]) == 383

    def test_first_series_in_every_column(self) -> None:
        assert _rows(CAPTURED.read_bytes())[0] == {
            "metric": "go_gc_duration_seconds",
            "type": "",
            "unit": "",
            "service": "self",
            "labels": {"instance": "127.0.0.1:19090", "job": "self", "quantile": "0"},
            "timestamp": CAPTURED_AT_MS,
            "value": 4.6319e-05,
        }

    def test_concrete_values(self) -> None:
        by_series = {
            (row["metric"], tuple(sorted(row["labels"].items()))): row["value"]
            for row in _rows(CAPTURED.read_bytes())
        }
        target = (("instance", "127.0.0.1:19090"), ("job", "self"))
        assert by_series["prometheus_notifications_queue_capacity", target] == 10000.0
        assert by_series["scrape_series_added", target] == 378.0
        assert by_series["go_gc_duration_seconds", (*target, ("quantile", "0.25"))] == 0.000131856

    def test_metric_name_is_a_column_not_a_label(self) -> None:
        rows = _rows(CAPTURED.read_bytes())
        assert all("__name__" not in row["labels"] for row in rows)
        assert {row["service"] for row in rows} == {"self"}
        assert {row["timestamp"] for row in rows} == {CAPTURED_AT_MS}
        assert sum("le" in row["labels"] for row in rows) == 80

    def test_nan_quantiles_keep_their_bits(self) -> None:
        rows = _rows(CAPTURED.read_bytes())
        nans = [row for row in rows if math.isnan(row["value"])]
        assert len(nans) == 26
        assert {_bits(row["value"]) for row in nans} == {GO_NAN_BITS}
        assert nans[0]["metric"] == "prometheus_engine_query_duration_seconds"
        assert nans[0]["labels"]["slice"] == "inner_eval"


class TestSamples:
    def test_stale_marker_is_stored_bit_for_bit(self) -> None:
        request = WriteRequest()
        _series(request, {"__name__": "up", "job": "api"}, (_float(STALE_NAN_BITS), 1000))
        decoded = decode_remote_write(_snappy(request))
        column = decoded.batches[0].to_arrow().column("value")
        assert _bits(column[0].as_py()) == STALE_NAN_BITS

    def test_several_samples_and_series(self) -> None:
        request = WriteRequest()
        _series(request, {"__name__": "a", "job": "x"}, (1.0, 10), (2.0, 20))
        _series(request, {"__name__": "b", "job": "x"}, (-3.5, -5))
        rows = _rows(_snappy(request))
        assert [(r["metric"], r["timestamp"], r["value"]) for r in rows] == [
            ("a", 10, 1.0),
            ("a", 20, 2.0),
            ("b", -5, -3.5),
        ]

    @pytest.mark.parametrize(
        ("labels", "service"),
        [
            ({"job": "j", "service": "s", "service_name": "sn"}, "s"),
            ({"job": "j", "service_name": "sn"}, "sn"),
            ({"job": "j"}, "j"),
            ({"instance": "h:1"}, "unknown_service"),
            ({"job": ""}, "unknown_service"),
        ],
    )
    def test_service_label(self, labels: dict[str, str], service: str) -> None:
        request = WriteRequest()
        _series(request, {"__name__": "m", **labels}, (1.0, 1))
        assert _rows(_snappy(request))[0]["service"] == service

    def test_empty_label_values_are_no_labels(self) -> None:
        request = WriteRequest()
        _series(request, {"__name__": "m", "job": "j", "empty": ""}, (1.0, 1))
        assert _rows(_snappy(request))[0]["labels"] == {"job": "j"}

    def test_exemplars_are_dropped(self) -> None:
        request = WriteRequest()
        series = _series(request, {"__name__": "m_total"}, (5.0, 1))
        exemplar = series.exemplars.add(value=1.0, timestamp=1)
        exemplar.labels.add(name="trace_id", value="abc")
        decoded = decode_remote_write(_snappy(request))
        assert (decoded.accepted, decoded.rejected) == (1, 0)


class TestMetadata:
    def test_type_and_unit_by_family_from_wire_bytes(self) -> None:
        counter = (
            _varint_field(1, 1)
            + _bytes_field(2, b"http_requests_total")
            + _bytes_field(4, b"Requests.")
            + _bytes_field(5, b"requests")
        )
        histogram = _varint_field(1, 3) + _bytes_field(2, b"latency_seconds")
        histogram += _bytes_field(5, b"seconds")

        def series(name: str, value: float) -> bytes:
            sample = _double_field(1, value) + _varint_field(2, 1234)
            return _bytes_field(1, _label("__name__", name)) + _bytes_field(2, sample)

        body = (
            _bytes_field(1, series("http_requests_total", 7.0))
            + _bytes_field(1, series("latency_seconds_bucket", 3.0))
            + _bytes_field(1, series("latency_seconds_sum", 0.5))
            + _bytes_field(1, series("other", 1.0))
            + _bytes_field(3, counter)
            + _bytes_field(3, histogram)
        )
        rows = _rows(bytes(cramjam.snappy.compress_raw(body)))
        assert [(r["metric"], r["type"], r["unit"], r["value"]) for r in rows] == [
            ("http_requests_total", "counter", "requests", 7.0),
            ("latency_seconds_bucket", "histogram", "seconds", 3.0),
            ("latency_seconds_sum", "histogram", "seconds", 0.5),
            ("other", "", "", 1.0),
        ]
        assert {r["timestamp"] for r in rows} == {1234}

    def test_metadata_only_request(self) -> None:
        request = WriteRequest()
        request.metadata.add(type=2, metric_family_name="g")
        decoded = decode_remote_write(_snappy(request))
        assert (decoded.accepted, decoded.rejected) == (0, 0)


class TestRejectedSeries:
    def test_native_histograms_are_counted_as_rejected(self) -> None:
        histogram = _varint_field(1, 10) + _double_field(3, 2.5) + _varint_field(15, 99)
        series = _bytes_field(1, _label("__name__", "rpc_seconds")) + _bytes_field(4, histogram)
        series += _bytes_field(4, histogram)
        decoded = decode_remote_write(bytes(cramjam.snappy.compress_raw(_bytes_field(1, series))))
        assert (decoded.accepted, decoded.rejected) == (0, 2)
        assert "timeseries[0] (rpc_seconds): native histogram samples are not stored" in (
            decoded.message
        )

    def test_series_without_name_or_with_repeated_label(self) -> None:
        request = WriteRequest()
        _series(request, {"job": "x"}, (1.0, 1), (2.0, 2))
        _series(request, {"__name__": "ok"}, (1.0, 1))
        bad = _series(request, {"__name__": "dup", "a": "1"}, (1.0, 1))
        bad.labels.add(name="a", value="2")
        decoded = decode_remote_write(_snappy(request))
        assert (decoded.accepted, decoded.rejected) == (1, 3)
        assert "timeseries[0]: the series has no metric name (label __name__)" in decoded.message
        assert "timeseries[2]: the series dup repeats a label name" in decoded.message

    def test_empty_label_name(self) -> None:
        request = WriteRequest()
        _series(request, {"__name__": "m", "": "v"}, (1.0, 1))
        decoded = decode_remote_write(_snappy(request))
        assert decoded.rejected == 1
        assert "has a label with an empty name" in decoded.message


class TestMalformedBodies:
    def test_not_snappy(self) -> None:
        with pytest.raises(DecodeError, match="corrupt snappy body"):
            decode_remote_write(b"not snappy at all")

    def test_uncompressed_protobuf_is_refused(self) -> None:
        request = WriteRequest()
        _series(request, {"__name__": "m"}, (1.0, 1))
        with pytest.raises(DecodeError):
            decode_remote_write(request.SerializeToString())

    def test_snappy_of_garbage(self) -> None:
        with pytest.raises(DecodeError, match=r"not a valid prometheus\.WriteRequest"):
            decode_remote_write(bytes(cramjam.snappy.compress_raw(b"\x0a\xff\xff\xff")))

    def test_label_that_is_not_utf8(self) -> None:
        body = _bytes_field(
            1, _bytes_field(1, _bytes_field(1, b"__name__") + _bytes_field(2, b"\xff"))
        )
        with pytest.raises(DecodeError, match="WriteRequest"):
            decode_remote_write(bytes(cramjam.snappy.compress_raw(body)))

    def test_decompressed_size_limit(self) -> None:
        with pytest.raises(BodyTooLarge):
            decode_remote_write(CAPTURED.read_bytes(), max_decompressed_bytes=1000)

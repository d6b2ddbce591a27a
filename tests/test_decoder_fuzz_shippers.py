"""Fuzzing the shipper decoders: random and mutated bodies may only raise DecodeError.

Every format gets a few thousand bodies from a fixed seed: mutations of real captures and of
hand-made bodies (bytes flipped, cut, repeated, spliced; for protobuf the message is mutated
before snappy, so that the mutations reach the protobuf and label parsers; for JSON, values
are also swapped for values of other types) and plain random bytes; fullcycle's own table
batches (what `fullcycle worker` sends) are fuzzed the same way. A body that decodes must
give batches that convert to Arrow, because that is what the store does with them next.
BodyTooLarge is the other exception a decoder may raise by design (413, not 400): it is allowed
for the bodies whose snappy header claims more than the limit.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cramjam
import pytest

from fullcycle.ingest.compression import BodyTooLarge
from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.elastic_bulk import decode_bulk
from fullcycle.ingest.errors import DecodeError
from fullcycle.ingest.loki import decode_loki_push, parse_label_string
from fullcycle.ingest.ndjson_logs import decode_ndjson_logs
from fullcycle.ingest.prometheus_proto import PushRequest, WriteRequest
from fullcycle.ingest.remote_write import decode_remote_write
from fullcycle.ingest.table_batches import decode_table_batches
from fullcycle.telemetry.batches import LogBatch, SpanBatch
from fullcycle.telemetry.payloads import encode_batches

FIXTURES = Path(__file__).parent / "fixtures" / "shippers"
SEED = 20261126
BODIES_PER_FORMAT = 3000
LIMIT = 1 << 20

INTERESTING_BYTES = b'\x00\x01\x7f\x80\xff{}[]",:\\\n\r `=0123456789eE.-+tfnu'
INTERESTING_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    -(2**70),
    1e308,
    -0.0,
    0.5,
    "",
    "\ud83d\ude00",
    "é",
    "\x00",
    "1714557600000",
    "2024-02-30T00:00:00Z",
    "9999-12-31T23:59:59.999999999+14:00",
    "info",
    "sshd[1]:",
    "{",
    [],
    {},
    [1, "a", None],
    {"nested": {"deeper": [1, {"x": "y"}]}},
]


def _mutate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """One to four random edits of `data`."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(7)
        position = rng.randrange(len(out) + 1)
        if choice == 0 and out:
            out[min(position, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            out[position:position] = bytes([rng.choice(INTERESTING_BYTES)])
        elif choice == 2:
            del out[position : position + rng.randint(1, 16)]
        elif choice == 3:
            out = out[:position]
        elif choice == 4:
            out[position:position] = out[position : position + rng.randint(1, 64)]
        elif choice == 5:
            other = rng.choice(others)
            start = rng.randrange(len(other) + 1)
            out[position:position] = other[start : start + rng.randint(1, 64)]
        else:
            out[position:position] = rng.randbytes(rng.randint(1, 8))
    return bytes(out)


def _random_value(rng: random.Random) -> Any:
    if rng.random() < 0.7:
        return rng.choice(INTERESTING_VALUES)
    return "".join(chr(rng.choice((rng.randrange(32, 127), rng.randrange(0x10000)))) for _ in "ab")


def _mutate_json(value: Any, rng: random.Random) -> Any:
    """`value` with one node somewhere inside replaced by a value of any JSON type."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        return {**value, key: _mutate_json(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.8:
        index = rng.randrange(len(value))
        return [*value[:index], _mutate_json(value[index], rng), *value[index + 1 :]]
    return _random_value(rng)


def _check(decode: Callable[[bytes], Decoded], body: bytes) -> None:
    try:
        decoded = decode(body)
    except (DecodeError, BodyTooLarge):
        return
    assert decoded.accepted == sum(len(batch) for batch in decoded.batches)
    for batch in decoded.batches:
        batch.to_arrow()


def _fuzz(
    decode: Callable[[bytes], Decoded],
    seeds: list[bytes],
    rng: random.Random,
    variants: list[Callable[[random.Random], bytes]],
) -> None:
    for seed in seeds:
        _check(decode, seed)
    for _ in range(BODIES_PER_FORMAT):
        roll = rng.random()
        if roll < 0.05:
            body = rng.randbytes(rng.randint(0, 200))
        elif roll < 0.5 or not variants:
            body = _mutate(rng.choice(seeds), rng, seeds)
        else:
            body = rng.choice(variants)(rng)
        _check(decode, body)


def _write_request() -> bytes:
    request = WriteRequest()
    series = request.timeseries.add()
    for name, value in (("__name__", "rpc_seconds_bucket"), ("job", "api"), ("le", "0.5")):
        series.labels.add(name=name, value=value)
    series.samples.add(value=3.0, timestamp=1714557600000)
    series.exemplars.add(value=0.2, timestamp=1714557600000).labels.add(name="trace_id", value="a")
    histogram = series.histograms.add(count_int=3, sum=1.5, schema=3, timestamp=1714557600000)
    histogram.positive_spans.add(offset=0, length=2)
    histogram.positive_deltas.extend([1, 1])
    request.metadata.add(type=3, metric_family_name="rpc_seconds", unit="seconds")
    return request.SerializeToString()


def _push_request() -> bytes:
    request = PushRequest()
    stream = request.streams.add(labels='{app="api", level="info", msg="a \\"b\\", c\\n"}')
    entry = stream.entries.add(line="GET / 200")
    entry.timestamp.seconds = 1714557600
    entry.timestamp.nanos = 5
    entry.structuredMetadata.add(name="trace_id", value="abc")
    request.streams.add(labels="{}").entries.add(line="no time")
    return request.SerializeToString()


def _snappy(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


def test_remote_write() -> None:
    rng = random.Random(SEED)
    captured = (FIXTURES / "prom_remote_write.bin").read_bytes()
    protobufs = [_write_request(), bytes(cramjam.snappy.decompress_raw(captured))[:2000]]

    def mutated_protobuf(rng: random.Random) -> bytes:
        return _snappy(_mutate(rng.choice(protobufs), rng, protobufs))

    def decode(body: bytes) -> Decoded:
        return decode_remote_write(body, max_decompressed_bytes=LIMIT)

    _fuzz(decode, [captured, _snappy(protobufs[0])], rng, [mutated_protobuf])


def test_loki_protobuf() -> None:
    rng = random.Random(SEED + 1)
    protobufs = [_push_request()]

    def mutated_protobuf(rng: random.Random) -> bytes:
        return _snappy(_mutate(protobufs[0], rng, protobufs))

    def mutated_labels(rng: random.Random) -> bytes:
        request = PushRequest()
        request.ParseFromString(protobufs[0])
        labels = request.streams[0].labels.encode()
        request.streams[0].labels = _mutate(labels, rng, [labels]).decode("utf-8", "replace")
        return _snappy(request.SerializeToString())

    def decode(body: bytes) -> Decoded:
        return decode_loki_push(body, "application/x-protobuf", None, max_decompressed_bytes=LIMIT)

    _fuzz(decode, [_snappy(protobufs[0])], rng, [mutated_protobuf, mutated_labels])


def test_loki_json() -> None:
    rng = random.Random(SEED + 2)
    document = {
        "streams": [
            {
                "stream": {"service_name": "api", "level": "warn", "host": "h"},
                "values": [["1714557600000000001", "line"], ["2", "x", {"trace_id": "t"}]],
            },
            {"stream": {"job": "j"}, "values": []},
        ]
    }
    seeds = [json.dumps(document).encode()]

    def mutated_json(rng: random.Random) -> bytes:
        return json.dumps(_mutate_json(document, rng)).encode()

    def decode(body: bytes) -> Decoded:
        return decode_loki_push(body, "application/json", None, max_decompressed_bytes=LIMIT)

    _fuzz(decode, seeds, rng, [mutated_json])


def _json_lines_variants(
    records: list[Any], join: Callable[[list[Any]], bytes]
) -> list[Callable[[random.Random], bytes]]:
    def mutated_record(rng: random.Random) -> bytes:
        index = rng.randrange(len(records))
        return join([*records[:index], _mutate_json(records[index], rng), *records[index + 1 :]])

    def shuffled_lines(rng: random.Random) -> bytes:
        chosen = [rng.choice(records) for _ in range(rng.randint(0, 6))]
        return join(chosen)

    return [mutated_record, shuffled_lines]


def _ndjson(records: list[Any]) -> bytes:
    return b"\n".join(json.dumps(record).encode() for record in records)


def test_elastic_bulk() -> None:
    rng = random.Random(SEED + 3)
    captured = (FIXTURES / "rsyslog_es_bulk_2.ndjson").read_bytes()
    records: list[Any] = [
        {"index": {"_index": "applogs", "_type": "events"}},
        {"@timestamp": "2026-11-26T13:40:22.044677+00:00", "host": "vm", "tag": "app:"},
        {"create": {"_id": "1"}},
        {"message": "m", "severity": "err", "log": {"level": "info"}, "time": 1714557600000},
        {"delete": {"_id": "2"}},
        {"update": {"_id": "3"}},
        {"doc": {}},
    ]
    variants = _json_lines_variants(records, _ndjson)
    _fuzz(decode_bulk, [captured, _ndjson(records)], rng, variants)


def test_ndjson() -> None:
    rng = random.Random(SEED + 4)
    captured = (FIXTURES / "syslogng_http.ndjson").read_bytes()
    records: list[Any] = [
        {"PRIORITY": "notice", "MESSAGE": "m", "ISODATE": "2026-11-26T13:42:10+00:00"},
        {"timestamp": "2024-05-01T10:00:00Z", "service": "s", "level": "error", "message": "m"},
        {"level": 30, "time": 1531171074631, "msg": "pino", "user": {"id": 1, "tags": ["a"]}},
    ]
    variants = _json_lines_variants(records, _ndjson)
    _fuzz(decode_ndjson_logs, [captured, _ndjson(records)], rng, variants)


@pytest.mark.parametrize("seed", range(3))
def test_label_strings(seed: int) -> None:
    rng = random.Random(SEED + 10 + seed)
    alphabet = '{}=",\\` \taz_09xuU.!~é'
    for _ in range(BODIES_PER_FORMAT):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        try:
            labels = parse_label_string(text)
        except DecodeError:
            continue
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())


def test_table_batches() -> None:
    rng = random.Random(SEED + 5)
    logs = LogBatch()
    logs.add(timestamp_ns=1_795_000_000_000_000_000, body="order 7 shipped", service="orders")
    spans = SpanBatch()
    spans.add(
        trace_id="ab" * 16,
        span_id="cd" * 8,
        name="GET /",
        service="orders",
        start_ns=1_795_000_000_000_000_000,
        duration_ns=5,
        events=[{"timestamp": 1_795_000_000_000_000_001, "name": "e", "attributes": {}}],
    )
    bodies = [encode_batches([logs]), encode_batches([logs, spans])]

    def mutated(rng: random.Random) -> bytes:
        return _mutate(rng.choice(bodies), rng, bodies)

    _fuzz(decode_table_batches, bodies, rng, [mutated])

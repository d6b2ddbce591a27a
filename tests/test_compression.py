"""Request bodies by Content-Encoding: round trips, corrupt data, unknown encodings, bombs."""

from __future__ import annotations

import gzip
import random
import time
import tracemalloc
import zlib
from collections.abc import Callable

import cramjam
import pytest

from fullcycle.ingest.compression import BodyTooLarge, decompress
from fullcycle.ingest.errors import DecodeError

LIMIT = 1024 * 1024
PAYLOAD = b"".join(
    b'{"level":"info","msg":"request %d done","ms":%d}\n' % (i, i % 97) for i in range(2000)
)


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "zstd": lambda data: bytes(cramjam.zstd.compress(data)),
    "snappy": lambda data: bytes(cramjam.snappy.compress_raw(data)),
}


@pytest.mark.parametrize("encoding", sorted(COMPRESSORS))
@pytest.mark.parametrize("payload", [b"", b"x", PAYLOAD], ids=["empty", "one-byte", "ndjson"])
def test_round_trip(encoding: str, payload: bytes) -> None:
    assert decompress(COMPRESSORS[encoding](payload), encoding, LIMIT) == payload


@pytest.mark.parametrize("header", [None, "", "identity", " Identity "])
def test_identity_returns_the_body(header: str | None) -> None:
    assert decompress(PAYLOAD, header, LIMIT) == PAYLOAD


def test_encoding_names_are_case_insensitive() -> None:
    assert decompress(gzip.compress(PAYLOAD), " GZip ", LIMIT) == PAYLOAD


def test_raw_deflate_without_zlib_header_is_accepted() -> None:
    assert decompress(raw_deflate(PAYLOAD), "deflate", LIMIT) == PAYLOAD


def test_framed_snappy_is_recognised_by_its_stream_identifier() -> None:
    framed = bytes(cramjam.snappy.compress(PAYLOAD))

    assert decompress(framed, "snappy", LIMIT) == PAYLOAD


def test_concatenated_gzip_members_are_one_body() -> None:
    assert decompress(gzip.compress(b"abc") + gzip.compress(b"def"), "gzip", LIMIT) == b"abcdef"


def test_stacked_encodings_are_undone_in_reverse_order() -> None:
    body = bytes(cramjam.zstd.compress(gzip.compress(PAYLOAD)))

    assert decompress(body, "gzip, zstd", LIMIT) == PAYLOAD


@pytest.mark.parametrize("encoding", ["br", "compress", "lz4", "gzip;q=1"])
def test_unknown_encoding_is_named(encoding: str) -> None:
    with pytest.raises(DecodeError, match=f"unsupported content encoding '{encoding}'"):
        decompress(PAYLOAD, encoding, LIMIT)


@pytest.mark.parametrize(
    ("encoding", "body", "message"),
    [
        ("gzip", b"", "corrupt gzip body: empty"),
        ("gzip", b"not gzip at all", r"corrupt gzip body \(.*incorrect header check"),
        ("gzip", gzip.compress(PAYLOAD)[:200], "corrupt gzip body: the data ends too early"),
        ("gzip", gzip.compress(PAYLOAD) + b"junk", r"corrupt gzip body \("),
        ("deflate", zlib.compress(PAYLOAD)[:-6], "corrupt deflate body: the data ends too early"),
        (
            "deflate",
            zlib.compress(PAYLOAD) + b"junk",
            "corrupt deflate body: 4 bytes after the end",
        ),
        ("deflate", b"\xff\xff\xff", r"corrupt deflate body \("),
        ("zstd", b"not zstd", r"corrupt zstd body \("),
        ("zstd", bytes(cramjam.zstd.compress(PAYLOAD))[:-10], r"corrupt zstd body \("),
        ("snappy", b"\xff\xff\xff\xff\xff\xff", r"corrupt snappy body \("),
        ("snappy", bytes(cramjam.snappy.compress_raw(PAYLOAD))[:-10], r"corrupt snappy body \("),
        ("snappy", bytes(cramjam.snappy.compress(PAYLOAD))[:-10], r"corrupt snappy body \("),
    ],
)
def test_corrupt_data_is_a_decode_error_naming_the_encoding(
    encoding: str, body: bytes, message: str
) -> None:
    with pytest.raises(DecodeError, match=message):
        decompress(body, encoding, LIMIT)


def test_gzip_with_a_bad_checksum_is_a_decode_error() -> None:
    body = bytearray(gzip.compress(PAYLOAD))
    body[-6] ^= 0xFF

    with pytest.raises(DecodeError, match="corrupt gzip body"):
        decompress(bytes(body), "gzip", LIMIT)


@pytest.mark.parametrize("encoding", sorted(COMPRESSORS))
def test_randomly_damaged_bodies_raise_only_decode_error_or_decode(encoding: str) -> None:
    rng = random.Random(encoding)
    original = COMPRESSORS[encoding](PAYLOAD)
    for _ in range(300):
        body = bytearray(original)
        if rng.random() < 0.5:
            for _ in range(rng.randint(1, 4)):
                body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        else:
            del body[rng.randrange(len(body)) :]
        try:
            output = decompress(bytes(body), encoding, LIMIT)
        except DecodeError:
            continue
        assert len(output) <= LIMIT


@pytest.mark.parametrize("encoding", sorted(COMPRESSORS))
def test_exactly_the_limit_is_accepted_and_one_byte_more_is_not(encoding: str) -> None:
    compress = COMPRESSORS[encoding]

    assert len(decompress(compress(b"a" * LIMIT), encoding, LIMIT)) == LIMIT
    with pytest.raises(BodyTooLarge, match=f"more than {LIMIT} bytes"):
        decompress(compress(b"a" * (LIMIT + 1)), encoding, LIMIT)


def test_uncompressed_body_over_the_limit_is_too_large() -> None:
    with pytest.raises(BodyTooLarge) as raised:
        decompress(b"a" * (LIMIT + 1), None, LIMIT)

    assert raised.value.limit == LIMIT
    assert not isinstance(raised.value, DecodeError)


def test_gzip_members_count_together_against_the_limit() -> None:
    half = gzip.compress(b"a" * (LIMIT // 2 + 1))

    with pytest.raises(BodyTooLarge):
        decompress(half + half, "gzip", LIMIT)


@pytest.mark.parametrize("encoding", sorted(COMPRESSORS))
def test_decompression_bomb_stops_at_the_limit_quickly_and_in_little_memory(
    encoding: str,
) -> None:
    bomb = COMPRESSORS[encoding](bytes(50 * 1024 * 1024))
    assert len(bomb) < 3 * 1024 * 1024

    tracemalloc.start()
    started = time.perf_counter()
    try:
        named = encoding.removeprefix("x-")
        with pytest.raises(BodyTooLarge, match=f"the {named} request body unpacks to more"):
            decompress(bomb, encoding, LIMIT)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert elapsed < 0.5
    assert peak < 4 * LIMIT

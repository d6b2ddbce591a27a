"""Request bodies by Content-Encoding: identity, gzip, deflate, zstd and snappy.

Every decoder stops once the output would pass the limit, so that a small compressed body that
unpacks to gigabytes (a decompression bomb) costs no more memory than the limit allows.
"""

from __future__ import annotations

import zlib

import cramjam

from fullcycle.ingest.errors import DecodeError

# zlib's window-bits: a zlib stream, a gzip member, a raw deflate stream.
_ZLIB_WBITS = zlib.MAX_WBITS
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS

# The stream identifier that opens snappy's framing format (the raw block format has none).
_SNAPPY_FRAMED_MAGIC = b"\xff\x06\x00\x00sNaPpY"

# A first guess at a zstd body's unpacked size, as a multiple of the packed one; the output
# buffer grows from there up to the limit.
_ZSTD_FIRST_RATIO = 8
_ZSTD_FIRST_SIZE = 64 * 1024


class BodyTooLarge(Exception):
    """The body, once decompressed, would be larger than the limit (the route answers 413)."""

    def __init__(self, limit: int, encoding: str) -> None:
        super().__init__(f"the {encoding} request body unpacks to more than {limit} bytes")
        self.limit = limit
        self.encoding = encoding

    def __reduce__(self) -> tuple[type[BodyTooLarge], tuple[int, str]]:
        """Pickled by its arguments, so that it crosses from an ingest worker process."""
        return (BodyTooLarge, (self.limit, self.encoding))


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """`body` decoded per its Content-Encoding header, at most `limit` bytes.

    Several encodings ("gzip, identity") are undone in reverse order of listing, as HTTP has it.
    Raises BodyTooLarge past the limit and DecodeError for corrupt data or an unknown encoding.
    """
    encodings = [part.strip().lower() for part in (content_encoding or "").split(",")]
    for encoding in reversed(encodings):
        body = _decode_one(body, encoding, limit)
    return body


def _decode_one(body: bytes, encoding: str, limit: int) -> bytes:
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise BodyTooLarge(limit, "uncompressed")
        return body
    if encoding in ("gzip", "x-gzip"):
        return _gunzip(body, limit)
    if encoding == "deflate":
        return _inflate(body, _deflate_wbits(body), limit, encoding)
    if encoding == "zstd":
        return _unzstd(body, limit)
    if encoding == "snappy":
        return _unsnappy(body, limit)
    raise DecodeError(
        f"unsupported content encoding {encoding!r}: use gzip, deflate, zstd, snappy or identity"
    )


def _gunzip(body: bytes, limit: int) -> bytes:
    """gzip, including several members one after the other (as `cat a.gz b.gz` makes)."""
    if not body:
        raise DecodeError("corrupt gzip body: empty")
    parts: list[bytes] = []
    size = 0
    rest = body
    while rest:
        part, rest = _inflate_member(rest, _GZIP_WBITS, limit - size, "gzip", limit)
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _deflate_wbits(body: bytes) -> int:
    """HTTP's "deflate" is a zlib stream, but some clients send raw deflate: tell them apart."""
    if len(body) >= 2 and body[0] & 0x0F == zlib.DEFLATED and (body[0] << 8 | body[1]) % 31 == 0:
        return _ZLIB_WBITS
    return _RAW_DEFLATE_WBITS


def _inflate(body: bytes, wbits: int, limit: int, encoding: str) -> bytes:
    output, rest = _inflate_member(body, wbits, limit, encoding, limit)
    if rest:
        raise DecodeError(f"corrupt {encoding} body: {len(rest)} bytes after the end of the data")
    return output


def _inflate_member(
    body: bytes, wbits: int, room: int, encoding: str, limit: int
) -> tuple[bytes, bytes]:
    """One zlib/gzip/deflate stream of at most `room` bytes, and the bytes that follow it."""
    decompressor = zlib.decompressobj(wbits)
    try:
        # Output stops one byte past the room: enough to tell that the body is too large.
        output = decompressor.decompress(body, room + 1)
    except zlib.error as error:
        raise DecodeError(f"corrupt {encoding} body ({error})") from None
    if len(output) > room:
        raise BodyTooLarge(limit, encoding)
    if not decompressor.eof:
        raise DecodeError(f"corrupt {encoding} body: the data ends too early")
    return output, decompressor.unused_data


def _unzstd(body: bytes, limit: int) -> bytes:
    """zstd into a buffer that grows from a guess up to one byte past the limit."""
    size = min(limit + 1, max(_ZSTD_FIRST_SIZE, len(body) * _ZSTD_FIRST_RATIO))
    while True:
        output = bytearray(size)
        try:
            written = cramjam.zstd.decompress_into(body, output)
        except cramjam.DecompressionError as error:
            # cramjam reports a full output buffer this way; anything else is corrupt input.
            if "failed to write whole buffer" not in str(error):
                raise DecodeError(f"corrupt zstd body ({error})") from None
            written = size
        if written < size:
            return bytes(memoryview(output)[:written])
        if size > limit:
            raise BodyTooLarge(limit, "zstd")
        size = min(limit + 1, size * 4)


def _unsnappy(body: bytes, limit: int) -> bytes:
    """Snappy's raw block format (Prometheus remote write), or its framing format if it says so."""
    if body.startswith(_SNAPPY_FRAMED_MAGIC):
        return _unsnappy_framed(body, limit)
    try:
        size = cramjam.snappy.decompress_raw_len(body)
    except cramjam.DecompressionError as error:
        raise DecodeError(f"corrupt snappy body ({error})") from None
    if size > limit:
        raise BodyTooLarge(limit, "snappy")
    output = bytearray(size)
    try:
        written = cramjam.snappy.decompress_raw_into(body, output)
    except cramjam.DecompressionError as error:
        raise DecodeError(f"corrupt snappy body ({error})") from None
    return bytes(memoryview(output)[:written])


def _unsnappy_framed(body: bytes, limit: int) -> bytes:
    output = bytearray(limit + 1)
    try:
        written = cramjam.snappy.decompress_into(body, output)
    except cramjam.DecompressionError as error:
        if "failed to write whole buffer" in str(error):
            raise BodyTooLarge(limit, "snappy") from None
        raise DecodeError(f"corrupt snappy body ({error})") from None
    if written > limit:
        raise BodyTooLarge(limit, "snappy")
    return bytes(memoryview(output)[:written])

"""Errors a decoder raises for input it cannot accept."""


class DecodeError(ValueError):
    """The request body is malformed; the message says what is wrong and where.

    Examples: ``resourceLogs[0].scopeLogs[1].logRecords[3].timeUnixNano: expected an integer,
    got "abc"`` or ``line 7: not valid JSON (Expecting ',' delimiter at column 12)``. Decoders
    convert every library error on bad input into this, so that a route answers 400, never 500.
    """


class UnsupportedContentType(DecodeError):
    """The body's Content-Type is not one the endpoint speaks: 415 instead of 400."""

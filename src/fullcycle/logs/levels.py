"""Log levels: the six OpenTelemetry severity ranges and the names people type for them."""

from __future__ import annotations

# Each level covers four OpenTelemetry severity numbers (TRACE 1-4 … FATAL 21-24).
LEVEL_RANGES: dict[str, tuple[int, int]] = {
    "trace": (1, 4),
    "debug": (5, 8),
    "info": (9, 12),
    "warn": (13, 16),
    "error": (17, 20),
    "fatal": (21, 24),
}
LEVEL_ALIASES = {
    "warning": "warn",
    "err": "error",
    "critical": "fatal",
    "crit": "fatal",
    "panic": "fatal",
    "emerg": "fatal",
    "information": "info",
    "informational": "info",
    "notice": "info",
    "dbg": "debug",
}
UNKNOWN_LEVEL = "unknown"
LEVEL_ORDER = (*LEVEL_RANGES, UNKNOWN_LEVEL)


def level_named(name: str) -> str | None:
    """The level a name stands for (`WARNING` -> `warn`), or None if it is no level name."""
    lowered = name.strip().lower()
    lowered = LEVEL_ALIASES.get(lowered, lowered)
    return lowered if lowered in LEVEL_RANGES else None


def level_of(severity_number: int) -> str:
    """The level of an OpenTelemetry severity number (0 and out of range: unknown)."""
    for name, (low, high) in LEVEL_RANGES.items():
        if low <= severity_number <= high:
            return name
    return UNKNOWN_LEVEL

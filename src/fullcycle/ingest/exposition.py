"""Parsing what a Prometheus endpoint answers: the text format 0.0.4 or OpenMetrics 1.0.

The format follows the response's Content-Type (`application/openmetrics-text` is OpenMetrics,
anything else the classic text format), and both are read with prometheus_client's own parsers.
Samples come out as Prometheus stores them: one per exposed line, named as exposed
(`_bucket`, `_sum`, `_count`, `_total`, ...), with the family's type and unit.

`_created` series are skipped, as Prometheus does unless created-timestamp ingestion is switched
on: in OpenMetrics they are samples of a counter, histogram or summary; in the text format the
client libraries expose them as a separate gauge family `<name>_created` next to the counter,
histogram or summary `<name>`, and that family is skipped too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families
from prometheus_client.samples import Timestamp

OPENMETRICS_TYPE = "application/openmetrics-text"

# Stored as "" : Prometheus' "unknown"/"untyped" says nothing about the series.
_UNTYPED = {"unknown", "untyped"}
_HAS_CREATED = {"counter", "histogram", "summary", "gaugehistogram"}


@dataclass(frozen=True)
class ScrapedSample:
    metric: str
    labels: dict[str, str]
    value: float
    timestamp_ms: int
    type: str
    unit: str


def is_openmetrics(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == OPENMETRICS_TYPE


def parse_exposition(
    text: str, content_type: str | None, scrape_time_ms: int
) -> list[ScrapedSample]:
    """The samples of one scrape; samples without a timestamp get `scrape_time_ms`.

    Raises ValueError naming the format and, where it can be found, the offending line.
    """
    openmetrics = is_openmetrics(content_type)
    parse = openmetrics_families if openmetrics else text_families
    try:
        families = list(parse(text))
    except Exception as error:  # the parsers raise ValueError, IndexError, KeyError, ...
        raise ValueError(_located(text, error, openmetrics)) from error
    return list(_samples(families, scrape_time_ms))


def _samples(families: list[Metric], scrape_time_ms: int) -> Iterable[ScrapedSample]:
    skipped_families = _created_families(families)
    for family in families:
        if family.name in skipped_families:
            continue
        kind = "" if family.type in _UNTYPED else family.type
        for sample in family.samples:
            if kind in _HAS_CREATED and sample.name == f"{family.name}_created":
                continue
            yield ScrapedSample(
                metric=sample.name,
                labels={name: value for name, value in sample.labels.items() if value != ""},
                value=float(sample.value),
                timestamp_ms=_timestamp_ms(sample.timestamp, scrape_time_ms),
                type=kind,
                unit=family.unit or "",
            )


def _created_families(families: list[Metric]) -> set[str]:
    """Text-format gauge families `<name>_created` that belong to a counter, histogram or
    summary `<name>` of the same exposition."""
    with_created = {family.name for family in families if family.type in _HAS_CREATED}
    return {
        family.name
        for family in families
        if family.type == "gauge"
        and family.name.endswith("_created")
        and family.name.removesuffix("_created") in with_created
    }


def _timestamp_ms(timestamp: float | Timestamp | None, default_ms: int) -> int:
    if timestamp is None:
        return default_ms
    if isinstance(timestamp, Timestamp):
        return timestamp.sec * 1000 + timestamp.nsec // 1_000_000
    return round(float(timestamp) * 1000)


def _located(text: str, error: Exception, openmetrics: bool) -> str:
    """The parser's complaint with the line it is about, found by parsing line by line."""
    name = "OpenMetrics" if openmetrics else "Prometheus text format"
    message = str(error) or type(error).__name__
    lines = text.split("\n")
    if openmetrics and text.rstrip("\n").split("\n")[-1].strip() != "# EOF":
        return f"{name}: {message} (the exposition must end with '# EOF')"
    check = _openmetrics_line_ok if openmetrics else _text_line_ok
    for number, line in enumerate(lines, start=1):
        if line.strip() and line.strip() != "# EOF" and not check(line):
            return f"{name}: line {number}: {message}: {_shortened(line)!r}"
    return f"{name}: {message}"


def _parses(parse: Callable[[str], Iterable[Metric]], text: str) -> bool:
    try:
        list(parse(text))
    except Exception:
        return False
    return True


def _text_line_ok(line: str) -> bool:
    return _parses(text_families, line + "\n")


def _openmetrics_line_ok(line: str) -> bool:
    return _parses(openmetrics_families, line + "\n# EOF\n")


def _shortened(line: str, limit: int = 200) -> str:
    return line if len(line) <= limit else line[:limit] + "..."

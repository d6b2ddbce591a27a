"""Summary and description templates in the Prometheus way: `{{ $value }}`, `{{ $labels.x }}`
and `{{ $value | humanize }}` are filled in, and for anomaly rules the detector's band:
`{{ $expected }}`, `{{ $lower }}`, `{{ $upper }}` (each may be humanized too); anything else
is left as written."""

from __future__ import annotations

import re
from collections.abc import Mapping

BAND_NAMES = ("expected", "lower", "upper")
PLACEHOLDER = re.compile(
    r"\{\{\s*(?:\$(value|expected|lower|upper)|\.Value)\s*(?:\|\s*(humanize)\s*)?\}\}"
    r"|\{\{\s*(?:\$labels|\.Labels)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}"
)


def format_value(value: float, humanize: bool = False) -> str:
    if humanize:
        for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= factor:
                return f"{value / factor:.4g}{suffix}"
        return f"{value:.4g}"
    return f"{value:g}"


def fill(
    template: str,
    labels: Mapping[str, str],
    value: float,
    band: Mapping[str, float] | None = None,
) -> str:
    """The template with its placeholders filled; a band placeholder of a rule without a band
    (not an anomaly rule) stays as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(3) is not None:
            return labels.get(match.group(3), "")
        name = match.group(1) or "value"
        number = value if name == "value" else (band or {}).get(name)
        if number is None:
            return match.group(0)
        return format_value(number, humanize=match.group(2) is not None)

    return PLACEHOLDER.sub(replace, template)


def fill_all(
    templates: Mapping[str, str],
    labels: Mapping[str, str],
    value: float,
    band: Mapping[str, float] | None = None,
) -> dict[str, str]:
    return {name: fill(text, labels, value, band) for name, text in templates.items()}

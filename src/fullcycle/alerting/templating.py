"""Summary and description templates in the Prometheus way: `{{ $value }}`, `{{ $labels.x }}`
and `{{ $value | humanize }}` are filled in; anything else is left as written."""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(
    r"\{\{\s*(?:\$value|\.Value)\s*(?:\|\s*(humanize)\s*)?\}\}"
    r"|\{\{\s*(?:\$labels|\.Labels)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}"
)


def format_value(value: float, humanize: bool = False) -> str:
    if humanize:
        for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= factor:
                return f"{value / factor:.4g}{suffix}"
        return f"{value:.4g}"
    return f"{value:g}"


def fill(template: str, labels: Mapping[str, str], value: float) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return labels.get(match.group(2), "")
        return format_value(value, humanize=match.group(1) is not None)

    return PLACEHOLDER.sub(replace, template)


def fill_all(
    templates: Mapping[str, str], labels: Mapping[str, str], value: float
) -> dict[str, str]:
    return {name: fill(text, labels, value) for name, text in templates.items()}

"""Reading a rule file: parse the YAML, validate it, and name the line and field of every
problem (`yaml_files.py`)."""

from __future__ import annotations

from fullcycle.alerting.rules.spec import RuleFileSpec
from fullcycle.yaml_files import Problem, YamlFileError, parse_yaml_file

__all__ = ["MAX_SOURCE_BYTES", "Problem", "RuleFileError", "parse_rule_file"]

MAX_SOURCE_BYTES = 1024 * 1024


class RuleFileError(YamlFileError):
    """A rule file that cannot be applied; `problems` name line and field."""


def parse_rule_file(source: str) -> RuleFileSpec:
    """The validated rule file, or RuleFileError listing every problem with its line."""
    return parse_yaml_file(
        source,
        RuleFileSpec,
        max_bytes=MAX_SOURCE_BYTES,
        expected="a mapping with `groups`",
        error=RuleFileError,
    )

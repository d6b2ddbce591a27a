"""Reading a rule file: parse the YAML, validate it, and name the line and field of every
problem (ruamel.yaml keeps the position of each key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from fullcycle.alerting.rules.spec import RuleFileSpec

MAX_SOURCE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Problem:
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.field}: {self.message}" if self.field else f"{where}{self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


class RuleFileError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


def parse_rule_file(source: str) -> RuleFileSpec:
    """The validated rule file, or RuleFileError listing every problem with its line."""
    if len(source.encode()) > MAX_SOURCE_BYTES:
        raise RuleFileError([Problem(None, "", f"larger than {MAX_SOURCE_BYTES} bytes")])
    document = _load(source)
    try:
        return RuleFileSpec.model_validate(_plain(document))
    except ValidationError as error:
        raise RuleFileError(
            [_problem(document, item) for item in error.errors(include_url=False)]
        ) from None


def _load(source: str) -> Any:
    try:
        document = YAML(typ="rt").load(source)
    except MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise RuleFileError([Problem(line, "", f"not valid YAML: {error.problem}")]) from None
    except YAMLError as error:
        raise RuleFileError([Problem(None, "", f"not valid YAML: {error}")]) from None
    if not isinstance(document, CommentedMap):
        raise RuleFileError([Problem(1, "", "expected a mapping with `groups`")])
    return document


def _plain(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(item) for item in node]
    return node


def _problem(document: Any, item: Any) -> Problem:
    location = list(item["loc"])
    return Problem(_line_of(document, location), _field_name(location), _message(item))


def _field_name(location: list[Any]) -> str:
    name = ""
    for part in location:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _message(item: Any) -> str:
    if item["type"] == "extra_forbidden":
        return "unknown field"
    message = str(item["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _line_of(document: Any, location: list[Any]) -> int | None:
    """The 1-based line of the deepest node of `location` that exists in the document."""
    node = document
    line: int | None = 1
    for part in location:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line

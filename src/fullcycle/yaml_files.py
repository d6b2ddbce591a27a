"""YAML files validated by a pydantic model, every problem named by its line and field
(ruamel.yaml keeps the position of each key): rule files, pipeline files.

This lives beside the concept folders because two of them (alerting, deploy) read such files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

Model = TypeVar("Model", bound=BaseModel)


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


class YamlFileError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


def parse_yaml_file(
    source: str,
    model: type[Model],
    *,
    max_bytes: int,
    expected: str,
    error: type[YamlFileError],
    locate: Callable[[list[Any]], list[Any]] = list,
) -> Model:
    """The validated document, or `error` listing every problem with its line. `expected`
    says what the top level should be; `locate` maps a pydantic location to the document's."""
    if len(source.encode()) > max_bytes:
        raise error([Problem(None, "", f"larger than {max_bytes} bytes")])
    document = _load(source, expected, error)
    try:
        return model.model_validate(_plain(document))
    except ValidationError as invalid:
        raise error(
            [_problem(document, locate(list(item["loc"])), item) for item in invalid.errors()]
        ) from None


def _load(source: str, expected: str, error: type[YamlFileError]) -> Any:
    try:
        document = YAML(typ="rt").load(source)
    except MarkedYAMLError as invalid:
        mark = invalid.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise error([Problem(line, "", f"not valid YAML: {invalid.problem}")]) from None
    except YAMLError as invalid:
        raise error([Problem(None, "", f"not valid YAML: {invalid}")]) from None
    if not isinstance(document, CommentedMap):
        raise error([Problem(1, "", f"expected {expected}")])
    return document


def _plain(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(item) for item in node]
    return node


def _problem(document: Any, location: list[Any], item: Any) -> Problem:
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

"""Reading a `fullcycle.yaml`: parse the YAML, validate it, and name the line and field of
every problem (ruamel.yaml keeps the position of each key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from fullcycle.deploy.pipeline_spec import PipelineSpec

MAX_SOURCE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Problem:
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.field}: {self.message}" if self.field else f"{where}{self.message}"


class PipelineFileError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


def parse_pipeline(source: str) -> PipelineSpec:
    """The validated pipeline, or PipelineFileError listing every problem with its line."""
    if len(source.encode()) > MAX_SOURCE_BYTES:
        raise PipelineFileError([Problem(None, "", f"larger than {MAX_SOURCE_BYTES} bytes")])
    document = _load(source)
    try:
        return PipelineSpec.model_validate(_plain(document))
    except ValidationError as error:
        raise PipelineFileError(
            [_problem(document, item) for item in error.errors(include_url=False)]
        ) from None


def _load(source: str) -> Any:
    try:
        document = YAML(typ="rt").load(source)
    except MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise PipelineFileError([Problem(line, "", f"not valid YAML: {error.problem}")]) from None
    except YAMLError as error:
        raise PipelineFileError([Problem(None, "", f"not valid YAML: {error}")]) from None
    if not isinstance(document, CommentedMap):
        raise PipelineFileError(
            [Problem(1, "", "expected a mapping with `service` and `environments`")]
        )
    return document


def _plain(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(item) for item in node]
    return node


def _problem(document: Any, item: Any) -> Problem:
    location = _without_union_tag(list(item["loc"]))
    return Problem(_line_of(document, location), _field_name(location), _message(item))


def _without_union_tag(location: list[Any]) -> list[Any]:
    """Pydantic puts the chosen target (`command`, `process`) after `deploy` in the location."""
    for index, part in enumerate(location[:-1]):
        tagged = part == "deploy" and location[index + 1] in ("command", "process")
        if tagged and index + 2 < len(location):
            return location[: index + 1] + location[index + 2 :]
    return location


def _field_name(location: list[Any]) -> str:
    name = ""
    for part in location:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _message(item: Any) -> str:
    message = str(item["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if item["type"] == "extra_forbidden":
        return "unknown field"
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

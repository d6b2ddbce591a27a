"""Reading a `fullcycle.yaml`: parse the YAML, validate it, and name the line and field of
every problem (`yaml_files.py`)."""

from __future__ import annotations

from typing import Any

from fullcycle.deploy.pipeline_spec import PipelineSpec
from fullcycle.yaml_files import Problem, YamlFileError, parse_yaml_file

__all__ = ["MAX_SOURCE_BYTES", "PipelineFileError", "Problem", "parse_pipeline"]

MAX_SOURCE_BYTES = 256 * 1024


class PipelineFileError(YamlFileError):
    """A pipeline file that cannot be applied; `problems` name line and field."""


def parse_pipeline(source: str) -> PipelineSpec:
    """The validated pipeline, or PipelineFileError listing every problem with its line."""
    return parse_yaml_file(
        source,
        PipelineSpec,
        max_bytes=MAX_SOURCE_BYTES,
        expected="a mapping with `service` and `environments`",
        error=PipelineFileError,
        locate=_without_union_tag,
    )


def _without_union_tag(location: list[Any]) -> list[Any]:
    """Pydantic puts the chosen target (`command`, `process`) after `deploy` in the location."""
    for index, part in enumerate(location[:-1]):
        tagged = part == "deploy" and location[index + 1] in ("command", "process")
        if tagged and index + 2 < len(location):
            return location[: index + 1] + location[index + 2 :]
    return location

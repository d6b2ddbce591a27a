"""The shape of a pipeline (`fullcycle.yaml`): environments in order, each with its stages.

```yaml
service: shop
environments:
  - name: production
    build: make build              # a command or a list of commands
    test: make test                # the gate: nothing is deployed past a red test
    approval: {reviewer: true, checklist: ["smoke tested on staging"]}
    deploy:
      target: command              # or `process`
      command: ./deploy.sh {service} {version} {environment} {commit}
      rollback: ./deploy.sh {service} {version} {environment} {commit}
      timeout: 300
      env: {REGION: eu}
      secrets: {API_KEY: s3cret}   # passed to commands, masked in logs
    verify:
      bake: 60                     # seconds the checks run after the deploy
      health_url: http://127.0.0.1:8100/healthz
      metrics:
        - name: error ratio
          query: sum(rate(http_errors_total[1m])) / sum(rate(http_requests_total[1m]))
          below: 0.01
          max_ratio_to_before: 1.5  # not more than 1.5x its value in the hour before
```
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
COMMAND_PLACEHOLDERS = frozenset({"service", "version", "environment", "commit", "port"})
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Name = Annotated[str, Field(pattern=NAME)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _commands(value: object) -> object:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise ValueError(
        "expected a command or a list of commands; quote a command that YAML reads as "
        "something else (true, 1, null)"
    )


def check_placeholders(command: str) -> str:
    unknown = sorted(set(PLACEHOLDER.findall(command)) - COMMAND_PLACEHOLDERS)
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{unknown[0]}}}; use "
            + ", ".join(f"{{{name}}}" for name in sorted(COMMAND_PLACEHOLDERS))
        )
    return command


def check_env_names(env: dict[str, str]) -> dict[str, str]:
    for name in env:
        if not ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not an environment variable name")
    return env


class Approval(Strict):
    reviewer: bool = False
    checklist: list[Annotated[str, Field(min_length=1, max_length=200)]] = []
    timeout: int = Field(3600, ge=10, le=7 * 86400)

    @model_validator(mode="after")
    def _asks_something(self) -> Approval:
        if not self.reviewer and not self.checklist:
            raise ValueError("an approval needs `reviewer: true` or a `checklist`")
        return self


class CommandTarget(Strict):
    target: Literal["command"]
    command: Annotated[str, Field(min_length=1)]
    rollback: str = ""
    timeout: int = Field(600, ge=1, le=86400)
    env: dict[str, str] = {}
    secrets: dict[str, str] = {}

    _placeholders = field_validator("command", "rollback")(check_placeholders)
    _env_names = field_validator("env", "secrets")(check_env_names)


class ProcessTarget(Strict):
    """A supervised local process behind a built-in proxy on `port` (see deploy/process.py)."""

    target: Literal["process"]
    command: Annotated[str, Field(min_length=1)]
    port: int = Field(ge=1, le=65535)
    health_path: str = "/healthz"
    start_timeout: int = Field(30, ge=1, le=600)
    keep: int = Field(3, ge=1, le=20)
    workdir: str = ""
    env: dict[str, str] = {}
    secrets: dict[str, str] = {}

    _placeholders = field_validator("command")(check_placeholders)
    _env_names = field_validator("env", "secrets")(check_env_names)


class MetricCheck(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    query: Annotated[str, Field(min_length=1)]
    below: float | None = None
    max_ratio_to_before: float | None = Field(None, gt=1)

    @model_validator(mode="after")
    def _has_condition(self) -> MetricCheck:
        if self.below is None and self.max_ratio_to_before is None:
            raise ValueError("a metric check needs `below` or `max_ratio_to_before` (or both)")
        return self


class Verify(Strict):
    bake: int = Field(30, ge=0, le=86400)
    interval: int = Field(2, ge=1, le=600)
    health_url: str = ""
    metrics: list[MetricCheck] = []

    @field_validator("health_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("the health URL must start with http:// or https://")
        return value


class Environment(Strict):
    name: Name
    build: list[Annotated[str, Field(min_length=1)]] = []
    test: list[Annotated[str, Field(min_length=1)]] = []
    workdir: str = ""
    stage_timeout: int = Field(1800, ge=1, le=86400)
    approval: Approval | None = None
    deploy: Annotated[CommandTarget | ProcessTarget, Field(discriminator="target")]
    verify: Verify = Verify()

    _commands = field_validator("build", "test", mode="before")(_commands)


class PipelineSpec(Strict):
    service: Name
    environments: Annotated[list[Environment], Field(min_length=1)]

    @field_validator("environments")
    @classmethod
    def _unique_names(cls, environments: list[Environment]) -> list[Environment]:
        seen: set[str] = set()
        for environment in environments:
            if environment.name in seen:
                raise ValueError(f"environment {environment.name!r} is declared twice")
            seen.add(environment.name)
        return environments

    def environment(self, name: str) -> Environment | None:
        return next((env for env in self.environments if env.name == name), None)

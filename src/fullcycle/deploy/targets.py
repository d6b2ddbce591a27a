"""Deploy targets: how a release goes live. `command` runs the pipeline's shell commands (kubectl,
helm, ansible, ssh scripts ...); `process` runs the release as a supervised local process behind
a proxy (see process.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fullcycle.deploy.pipeline_spec import CommandTarget, Environment
from fullcycle.deploy.shell import (
    LineSink,
    fill_placeholders,
    masker,
    resolve_secrets,
    run_command,
)


@dataclass(frozen=True)
class Release:
    service: str
    environment: str
    version: str
    commit: str

    def placeholders(self) -> dict[str, str]:
        return {
            "service": self.service,
            "environment": self.environment,
            "version": self.version,
            "commit": self.commit,
        }

    def variables(self) -> dict[str, str]:
        """Given to every command, so that scripts need no placeholders."""
        return {
            "FULLCYCLE_SERVICE": self.service,
            "FULLCYCLE_ENVIRONMENT": self.environment,
            "FULLCYCLE_VERSION": self.version,
            "FULLCYCLE_COMMIT": self.commit,
        }


class Target(Protocol):
    async def release(self, release: Release, sink: LineSink, *, rollback: bool) -> None:
        """Make `release` the live one; raises CommandFailed (or TargetFailed) if it could not."""


class TargetFailed(Exception):
    pass


class CommandTargetRunner:
    def __init__(self, spec: CommandTarget, workdir: str) -> None:
        self.spec = spec
        self.workdir = workdir or None

    async def release(self, release: Release, sink: LineSink, *, rollback: bool) -> None:
        template = self.spec.rollback if rollback and self.spec.rollback else self.spec.command
        secrets = resolve_secrets(self.spec.secrets)
        await run_command(
            fill_placeholders(template, release.placeholders()),
            env={**release.variables(), **self.spec.env, **secrets},
            timeout=self.spec.timeout,
            sink=sink,
            mask=masker(secrets),
            cwd=self.workdir,
        )


def stage_environment(
    environment: Environment, release: Release, secrets: dict[str, str]
) -> dict[str, str]:
    """Variables for build and test commands: the release's and the target's (with secrets)."""
    return {**release.variables(), **environment.deploy.env, **secrets}

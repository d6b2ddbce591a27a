"""Running a pipeline's shell commands: placeholders filled in, environment variables added,
output streamed line by line with secrets masked, and the whole process group killed on timeout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
from collections.abc import Callable, Mapping

MASK = "****"
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
KILL_GRACE_SECONDS = 3.0

LineSink = Callable[[str], None]


class CommandFailed(Exception):
    """A command exited non-zero or ran out of time; the message says which and how."""


def fill_placeholders(command: str, values: Mapping[str, str]) -> str:
    """Replace `{name}` with the shell-quoted value (a version is data, never shell syntax)."""
    return PLACEHOLDER.sub(
        lambda match: (
            shlex.quote(values[match.group(1)]) if match.group(1) in values else match.group(0)
        ),
        command,
    )


SERVER_VARIABLE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def resolve_secrets(secrets: Mapping[str, str]) -> dict[str, str]:
    """Secret values, with `${NAME}` taken from the server's environment (so that the
    pipeline file holds no secret); raises CommandFailed when such a variable is not set."""
    resolved = {}
    for name, value in secrets.items():
        reference = SERVER_VARIABLE.match(value)
        if reference is None:
            resolved[name] = value
        elif reference.group(1) in os.environ:
            resolved[name] = os.environ[reference.group(1)]
        else:
            raise CommandFailed(
                f"secret {name}: the server has no environment variable {reference.group(1)}"
            )
    return resolved


def redact(source: str, secrets: Mapping[str, str]) -> str:
    """The pipeline source with literal secret values replaced by the mask, for readers."""
    return masker({k: v for k, v in secrets.items() if not SERVER_VARIABLE.match(v)})(source)


def masker(secrets: Mapping[str, str]) -> Callable[[str], str]:
    values = sorted((value for value in secrets.values() if value), key=len, reverse=True)

    def mask(text: str) -> str:
        for value in values:
            text = text.replace(value, MASK)
        return text

    return mask


async def run_command(
    command: str,
    *,
    env: Mapping[str, str],
    timeout: float,
    sink: LineSink,
    mask: Callable[[str], str],
    cwd: str | None = None,
) -> None:
    """Run `command` with /bin/sh; raises CommandFailed on a non-zero exit or timeout."""
    sink(f"$ {mask(command)}")
    process = await asyncio.create_subprocess_shell(
        command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, **env},
        cwd=cwd,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(timeout):
            await _forward_output(process, sink, mask)
            code = await process.wait()
    except TimeoutError:
        await terminate_group(process)
        raise CommandFailed(f"timed out after {timeout:g} s") from None
    except asyncio.CancelledError:
        await terminate_group(process)
        raise
    if code != 0:
        raise CommandFailed(f"exited with status {code}")


async def _forward_output(
    process: asyncio.subprocess.Process, sink: LineSink, mask: Callable[[str], str]
) -> None:
    assert process.stdout is not None
    while True:
        line = await process.stdout.readline()
        if not line:
            return
        sink(mask(line.decode("utf-8", errors="replace").rstrip("\n")))


async def terminate_group(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the command's process group, SIGKILL it if it does not end within a grace time."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            await asyncio.wait_for(process.wait(), KILL_GRACE_SECONDS)
            return
        except TimeoutError:
            continue

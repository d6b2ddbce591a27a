"""The `process` target: releases run as supervised local processes behind a small TCP proxy.

The proxy listens on the pipeline's stable `port` and hands each new connection to the live
release. A new release starts on a fresh port; only once its health check answers does the
proxy send new connections to it, so the old release serves until then and finishes the
connections it has (zero client errors from the switch). The last `keep` releases stay running
(the live one and standbys): rolling back to one of them only moves the proxy; older ones are
stopped. The live release is restarted when it crashes, with exponential backoff.

Releases live in the server process that deployed them: with several server processes use the
`command` target instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fullcycle.deploy.pipeline_spec import ProcessTarget
from fullcycle.deploy.shell import (
    LineSink,
    fill_placeholders,
    resolve_secrets,
    terminate_group,
)
from fullcycle.deploy.targets import Release, TargetFailed

log = logging.getLogger("fullcycle.deploy.process")

HEALTH_POLL_SECONDS = 0.1
RESTART_BACKOFF_START = 0.5
RESTART_BACKOFF_MAX = 30.0
PIPE_CHUNK = 64 * 1024
DRAIN_SECONDS = 1.0
"""A release that no longer gets new connections is stopped this long after the switch, so
that connections the proxy handed it just before are accepted and answered."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningRelease:
    version: str
    port: int
    command: str
    env: dict[str, str]
    cwd: str | None
    process: asyncio.subprocess.Process
    restarts: int = 0
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


class TcpProxy:
    """Forwards each connection on `port` to 127.0.0.1:`backend` (the backend of the moment)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.backend: int | None = None
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        except OSError as error:
            raise TargetFailed(f"cannot listen on port {self.port}: {error}") from error

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._pipes):
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            connected = await self._connect()
            if connected is None:
                return
            backend_reader, backend_writer = connected
            await asyncio.gather(
                _pipe(reader, backend_writer),
                _pipe(backend_reader, writer),
                return_exceptions=True,
            )
        finally:
            self._pipes.discard(task)
            writer.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the live release; tried again once if traffic moved meanwhile."""
        for _attempt in range(2):
            backend = self.backend
            if backend is None:
                return None
            try:
                return await asyncio.open_connection("127.0.0.1", backend)
            except OSError:
                if self.backend == backend:
                    return None
        return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(PIPE_CHUNK):
            writer.write(chunk)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()


class ProcessSlot:
    """The proxy and the running releases of one service and environment."""

    def __init__(self, name: str, spec: ProcessTarget, log_dir: Path | None) -> None:
        self.name = name
        self.spec = spec
        self.log_dir = log_dir
        self.proxy = TcpProxy(spec.port)
        self.releases: list[RunningRelease] = []  # oldest first; the live one is `live`
        self.live: RunningRelease | None = None
        self._started = False
        self._draining: set[asyncio.Task[None]] = set()

    async def release(
        self, spec: ProcessTarget, workdir: str, release: Release, sink: LineSink, rollback: bool
    ) -> None:
        """Make `release` live; on a rollback the release rolled back from is stopped."""
        self.spec = spec
        previous = self.live
        if not self._started:
            await self.proxy.start()
            self._started = True
            sink(f"proxy listening on 127.0.0.1:{spec.port}")
        standby = next(
            (
                r
                for r in self.releases
                if r.version == release.version and r.process.returncode is None
            ),
            None,
        )
        if standby is not None and standby is not self.live:
            sink(f"{release.version} is still running on port {standby.port}: switching to it")
            await self._wait_healthy(standby, sink)
            self._switch(standby, sink)
        else:
            started = await self._start(release, workdir, sink)
            self._switch(started, sink)
        if rollback and previous is not None and previous is not self.live:
            sink(f"stopping {previous.version} (port {previous.port}), rolled back from")
            self._stop_after_drain(previous)
        await self._stop_beyond_keep(sink, previous)

    async def _start(self, release: Release, workdir: str, sink: LineSink) -> RunningRelease:
        port = free_port()
        values = {**release.placeholders(), "port": str(port)}
        command = fill_placeholders(self.spec.command, values)
        secrets = resolve_secrets(self.spec.secrets)
        env = {**release.variables(), "PORT": str(port), **self.spec.env, **secrets}
        sink(f"starting {release.version} on port {port}")
        running = RunningRelease(
            release.version,
            port,
            command,
            env,
            workdir or None,
            await self._spawn(command, env, workdir or None, release.version),
        )
        try:
            await self._wait_healthy(running, sink)
        except TargetFailed:
            await terminate_group(running.process)
            raise
        self.releases.append(running)
        running.watcher = asyncio.create_task(self._watch(running))
        return running

    async def _spawn(
        self, command: str, env: dict[str, str], cwd: str | None, version: str
    ) -> asyncio.subprocess.Process:
        output = self._log_file(version)
        try:
            return await asyncio.create_subprocess_shell(
                command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, **env},
                cwd=cwd,
                start_new_session=True,
            )
        finally:
            if output is not asyncio.subprocess.DEVNULL:
                os.close(output)

    def _log_file(self, version: str) -> int:
        if self.log_dir is None:
            return asyncio.subprocess.DEVNULL
        self.log_dir.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in f"{self.name}-{version}")
        return os.open(self.log_dir / f"{safe}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    async def _wait_healthy(self, running: RunningRelease, sink: LineSink) -> None:
        url = f"http://127.0.0.1:{running.port}{self.spec.health_path}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.spec.start_timeout
        async with httpx.AsyncClient(trust_env=False) as client:
            while loop.time() < deadline:
                if running.process.returncode is not None:
                    raise TargetFailed(
                        f"{running.version} exited with status {running.process.returncode} "
                        "before it was healthy"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(url, timeout=2)
                    if response.status_code < 300:
                        sink(f"{running.version} is healthy ({url})")
                        return
                await asyncio.sleep(HEALTH_POLL_SECONDS)
        raise TargetFailed(f"{running.version} was not healthy within {self.spec.start_timeout} s")

    def _switch(self, running: RunningRelease, sink: LineSink) -> None:
        self.proxy.backend = running.port
        self.live = running
        sink(f"traffic on port {self.spec.port} now goes to {running.version}")

    async def _stop_beyond_keep(self, sink: LineSink, previous: RunningRelease | None) -> None:
        """Keep the live release and the newest standbys, `keep` in all."""
        standbys = [r for r in self.releases if r is not self.live]
        excess = len(self.releases) - self.spec.keep
        for old in standbys[: max(0, excess)]:
            sink(f"stopping {old.version} (port {old.port})")
            if old is previous:
                self._stop_after_drain(old)
            else:
                await self._stop(old)

    async def _stop(self, running: RunningRelease) -> None:
        self.releases.remove(running)
        if running.watcher is not None:
            running.watcher.cancel()
        await terminate_group(running.process)

    def _stop_after_drain(self, running: RunningRelease) -> None:
        """Stop a release that just lost the traffic, in the background after DRAIN_SECONDS."""
        self.releases.remove(running)
        if running.watcher is not None:
            running.watcher.cancel()

        async def drain_then_stop() -> None:
            try:
                await asyncio.sleep(DRAIN_SECONDS)
            finally:
                await terminate_group(running.process)

        task = asyncio.create_task(drain_then_stop())
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def _watch(self, running: RunningRelease) -> None:
        """Restart the release if it exits while it is live, with exponential backoff (reset
        once it has run for a while)."""
        loop = asyncio.get_running_loop()
        delay = RESTART_BACKOFF_START
        while True:
            started = loop.time()
            code = await running.process.wait()
            if loop.time() - started > RESTART_BACKOFF_MAX:
                delay = RESTART_BACKOFF_START
            if running is not self.live:
                if running in self.releases:
                    self.releases.remove(running)
                return
            log.warning(
                "%s %s exited with status %s; restarting in %.1f s",
                self.name,
                running.version,
                code,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_BACKOFF_MAX)
            running.process = await self._spawn(
                running.command, running.env, running.cwd, running.version
            )
            running.restarts += 1

    async def stop(self) -> None:
        for task in list(self._draining):
            task.cancel()
        await asyncio.gather(*self._draining, return_exceptions=True)
        for running in list(self.releases):
            await self._stop(running)
        await self.proxy.stop()


class Supervisor:
    """All process-target slots of this server process."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir
        self.slots: dict[tuple[str, str], ProcessSlot] = {}

    def target(
        self, service: str, environment: str, spec: ProcessTarget, workdir: str
    ) -> ProcessTargetRunner:
        slot = self.slots.get((service, environment))
        if slot is None or slot.spec.port != spec.port:
            slot = ProcessSlot(f"{service}-{environment}", spec, self.log_dir)
            self.slots[(service, environment)] = slot
        return ProcessTargetRunner(slot, spec, workdir)

    def live_version(self, service: str, environment: str) -> str | None:
        slot = self.slots.get((service, environment))
        return slot.live.version if slot is not None and slot.live is not None else None

    async def stop_all(self) -> None:
        for slot in self.slots.values():
            await slot.stop()
        self.slots.clear()


class ProcessTargetRunner:
    def __init__(self, slot: ProcessSlot, spec: ProcessTarget, workdir: str) -> None:
        self.slot = slot
        self.spec = spec
        self.workdir = workdir

    async def release(self, release: Release, sink: LineSink, *, rollback: bool) -> None:
        await self.slot.release(self.spec, self.workdir, release, sink, rollback)

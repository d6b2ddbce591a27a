"""Carrying deploys out in the background of the server process.

Deploys are queued in the database. Every tick the runner takes the oldest queued deploy of each
service and environment whose slot (a `deploy_locks` row) is free: one conditional UPDATE sets a
lease on the slot, so of several server processes sharing the database only one takes it, and a
second deploy of the same service and environment waits until the first is over. The lease is
renewed while the deploy runs; when a process dies its lease runs out, its deploy is marked
failed and the slot is free again (the lease pattern of `ingest/scraper.py`).

A deploy runs its stages in order: build and test (commands that must succeed: nothing is
deployed past a red test), approval (waits for it), deploy (the target makes the release live),
verify (bake time with checks). When the deploy or verify stage fails, the runner rolls back to
the previous good release as a deploy of its own (`kind` rollback, linked both ways), verified
again. Deploys and rollbacks that went live are written as markers into the telemetry store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select, update
from starlette.concurrency import run_in_threadpool

from fullcycle.alerting.records import critical_alerts_fired_since
from fullcycle.deploy.markers import marker_for
from fullcycle.deploy.metric_queries import MetricQueries
from fullcycle.deploy.models import Approval, Deploy, DeployLock, DeployStage, ensure_lock_row
from fullcycle.deploy.pipeline_spec import Environment, ProcessTarget
from fullcycle.deploy.process import Supervisor
from fullcycle.deploy.records import (
    DeployOut,
    approval_complete,
    deploy_view,
    last_good,
    stage_names,
)
from fullcycle.deploy.shell import (
    CommandFailed,
    LineSink,
    fill_placeholders,
    masker,
    resolve_secrets,
    run_command,
)
from fullcycle.deploy.targets import (
    CommandTargetRunner,
    Release,
    Target,
    TargetFailed,
    stage_environment,
)
from fullcycle.deploy.verification import Verifier
from fullcycle.store.database import Database, utcnow
from fullcycle.telemetry.sink import TelemetrySink

log = logging.getLogger("fullcycle.deploy")

LEASE = timedelta(seconds=30)
RENEW_SECONDS = 5.0
LOG_FLUSH_SECONDS = 0.3
APPROVAL_POLL_SECONDS = 0.5
T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    """A deploy this process holds the lease on, with what running it needs."""

    id: int
    service: str
    environment: str
    version: str
    commit: str
    kind: str
    actor: str
    actor_user: str
    spec: Environment
    stages: dict[str, int]

    @property
    def release(self) -> Release:
        return Release(self.service, self.environment, self.version, self.commit)


class StageLog:
    """The output of one stage, kept whole and written to the database every few tenths of a
    second while the stage runs (the UI and CLI stream it from there)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.written = 0

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class DeployRunner:
    def __init__(
        self,
        database: Database,
        store: TelemetrySink,
        instance_id: str,
        *,
        queries: MetricQueries | None = None,
        supervisor: Supervisor | None = None,
        tick_seconds: float = 0.5,
    ) -> None:
        self.database = database
        self.store = store
        self.instance_id = instance_id
        self.queries = queries
        self.supervisor = supervisor or Supervisor()
        self.tick_seconds = tick_seconds
        self._loop_task: asyncio.Task[None] | None = None
        self._running: dict[asyncio.Task[None], int] = {}
        self._stopping = asyncio.Event()

    # --- running ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._loop_task is not None:
            return
        self._stopping = asyncio.Event()
        self._loop_task = asyncio.create_task(self._run(), name="deploy-runner")

    async def stop(self) -> None:
        """Stop taking deploys; deploys still running are cancelled and marked failed."""
        if self._loop_task is None:
            return
        self._stopping.set()
        await asyncio.gather(self._loop_task, return_exceptions=True)
        self._loop_task = None
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        await run_in_threadpool(self._abandon_own)
        await self.supervisor.stop_all()

    async def run_due_once(self) -> int:
        """Take and run every deploy that can start now, to its end; returns how many."""
        claimed = await run_in_threadpool(self._claim)
        await asyncio.gather(*(self._execute(deploy_id) for deploy_id in claimed))
        return len(claimed)

    async def _run(self) -> None:
        renewed = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            try:
                if loop.time() - renewed >= RENEW_SECONDS:
                    await run_in_threadpool(self._renew_leases)
                    renewed = loop.time()
                for deploy_id in await run_in_threadpool(self._claim):
                    task = asyncio.create_task(self._execute(deploy_id), name=f"deploy-{deploy_id}")
                    self._running[task] = deploy_id
                    task.add_done_callback(lambda done: self._running.pop(done, None))
            except Exception:
                log.exception("deploy runner: taking queued deploys failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.tick_seconds)

    async def _db(self, function: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(function, *args)

    async def _execute(self, deploy_id: int) -> None:
        job = await self._db(self._load_job, deploy_id)
        try:
            await self._run_job(job)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("deploy %s failed unexpectedly", deploy_id)
            await self._db(self._write_outcome, job.id, "failed", f"internal error: {error}")
        finally:
            await self._db(self._release_slot, job.service, job.environment)

    # --- the stages ------------------------------------------------------------------------

    async def _run_job(self, job: Job) -> None:
        """Run the stages; end with the deploy's status written."""
        for name in ("build", "test"):
            if name in job.stages and not await self._command_stage(job, name):
                await self._finish(job, "failed", f"the {name} stage failed: nothing was deployed")
                return
        if "approval" in job.stages and not await self._approval_stage(job):
            await self._finish(job, "failed", "not approved in time: nothing was deployed")
            return
        if not await self._stage(job, "deploy", lambda sink: self._deploy(job, sink)):
            await self._fail_live(job, "the deploy stage failed")
            return
        await self._db(self._set_live, job.id)
        if not await self._stage(job, "verify", lambda sink: self._verify(job, sink)):
            await self._fail_live(job, "verification failed")
            return
        await self._finish(job, "succeeded", "")

    async def _stage(
        self, job: Job, name: str, work: Callable[[LineSink], Awaitable[list[dict[str, Any]]]]
    ) -> bool:
        """Run one stage's work with its log streamed to the database; `work` raises
        StageFailed (or CommandFailed, TargetFailed) when the stage fails."""
        stage_id = job.stages[name]
        await self._db(self._stage_started, stage_id)
        stage_log = StageLog()
        flusher = asyncio.create_task(self._flush_log(stage_id, stage_log))
        results: list[dict[str, Any]] = []
        passed = False
        try:
            results = await work(stage_log)
            passed = True
        except StageFailed as failure:
            results = failure.results
            stage_log(f"{name} failed: {failure}")
        except (CommandFailed, TargetFailed) as failure:
            stage_log(f"{name} failed: {failure}")
        finally:
            flusher.cancel()
        await self._db(
            self._stage_finished,
            stage_id,
            "passed" if passed else "failed",
            stage_log.text,
            results,
        )
        return passed

    async def _flush_log(self, stage_id: int, stage_log: StageLog) -> None:
        while True:
            await asyncio.sleep(LOG_FLUSH_SECONDS)
            if len(stage_log.lines) != stage_log.written:
                stage_log.written = len(stage_log.lines)
                await self._db(self._write_log, stage_id, stage_log.text)

    async def _command_stage(self, job: Job, name: str) -> bool:
        commands = job.spec.build if name == "build" else job.spec.test

        async def work(sink: LineSink) -> list[dict[str, Any]]:
            secrets = resolve_secrets(job.spec.deploy.secrets)
            env = stage_environment(job.spec, job.release, secrets)
            mask = masker(secrets)
            for command in commands:
                await run_command(
                    fill_placeholders(command, job.release.placeholders()),
                    env=env,
                    timeout=job.spec.stage_timeout,
                    sink=sink,
                    mask=mask,
                    cwd=job.spec.workdir or None,
                )
            return []

        return await self._stage(job, name, work)

    async def _approval_stage(self, job: Job) -> bool:
        assert job.spec.approval is not None
        needed = job.spec.approval.model_dump()
        timeout = job.spec.approval.timeout

        async def work(sink: LineSink) -> list[dict[str, Any]]:
            wants = []
            if needed["reviewer"]:
                wants.append(f"a reviewer other than {job.actor_user or job.actor}")
            if needed["checklist"]:
                wants.append("checklist: " + "; ".join(needed["checklist"]))
            sink("waiting for " + " and ".join(wants))
            seen = 0
            try:
                async with asyncio.timeout(timeout):
                    return await wait(sink, seen)
            except TimeoutError:
                raise StageFailed(f"no approval within {timeout} s", []) from None

        async def wait(sink: LineSink, seen: int) -> list[dict[str, Any]]:
            while True:
                approvals = await self._db(self._approvals, job.id)
                for approval in approvals[seen:]:
                    ticked = (
                        f", ticked {', '.join(approval.checklist)}" if approval.checklist else ""
                    )
                    sink(f"{approval.approver} approved{ticked}")
                seen = len(approvals)
                if approval_complete(needed, job.actor_user, approvals):
                    return [{"approver": a.approver, "checklist": a.checklist} for a in approvals]
                await asyncio.sleep(APPROVAL_POLL_SECONDS)

        return await self._stage(job, "approval", work)

    async def _deploy(self, job: Job, sink: LineSink) -> list[dict[str, Any]]:
        target = self._target(job)
        await target.release(job.release, sink, rollback=job.kind == "rollback")
        return []

    async def _verify(self, job: Job, sink: LineSink) -> list[dict[str, Any]]:
        verifier = Verifier(
            job.spec.verify,
            self.queries,
            utcnow(),
            sink,
            new_critical_alerts=lambda since: self._new_critical_alerts(job.service, since),
        )
        outcome = await verifier.run()
        results = [result.as_dict() for result in outcome.results]
        if not outcome.passed:
            failed = [r.check for r in outcome.results if r.status == "failed"]
            raise StageFailed(f"{', '.join(failed)} failed", results)
        return results

    def _target(self, job: Job) -> Target:
        if isinstance(job.spec.deploy, ProcessTarget):
            return self.supervisor.target(
                job.service, job.environment, job.spec.deploy, job.spec.workdir
            )
        return CommandTargetRunner(job.spec.deploy, job.spec.workdir)

    # --- endings ---------------------------------------------------------------------------

    async def _fail_live(self, job: Job, reason: str) -> None:
        """A release that failed to deploy or verify: roll back to the previous good one."""
        if job.kind == "rollback":
            await self._finish(job, "failed", f"{reason}: the rollback did not work")
            return
        rollback_id = await self._db(self._create_rollback, job)
        if rollback_id is None:
            await self._finish(
                job, "failed", f"{reason}; there is no earlier good release to roll back to"
            )
            return
        rollback = await self._db(self._load_job, rollback_id)
        await self._run_job(rollback)
        rolled_back = await self._db(self._status, rollback_id) == "succeeded"
        if rolled_back:
            await self._finish(job, "rolled_back", f"{reason}: rolled back to {rollback.version}")
        else:
            await self._finish(
                job, "failed", f"{reason}, and the rollback to {rollback.version} failed too"
            )

    async def _finish(self, job: Job, status: str, reason: str) -> None:
        """Write the marker (if the release went live), then the outcome: a deploy seen over
        has its marker stored."""
        view = await self._db(self._view, job.id)
        if view.live_at is not None:
            try:
                await self.store.append([marker_for(view.model_copy(update={"status": status}))])
            except Exception:
                log.exception("writing the marker of deploy %s failed", job.id)
        await self._db(self._write_outcome, job.id, status, reason)

    # --- the database (sync, in worker threads) --------------------------------------------

    def _claim(self) -> list[int]:
        """Start the oldest queued deploy of each free service+environment slot."""
        now = utcnow()
        self._fail_abandoned(now)
        with self.database.engine.connect() as connection:
            queued = connection.execute(
                select(Deploy.id, Deploy.service, Deploy.environment)
                .where(Deploy.status == "queued")
                .order_by(Deploy.id)
            ).all()
        firsts: dict[tuple[str, str], int] = {}
        for row in queued:
            firsts.setdefault((row.service, row.environment), row.id)
        return [
            deploy_id
            for (service, environment), deploy_id in firsts.items()
            if self._take_slot(service, environment, deploy_id)
        ]

    def _take_slot(self, service: str, environment: str, deploy_id: int) -> bool:
        self._ensure_slot(service, environment)
        now = utcnow()
        lease_until = now + LEASE
        with self.database.engine.begin() as connection:
            taken = connection.execute(
                update(DeployLock)
                .where(
                    DeployLock.service == service,
                    DeployLock.environment == environment,
                    DeployLock.locked_reason == "",
                    or_(DeployLock.lease_until.is_(None), DeployLock.lease_until < now),
                )
                .values(deploy_id=deploy_id, leased_by=self.instance_id, lease_until=lease_until)
            )
            if taken.rowcount != 1:
                return False
            started = connection.execute(
                update(Deploy)
                .where(Deploy.id == deploy_id, Deploy.status == "queued")
                .values(
                    status="running",
                    started_at=now,
                    leased_by=self.instance_id,
                    lease_until=lease_until,
                )
            )
            if started.rowcount != 1:  # cancelled meanwhile
                connection.execute(
                    update(DeployLock)
                    .where(DeployLock.service == service, DeployLock.environment == environment)
                    .values(deploy_id=None, leased_by="", lease_until=None)
                )
                return False
        return True

    def _ensure_slot(self, service: str, environment: str) -> None:
        with self.database.session() as session:
            exists = session.scalar(
                select(DeployLock.id).where(
                    DeployLock.service == service, DeployLock.environment == environment
                )
            )
        if exists is None:
            with self.database.session() as session:
                ensure_lock_row(session, service, environment)

    def _fail_abandoned(self, now: Any) -> None:
        """Mark failed the deploys whose process died (their lease ran out); a read first, so
        that the usual tick writes nothing."""
        with self.database.engine.connect() as connection:
            abandoned = connection.execute(
                select(Deploy.id)
                .where(Deploy.status == "running", Deploy.lease_until < now)
                .limit(1)
            ).first()
        if abandoned is None:
            return
        with self.database.engine.begin() as connection:
            connection.execute(
                update(Deploy)
                .where(Deploy.status == "running", Deploy.lease_until < now)
                .values(
                    status="failed",
                    finished_at=now,
                    outcome_reason="abandoned: the server process running it stopped",
                )
            )

    def _abandon_own(self) -> None:
        now = utcnow()
        with self.database.engine.begin() as connection:
            connection.execute(
                update(Deploy)
                .where(Deploy.status == "running", Deploy.leased_by == self.instance_id)
                .values(
                    status="failed",
                    finished_at=now,
                    lease_until=None,
                    outcome_reason="the server stopped during the deploy",
                )
            )
            connection.execute(
                update(DeployLock)
                .where(DeployLock.leased_by == self.instance_id)
                .values(deploy_id=None, leased_by="", lease_until=None)
            )

    def _renew_leases(self) -> None:
        lease_until = utcnow() + LEASE
        with self.database.engine.begin() as connection:
            connection.execute(
                update(Deploy)
                .where(Deploy.status == "running", Deploy.leased_by == self.instance_id)
                .values(lease_until=lease_until)
            )
            connection.execute(
                update(DeployLock)
                .where(
                    DeployLock.leased_by == self.instance_id, DeployLock.lease_until.is_not(None)
                )
                .values(lease_until=lease_until)
            )

    def _release_slot(self, service: str, environment: str) -> None:
        with self.database.engine.begin() as connection:
            connection.execute(
                update(DeployLock)
                .where(
                    DeployLock.service == service,
                    DeployLock.environment == environment,
                    DeployLock.leased_by == self.instance_id,
                )
                .values(deploy_id=None, leased_by="", lease_until=None)
            )

    def _load_job(self, deploy_id: int) -> Job:
        with self.database.session() as session:
            deploy = session.get_one(Deploy, deploy_id)
            return Job(
                id=deploy.id,
                service=deploy.service,
                environment=deploy.environment,
                version=deploy.version,
                commit=deploy.commit_sha,
                kind=deploy.kind,
                actor=deploy.actor,
                actor_user=deploy.actor_user,
                spec=Environment.model_validate(deploy.pipeline),
                stages={stage.name: stage.id for stage in deploy.stages},
            )

    def _create_rollback(self, job: Job) -> int | None:
        """The rollback deploy of a failed one, to the good release before it; runs under the
        same slot lease."""
        with self.database.session() as session:
            target = last_good(
                session, job.service, job.environment, other_than=job.version, before_id=job.id
            )
            if target is None:
                return None
            now = utcnow()
            rollback = Deploy(
                service=job.service,
                environment=job.environment,
                version=target.version,
                commit_sha=target.commit_sha,
                commit_time=target.commit_time,
                kind="rollback",
                actor=f"fullcycle (automatic rollback of deploy {job.id})",
                actor_user="",
                status="running",
                pipeline=job.spec.model_dump(mode="json"),
                rollback_of_id=job.id,
                started_at=now,
                leased_by=self.instance_id,
                lease_until=now + LEASE,
                stages=[
                    DeployStage(position=index, name=name)
                    for index, name in enumerate(stage_names(job.spec, "rollback"))
                ],
            )
            session.add(rollback)
            session.flush()
            session.execute(
                update(Deploy).where(Deploy.id == job.id).values(rolled_back_by_id=rollback.id)
            )
            session.execute(
                update(DeployLock)
                .where(DeployLock.service == job.service, DeployLock.environment == job.environment)
                .values(deploy_id=rollback.id)
            )
            return rollback.id

    def _status(self, deploy_id: int) -> str:
        with self.database.session() as session:
            return session.get_one(Deploy, deploy_id).status

    def _approvals(self, deploy_id: int) -> list[Approval]:
        with self.database.session() as session:
            return list(
                session.scalars(
                    select(Approval).where(Approval.deploy_id == deploy_id).order_by(Approval.id)
                )
            )

    def _stage_started(self, stage_id: int) -> None:
        with self.database.engine.begin() as connection:
            connection.execute(
                update(DeployStage)
                .where(DeployStage.id == stage_id)
                .values(status="running", started_at=utcnow())
            )

    def _write_log(self, stage_id: int, text: str) -> None:
        with self.database.engine.begin() as connection:
            connection.execute(
                update(DeployStage).where(DeployStage.id == stage_id).values(log=text)
            )

    def _stage_finished(
        self, stage_id: int, status: str, text: str, results: list[dict[str, Any]]
    ) -> None:
        with self.database.engine.begin() as connection:
            connection.execute(
                update(DeployStage)
                .where(DeployStage.id == stage_id)
                .values(status=status, finished_at=utcnow(), log=text, results=results)
            )

    def _set_live(self, deploy_id: int) -> None:
        with self.database.engine.begin() as connection:
            connection.execute(
                update(Deploy).where(Deploy.id == deploy_id).values(live_at=utcnow())
            )

    def _new_critical_alerts(self, service: str, since: datetime) -> list[str]:
        with self.database.session() as session:
            return critical_alerts_fired_since(session, service, since)

    def _view(self, deploy_id: int) -> DeployOut:
        with self.database.session() as session:
            return deploy_view(session.get_one(Deploy, deploy_id), with_logs=False)

    def _write_outcome(self, deploy_id: int, status: str, reason: str) -> None:
        """Write the outcome and skip the stages that did not run."""
        now = utcnow()
        with self.database.session() as session:
            deploy = session.get_one(Deploy, deploy_id)
            deploy.status = status
            deploy.outcome_reason = reason
            deploy.finished_at = now
            deploy.lease_until = None
            for stage in deploy.stages:
                if stage.status == "pending":
                    stage.status = "skipped"


class StageFailed(Exception):
    def __init__(self, message: str, results: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.results = results

"""Scraping the Prometheus endpoints of catalog services (the `scrape_targets` table).

Every second the scraper takes the targets that are due and scrapes them concurrently, at most
`max_in_flight` at a time. Several processes (servers, workers) may share one database: a process
takes a target with one conditional UPDATE that sets a lease, and only the process whose UPDATE
changed the row scrapes it, so each scrape runs once. When a process dies mid-scrape its lease
runs out (timeout + LEASE_MARGIN) and another process takes the target.

Schedules do not drift: the next scrape is due one interval after the previous due time, not
after the scrape finished; a target far behind (the process was down) skips the missed scrapes.

Samples are stored as Prometheus stores them with `honor_labels: false`: every sample gets the
target labels `job` (the service name), `instance` (host:port of the URL) and the target's own
labels; an exposed label that clashes with one of them is kept as `exported_<name>`. Each scrape
also writes the synthetic series `up`, `scrape_duration_seconds` and `scrape_samples_scraped`,
also when it failed (`up` 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import or_, select, update
from starlette.concurrency import run_in_threadpool

from fullcycle import __version__
from fullcycle.catalog.models import ScrapeTarget, Service
from fullcycle.ingest.exposition import ScrapedSample, parse_exposition
from fullcycle.store.database import Database, utcnow
from fullcycle.telemetry.batches import SampleBatch
from fullcycle.telemetry.sink import TelemetrySink

log = logging.getLogger("fullcycle.scraper")

ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
USER_AGENT = f"fullcycle/{__version__}"
LEASE_MARGIN = timedelta(seconds=30)
"""A lease lasts the scrape timeout plus this, enough to parse and store what was scraped."""
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_ERROR_CHARS = 500
STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ClaimedTarget:
    """A target this process holds the lease on, with what a scrape of it needs."""

    id: int
    service: str
    url: str
    interval_seconds: int
    timeout_seconds: int
    labels: dict[str, str]
    due_at: datetime
    previous_error: str


@dataclass(frozen=True)
class ScrapeOutcome:
    started_at: datetime
    samples: int
    duration_seconds: float
    error: str


def default_instance_id() -> str:
    """Names this process in `leased_by`: host, pid and a random part (pids repeat)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def instance_label(url: str) -> str:
    """host:port of the URL, with the scheme's default port when it names none."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}:{port}"


def target_labels(service: str, url: str, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels every series of the target gets; the target's own labels win over the
    defaults (as a Prometheus static_config's labels do)."""
    return {"job": service, "instance": instance_label(url), **labels}


def merge_labels(exposed: Mapping[str, str], target: Mapping[str, str]) -> dict[str, str]:
    """Prometheus' honor_labels=false: target labels win; a clashing exposed label is kept as
    `exported_<name>` (`exported_exported_<name>` if that is taken too). Empty values are
    dropped: Prometheus treats an empty label as an absent one."""
    result = dict(exposed)
    conflicts: dict[str, str] = {}
    for name, value in target.items():
        if result.get(name):
            conflicts[name] = result[name]
        result[name] = value
    for name, value in conflicts.items():
        exported = f"exported_{name}"
        while result.get(exported):
            exported = f"exported_{exported}"
        result[exported] = value
    return {name: value for name, value in result.items() if value}


def next_due(due_at: datetime, interval_seconds: int, now: datetime) -> datetime:
    """One interval after the previous due time; if that has passed already, the first such
    point in time after `now` (missed scrapes are skipped, the phase is kept)."""
    interval = timedelta(seconds=interval_seconds)
    following = due_at + interval
    if following > now:
        return following
    return due_at + interval * ((now - due_at) // interval + 1)


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 3] + "..."


class ScrapeFailed(Exception):
    """A scrape that did not give an exposition: the message is the target's last_error."""


class Scraper:
    """Scrapes due targets in the background (`start`/`stop`) or on demand (`scrape_due_once`)."""

    def __init__(
        self,
        database: Database,
        store: TelemetrySink,
        instance_id: str,
        *,
        max_in_flight: int = 64,
        tick_seconds: float = 1.0,
    ) -> None:
        if not instance_id or len(instance_id) > 100:
            raise ValueError("instance_id must be 1 to 100 characters")
        self.database = database
        self.store = store
        self.instance_id = instance_id
        self.max_in_flight = max_in_flight
        self.tick_seconds = tick_seconds
        self._client: httpx.AsyncClient | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._in_flight: dict[asyncio.Task[None], int] = {}
        self._stopping = asyncio.Event()

    # --- running ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start scraping in the background, in the running event loop."""
        if self._loop_task is not None:
            return
        self._stopping = asyncio.Event()
        self._client = self._new_client()
        self._loop_task = asyncio.create_task(self._run(), name="scraper")
        log.info("scraper started", extra={"instance_id": self.instance_id})

    async def stop(self) -> None:
        """Stop taking targets; give running scrapes a few seconds, then cancel them and hand
        their targets back so that another process can take them at once."""
        if self._loop_task is None:
            return
        self._stopping.set()
        await asyncio.gather(self._loop_task, return_exceptions=True)
        self._loop_task = None
        running = list(self._in_flight)
        if running:
            _done, pending = await asyncio.wait(running, timeout=STOP_GRACE_SECONDS)
            cancelled = [self._in_flight[task] for task in pending]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if cancelled:
                await run_in_threadpool(self._release, cancelled)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        log.info("scraper stopped", extra={"instance_id": self.instance_id})

    async def scrape_due_once(self) -> int:
        """Claim and scrape every target due now; returns how many this process scraped."""
        client = self._client or self._new_client()
        try:
            scraped = 0
            missed: frozenset[int] = frozenset()
            while True:
                claimed, candidates = await run_in_threadpool(self._claim, self.max_in_flight)
                if claimed:
                    await asyncio.gather(*(self._scrape_and_record(client, t) for t in claimed))
                    scraped += len(claimed)
                elif not candidates or candidates == missed:
                    return scraped
                else:  # another process took these; there may be more due behind them
                    missed = candidates
        finally:
            if client is not self._client:
                await client.aclose()

    def _new_client(self) -> httpx.AsyncClient:
        # trust_env=False: like Prometheus, no proxy from the environment unless configured.
        return httpx.AsyncClient(
            headers={"Accept": ACCEPT, "User-Agent": USER_AGENT},
            follow_redirects=True,
            trust_env=False,
            limits=httpx.Limits(max_connections=self.max_in_flight),
        )

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._launch_due()
            except Exception:
                log.exception("scraper: taking due targets failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.tick_seconds)

    async def _launch_due(self) -> None:
        free = self.max_in_flight - len(self._in_flight)
        if free <= 0:
            return
        assert self._client is not None
        claimed, _ = await run_in_threadpool(self._claim, free)
        for target in claimed:
            task = asyncio.create_task(self._scrape_and_record(self._client, target))
            self._in_flight[task] = target.id
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)

    # --- one scrape ------------------------------------------------------------------------

    async def _scrape_and_record(self, client: httpx.AsyncClient, target: ClaimedTarget) -> None:
        """Scrape, store, record the status. Never raises (but for cancellation): a failing
        target must not stop the others."""
        try:
            outcome = await self._scrape(client, target)
            await run_in_threadpool(self._record, target, outcome)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "scrape of %s failed unexpectedly",
                target.url,
                extra={"service": target.service, "url": target.url},
            )
            return
        self._log_change(target, outcome)

    async def _scrape(self, client: httpx.AsyncClient, target: ClaimedTarget) -> ScrapeOutcome:
        started_at = utcnow()
        started_ms = int(started_at.timestamp() * 1000)
        started = time.perf_counter()
        duration: float | None = None
        samples: list[ScrapedSample] = []
        error = ""
        try:
            text, content_type = await self._fetch(client, target)
            duration = time.perf_counter() - started
            samples = await run_in_threadpool(parse_exposition, text, content_type, started_ms)
        except ScrapeFailed as failure:
            error = str(failure)
        except ValueError as bad:
            error = f"bad exposition: {bad}"
        except Exception as failure:
            log.exception("scrape of %s failed unexpectedly", target.url, extra={"url": target.url})
            error = f"scrape failed: {type(failure).__name__}: {failure}"
        if duration is None:
            duration = time.perf_counter() - started
        labels = target_labels(target.service, target.url, target.labels)
        batch = self._batch(target, labels, samples, started_ms, duration, up=not error)
        try:
            await self.store.append([batch])
        except Exception as failure:
            log.exception("storing scraped samples failed", extra={"url": target.url})
            error = error or f"storing the samples failed: {failure}"
        return ScrapeOutcome(started_at, len(samples), duration, _short(error))

    async def _fetch(self, client: httpx.AsyncClient, target: ClaimedTarget) -> tuple[str, str]:
        """The body and Content-Type of a 200 answer, within the target's timeout."""
        timeout = target.timeout_seconds
        headers = {"X-Prometheus-Scrape-Timeout-Seconds": str(timeout)}
        try:
            async with asyncio.timeout(timeout):
                async with client.stream(
                    "GET", target.url, headers=headers, timeout=timeout
                ) as response:
                    if response.status_code != 200:
                        raise ScrapeFailed(
                            f"server returned HTTP status {response.status_code}"
                            f" {response.reason_phrase}".rstrip()
                        )
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_BODY_BYTES:
                            raise ScrapeFailed(f"response larger than {MAX_BODY_BYTES} bytes")
                    encoding = response.charset_encoding or "utf-8"
                    content_type = response.headers.get("content-type", "")
        except (TimeoutError, httpx.TimeoutException) as error:
            raise ScrapeFailed(f"timed out after {timeout} s") from error
        except httpx.ConnectError as error:
            reason = str(error) or type(error).__name__
            raise ScrapeFailed(
                f"cannot connect to {instance_label(target.url)}: {reason}"
            ) from error
        except httpx.HTTPError as error:
            raise ScrapeFailed(f"{type(error).__name__}: {error}") from error
        try:
            text = bytes(body).decode(encoding, errors="replace")
        except LookupError:
            text = bytes(body).decode("utf-8", errors="replace")
        return text, content_type

    def _batch(
        self,
        target: ClaimedTarget,
        labels: dict[str, str],
        samples: list[ScrapedSample],
        started_ms: int,
        duration: float,
        up: bool,
    ) -> SampleBatch:
        batch = SampleBatch()
        for sample in samples:
            batch.add(
                metric=sample.metric,
                labels=merge_labels(sample.labels, labels),
                timestamp_ms=sample.timestamp_ms,
                value=sample.value,
                service=target.service,
                type=sample.type,
                unit=sample.unit,
            )
        synthetic = {
            "up": (1.0 if up else 0.0, ""),
            "scrape_duration_seconds": (duration, "seconds"),
            "scrape_samples_scraped": (float(len(samples)), ""),
        }
        for metric, (value, unit) in synthetic.items():
            batch.add(
                metric=metric,
                labels={name: value for name, value in labels.items() if value},
                timestamp_ms=started_ms,
                value=value,
                service=target.service,
                type="gauge",
                unit=unit,
            )
        return batch

    def _log_change(self, target: ClaimedTarget, outcome: ScrapeOutcome) -> None:
        """Log when a target goes down or its error changes, and when it comes back."""
        fields = {"service": target.service, "url": target.url}
        if outcome.error and outcome.error != target.previous_error:
            log.warning("scrape of %s failed: %s", target.url, outcome.error, extra=fields)
        elif not outcome.error and target.previous_error:
            log.info("scrape of %s works again", target.url, extra=fields)

    # --- the database (sync SQLAlchemy, called in worker threads) ---------------------------

    def _claim(self, limit: int) -> tuple[list[ClaimedTarget], frozenset[int]]:
        """Take up to `limit` due targets that no live lease holds; returns those taken and
        the ids of all that were due (some may have gone to another process)."""
        now = utcnow()
        free = or_(ScrapeTarget.lease_until.is_(None), ScrapeTarget.lease_until < now)
        due = (
            select(
                ScrapeTarget.id,
                Service.name,
                ScrapeTarget.url,
                ScrapeTarget.interval_seconds,
                ScrapeTarget.timeout_seconds,
                ScrapeTarget.labels,
                ScrapeTarget.next_scrape_at,
                ScrapeTarget.last_error,
            )
            .join(Service, Service.id == ScrapeTarget.service_id)
            .where(ScrapeTarget.next_scrape_at <= now, free)
            .order_by(ScrapeTarget.next_scrape_at, ScrapeTarget.id)
            .limit(limit)
        )
        with self.database.engine.connect() as connection:
            candidates = [
                ClaimedTarget(
                    id=row.id,
                    service=row.name,
                    url=row.url,
                    interval_seconds=row.interval_seconds,
                    timeout_seconds=row.timeout_seconds,
                    labels=dict(row.labels or {}),
                    due_at=row.next_scrape_at,
                    previous_error=row.last_error,
                )
                for row in connection.execute(due).all()
            ]
        due_ids = frozenset(target.id for target in candidates)
        if not candidates:
            return [], due_ids
        claimed: list[ClaimedTarget] = []
        # A write transaction of its own, begun by its first UPDATE (no earlier read snapshot
        # that SQLite would refuse to upgrade). Only one process's UPDATE can match a row: the
        # others see the lease, or a later due time if the scrape finished meanwhile.
        with self.database.engine.begin() as connection:
            for target in candidates:
                lease_until = now + timedelta(seconds=target.timeout_seconds) + LEASE_MARGIN
                taken = connection.execute(
                    update(ScrapeTarget)
                    .where(
                        ScrapeTarget.id == target.id,
                        ScrapeTarget.next_scrape_at == target.due_at,
                        free,
                    )
                    .values(leased_by=self.instance_id, lease_until=lease_until)
                )
                if taken.rowcount == 1:
                    claimed.append(target)
        return claimed, due_ids

    def _record(self, target: ClaimedTarget, outcome: ScrapeOutcome) -> None:
        """Store the status, schedule the next scrape and give the lease back (unless the
        lease was lost meanwhile or the target changed: then the newer state stands)."""
        now = utcnow()
        with self.database.engine.begin() as connection:
            connection.execute(
                update(ScrapeTarget)
                .where(
                    ScrapeTarget.id == target.id,
                    ScrapeTarget.leased_by == self.instance_id,
                    ScrapeTarget.url == target.url,
                )
                .values(
                    next_scrape_at=next_due(target.due_at, target.interval_seconds, now),
                    leased_by="",
                    lease_until=None,
                    last_scrape_at=outcome.started_at,
                    last_duration_ms=round(outcome.duration_seconds * 1000, 3),
                    last_error=outcome.error,
                    last_samples=outcome.samples,
                )
            )

    def _release(self, target_ids: list[int]) -> None:
        """Hand back leases of scrapes cancelled on stop; they are due again at once."""
        with self.database.engine.begin() as connection:
            connection.execute(
                update(ScrapeTarget)
                .where(ScrapeTarget.id.in_(target_ids), ScrapeTarget.leased_by == self.instance_id)
                .values(leased_by="", lease_until=None)
            )

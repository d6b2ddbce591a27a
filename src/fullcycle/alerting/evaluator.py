"""Evaluating rules in the background, each at its interval, each evaluation once.

Several processes may share the database: a process takes a due rule with one conditional
UPDATE that sets a lease (the pattern of `ingest/scraper.py`), evaluates it, and writes the
alerts' new states, the notifications these changes cause and the rule's next due time in one
transaction, only while it still holds the lease. A restart therefore repeats nothing: an alert
that was firing stays firing (its notification was written once, with a unique key), and a
process that died mid-evaluation leaves a lease that runs out, after which the rule is
evaluated again from the states the database holds.

States follow Prometheus: an active label set is `pending` until it has been active for the
rule's `for`, then `firing`; when it is no longer active a firing alert is `resolved` (after
`keep_firing_for`) and a pending one is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fullcycle.alerting.escalation import escalate, escalation_receivers
from fullcycle.alerting.evaluation import (
    Active,
    LogCounter,
    RuleQuery,
    evaluate,
    evaluate_anomaly,
)
from fullcycle.alerting.fingerprints import fingerprint
from fullcycle.alerting.models import Alert, AlertRule, Notification, Receiver
from fullcycle.alerting.shared_selectors import evaluate_together, threshold_rule
from fullcycle.alerting.silences import suppression
from fullcycle.alerting.templating import fill_all
from fullcycle.anomaly.watch import Watch, WatchRule
from fullcycle.catalog.models import Service
from fullcycle.deploy.metric_queries import MetricQueries
from fullcycle.ingest.scraper import next_due
from fullcycle.store.database import Database, utcnow

log = logging.getLogger("fullcycle.alerting")

LEASE = timedelta(seconds=60)
MAX_CLAIM = 200
CONCURRENCY = 4
OPEN_STATES = ("pending", "firing")
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Outcome:
    """What evaluating a rule gave: its active label sets, or the error that stopped it; an
    anomaly rule's detectors, to be saved with the alerts."""

    actives: list[Active]
    error: str
    watch: Watch | None = None


@dataclass(frozen=True)
class RuleJob:
    id: int
    name: str
    query: RuleQuery
    due_at: datetime
    interval_seconds: int


class RuleEvaluator:
    """Evaluates due rules in the background (`start`/`stop`) or on demand
    (`evaluate_due_once`); `clock` gives the time of evaluation (tests move it)."""

    def __init__(
        self,
        database: Database,
        instance_id: str,
        *,
        metrics: MetricQueries | None,
        count_logs: LogCounter | None,
        clock: Clock = utcnow,
        tick_seconds: float = 1.0,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.database = database
        self.instance_id = instance_id
        self.metrics = metrics
        self.count_logs = count_logs
        self.clock = clock
        self.tick_seconds = tick_seconds
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # one pool for the evaluator's life: each thread keeps its own store connection
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="rule-evaluation")

    async def start(self) -> None:
        if self._loop_task is not None:
            return
        self._stopping = asyncio.Event()
        self._loop_task = asyncio.create_task(self._run(), name="rule-evaluator")

    async def stop(self) -> None:
        if self._loop_task is None:
            return
        self._stopping.set()
        await asyncio.gather(self._loop_task, return_exceptions=True)
        self._loop_task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await run_in_threadpool(self.evaluate_due_once)
            except Exception:
                log.exception("rule evaluator: evaluating due rules failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.tick_seconds)

    def evaluate_due_once(self) -> int:
        """Take every rule due now, evaluate it and record the outcome; returns how many."""
        now = self.clock()
        evaluated = 0
        while jobs := self._claim(now):
            self._record(jobs, self._outcomes(jobs, now), now)
            evaluated += len(jobs)
        return evaluated

    # --- claiming ----------------------------------------------------------------------------

    def _claim(self, now: datetime) -> list[RuleJob]:
        """Lease up to MAX_CLAIM due rules with one conditional UPDATE; the rows it changed
        (RETURNING) are this process's to evaluate."""
        free = or_(AlertRule.lease_until.is_(None), AlertRule.lease_until < now)
        due = (AlertRule.next_eval_at <= now) & free
        with self.database.session() as db:
            candidates = db.scalars(
                select(AlertRule.id).where(due).order_by(AlertRule.next_eval_at).limit(MAX_CLAIM)
            ).all()
            if not candidates:
                return []
            taken = db.scalars(
                update(AlertRule)
                .where(AlertRule.id.in_(candidates), due)
                .values(leased_by=self.instance_id, lease_until=now + LEASE)
                .returning(AlertRule.id)
            ).all()
            rules = db.scalars(select(AlertRule).where(AlertRule.id.in_(taken))).all()
            return [_job(rule) for rule in rules]

    # --- evaluating --------------------------------------------------------------------------

    def _outcomes(self, jobs: list[RuleJob], now: datetime) -> dict[int, Outcome]:
        """Evaluate the claimed rules: threshold rules on a shared metric together
        (`shared_selectors.py`), the others one by one, CONCURRENCY at a time (the store
        answers queries of several threads at once)."""
        outcomes: dict[int, Outcome] = {}
        if self.metrics is not None:
            thresholds = {
                job.id: rule
                for job in jobs
                if job.query.kind == "metric"
                and (rule := threshold_rule(job.query.definition["expr"])) is not None
            }
            together = evaluate_together(thresholds, now, self.metrics)
            outcomes |= {rule_id: Outcome(*result) for rule_id, result in together.items()}
        alone = [job for job in jobs if job.id not in outcomes]
        results = self._pool.map(lambda job: self._evaluate(job, now), alone)
        outcomes |= {job.id: outcome for job, outcome in zip(alone, results, strict=True)}
        return outcomes

    def _evaluate(self, job: RuleJob, now: datetime) -> Outcome:
        try:
            if job.query.kind == "anomaly":
                watch = self._watch(job)
                return Outcome(evaluate_anomaly(watch, now, self.metrics), "", watch)
            return Outcome(evaluate(job.query, now, self.metrics, self.count_logs), "")
        except ValueError as failure:
            return Outcome([], str(failure))
        except Exception as failure:
            log.exception("evaluating rule %s failed unexpectedly", job.name)
            return Outcome([], f"evaluation failed: {type(failure).__name__}: {failure}")

    def _record(self, jobs: list[RuleJob], outcomes: dict[int, Outcome], now: datetime) -> None:
        """Write the outcomes of a claim in one transaction; if that fails, rule by rule, so
        that one rule cannot hold back the others."""
        try:
            with self.database.session() as db:
                self._record_in(db, jobs, outcomes, now)
        except Exception:
            log.exception("recording %d rule evaluations failed; recording one by one", len(jobs))
            for job in jobs:
                try:
                    with self.database.session() as db:
                        self._record_in(db, [job], outcomes, now)
                except Exception:
                    log.exception("recording the evaluation of rule %s failed", job.name)

    def _record_in(
        self, db: Session, jobs: list[RuleJob], outcomes: dict[int, Outcome], now: datetime
    ) -> None:
        ids = [job.id for job in jobs]
        rules = {r.id: r for r in db.scalars(select(AlertRule).where(AlertRule.id.in_(ids)))}
        open_alerts: dict[int, list[Alert]] = {rule_id: [] for rule_id in ids}
        for alert in db.scalars(
            select(Alert).where(Alert.rule_id.in_(ids), Alert.state.in_(OPEN_STATES))
        ):
            open_alerts[alert.rule_id].append(alert)
        for job in jobs:
            rule = rules.get(job.id)
            if rule is None or rule.leased_by != self.instance_id:
                continue  # removed meanwhile, or the lease ran out and another process took it
            outcome = outcomes[job.id]
            if not outcome.error:
                record_evaluation(db, rule, outcome.actives, now, open_alerts[job.id])
                if outcome.watch is not None:
                    outcome.watch.save(db, rule.id)
            rule.last_eval_at = now
            rule.last_error = outcome.error
            rule.next_eval_at = next_due(job.due_at, job.interval_seconds, now)
            rule.leased_by = ""
            rule.lease_until = None

    def _watch(self, job: RuleJob) -> Watch:
        """The rule's detectors as the database holds them (saved with the alerts' states)."""
        with self.database.session() as db:
            return Watch.load(db, job.id, WatchRule.of(job.query.definition))


def _job(rule: AlertRule) -> RuleJob:
    return RuleJob(
        id=rule.id,
        name=rule.name,
        query=RuleQuery(rule.kind, rule.service, dict(rule.definition)),
        due_at=rule.next_eval_at,
        interval_seconds=rule.interval_seconds,
    )


def record_evaluation(
    db: Session,
    rule: AlertRule,
    actives: list[Active],
    now: datetime,
    open_now: list[Alert] | None = None,
) -> None:
    """Move the rule's alerts to their new states and queue the notifications this causes.
    `open_now`: the rule's pending and firing alerts, when the caller has read them already."""
    if open_now is None:
        open_now = list(
            db.scalars(select(Alert).where(Alert.rule_id == rule.id, Alert.state.in_(OPEN_STATES)))
        )
    open_alerts = {alert.fingerprint: alert for alert in open_now}
    runbook = _runbook(db, rule) if actives else ""
    seen: set[str] = set()
    for active in actives:
        labels = alert_labels(rule, active.labels)
        key = fingerprint(labels)
        seen.add(key)
        alert = open_alerts.get(key)
        if alert is None:
            alert = Alert(
                rule_id=rule.id,
                service=rule.service,
                fingerprint=key,
                labels=labels,
                state="pending",
                active_at=now,
            )
            db.add(alert)
        alert.value = active.value
        alert.last_seen_at = now
        alert.annotations = {
            "runbook_url": runbook,
            **fill_all(rule.annotations, labels, active.value, active.band),
        }
        pending_long_enough = now - alert.active_at >= timedelta(seconds=rule.for_seconds)
        if alert.state == "pending" and pending_long_enough:
            alert.state = "firing"
            alert.fired_at = now
        if alert.state == "firing":
            db.flush()
            notify_unless_suppressed(db, alert, now)
    keep_firing = timedelta(seconds=int(rule.definition.get("keep_firing_for", 0)))
    for key, alert in open_alerts.items():
        if key in seen:
            continue
        if alert.state == "pending":
            db.delete(alert)
        elif now - alert.last_seen_at >= keep_firing:
            resolve(db, alert, now, by="")


def notify_unless_suppressed(db: Session, alert: Alert, now: datetime) -> None:
    """Queue the firing notifications not yet queued, and the escalations now due, unless a
    silence or a critical alert mutes the alert now (when the silence ends, the next
    evaluation notifies)."""
    alert.suppressed_by = suppression(db, alert, now)
    if not alert.suppressed_by:
        queue_notifications(db, alert, "firing", now)
        escalate(db, alert, now)


def resolve(db: Session, alert: Alert, now: datetime, by: str) -> None:
    """Resolve an open alert (the rule no longer sees it, or a person resolved it)."""
    alert.state = "resolved"
    alert.resolved_at = now
    alert.resolved_by = by
    queue_notifications(db, alert, "resolved", now)


def alert_labels(rule: AlertRule, found: dict[str, str]) -> dict[str, str]:
    """The labels of an alert: what the expression gave, then the rule's labels, then
    alertname, service and severity (as Prometheus adds alertname)."""
    return {
        **found,
        **rule.labels,
        "alertname": rule.name,
        "service": rule.service,
        "severity": rule.severity,
    }


def _runbook(db: Session, rule: AlertRule) -> str:
    if rule.annotations.get("runbook_url"):
        return rule.annotations["runbook_url"]
    return db.scalar(select(Service.runbook_url).where(Service.name == rule.service)) or ""


def queue_notifications(db: Session, alert: Alert, event: str, now: datetime) -> None:
    """One notification of this event for every receiver of the alert's service that has not
    had it; a resolution goes only to the receivers that were told the alert fired (or were
    escalated to)."""
    if event == "firing":
        receivers = db.scalars(
            select(Receiver.id).where(
                or_(Receiver.service == "", Receiver.service == alert.service),
                Receiver.name.not_in(escalation_receivers(db)),
            )
        ).all()
    else:
        receivers = list(
            db.scalars(
                select(Notification.receiver_id)
                .where(Notification.alert_id == alert.id, Notification.event != "resolved")
                .distinct()
            )
        )
    already = set(_told(db, alert.id, event))
    for receiver_id in receivers:
        if receiver_id not in already:
            db.add(
                Notification(
                    alert_id=alert.id, receiver_id=receiver_id, event=event, next_attempt_at=now
                )
            )


def _told(db: Session, alert_id: int, event: str) -> list[int]:
    return list(
        db.scalars(
            select(Notification.receiver_id).where(
                Notification.alert_id == alert_id, Notification.event == event
            )
        )
    )

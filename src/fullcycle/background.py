"""The background work of fullcycle (scraping, deploy runs, alert rules and notifications), in
one place.

It runs in the server process by default and, at scale, in `fullcycle worker` processes
instead (`FULLCYCLE_BACKGROUND_WORK=false` on the servers). Every kind of work coordinates
through the control-plane database (leases), so any number of processes can run it at once and
each piece of work still runs once. A worker has no telemetry store of its own: it appends
through the server's API (telemetry/remote.py) and queries metrics through it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fullcycle.alerting.dispatch import NotificationDispatcher
from fullcycle.alerting.evaluation import LogCounter, store_log_counter
from fullcycle.alerting.evaluator import RuleEvaluator
from fullcycle.alerting.notify.email import mail_relay
from fullcycle.alerting.notify.message import Target
from fullcycle.deploy.metric_queries import EngineQueries, MetricQueries
from fullcycle.deploy.process import Supervisor
from fullcycle.deploy.runner import DeployRunner
from fullcycle.ingest.scraper import Scraper, default_instance_id
from fullcycle.settings import Settings
from fullcycle.store.database import Database
from fullcycle.telemetry.sink import TelemetrySink
from fullcycle.telemetry.store import TelemetryStore


@dataclass
class BackgroundWork:
    scraper: Scraper
    deploy_runner: DeployRunner
    rule_evaluator: RuleEvaluator
    dispatcher: NotificationDispatcher

    @classmethod
    def for_server(
        cls, settings: Settings, database: Database, store: TelemetryStore
    ) -> BackgroundWork:
        return cls.create(
            database,
            store,
            EngineQueries(store),
            settings.data_dir,
            count_logs=store_log_counter(store),
            base_url=settings.base_url,
            mail_relay=mail_relay(settings.smtp_url, settings.smtp_from),
        )

    @classmethod
    def create(
        cls,
        database: Database,
        telemetry: TelemetrySink,
        queries: MetricQueries | None,
        data_dir: Path,
        *,
        count_logs: LogCounter | None = None,
        base_url: str = "",
        mail_relay: Target | None = None,
    ) -> BackgroundWork:
        """`data_dir` keeps the releases that the `process` deploy target runs. Log alert
        rules need `count_logs` (a process with the telemetry store open); `base_url` starts
        the links in notifications; `mail_relay` sends people's own e-mail contact methods."""
        instance = default_instance_id()
        return cls(
            scraper=Scraper(database, telemetry, instance),
            deploy_runner=DeployRunner(
                database,
                telemetry,
                instance,
                queries=queries,
                supervisor=Supervisor(data_dir / "releases"),
            ),
            rule_evaluator=RuleEvaluator(
                database, instance, metrics=queries, count_logs=count_logs
            ),
            dispatcher=NotificationDispatcher(database, instance, base_url, mail_relay=mail_relay),
        )

    async def start(self) -> None:
        await self.scraper.start()
        await self.deploy_runner.start()
        await self.rule_evaluator.start()
        await self.dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()
        await self.rule_evaluator.stop()
        await self.deploy_runner.stop()
        await self.scraper.stop()

"""`fullcycle worker`: the server's background work (scrapes, deploys, alert rules and
notifications) in a process of its own.

At scale, servers run with `FULLCYCLE_BACKGROUND_WORK=false` and as many workers as needed run
next to them: a worker shares the control-plane database with the servers (its leases make
every piece of work run once), hands the telemetry it makes to a server's API and reads metrics
and log counts through it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from fullcycle.cli.client import CliError, connect
from fullcycle.cli.server_commands import DataDirOption, local_settings
from fullcycle.settings import Settings

if TYPE_CHECKING:
    from fullcycle.background import BackgroundWork


WORKER_SCOPES = {"ingest", "read"}


def worker(ctx: typer.Context, data_dir: Path | None = DataDirOption) -> None:
    """Run the background work (scrapes, deploys, alert rules, notifications) for the server
    at --url, until Ctrl-C or SIGTERM.

    The database is the server's: FULLCYCLE_DATABASE_URL, or the SQLite file in --data-dir on
    this machine. The token (--token or FULLCYCLE_TOKEN) needs the `ingest` and `read` scopes
    (rows go to the server's ingest API; deploy verification queries its PromQL API).
    """
    from fullcycle.alerting.notify.email import mail_relay
    from fullcycle.background import BackgroundWork
    from fullcycle.deploy.api_queries import ApiQueries
    from fullcycle.logs.remote import api_log_counter
    from fullcycle.selfmonitoring.json_logs import configure_logging
    from fullcycle.store.database import Database
    from fullcycle.telemetry.remote import RemoteTelemetry

    settings = local_settings(data_dir=data_dir)
    database_url = _migrated_database(settings)
    client = connect(ctx)
    token = client.connection.token
    if not token:
        raise CliError(
            "a worker needs a token with the ingest and read scopes: --token or FULLCYCLE_TOKEN"
        )
    me = client.get("/api/v1/auth/me")  # fails early on a wrong URL or token
    missing = sorted(WORKER_SCOPES - set(me["scopes"]))
    if missing:
        raise CliError(
            f"the worker's token lacks the {' and '.join(missing)} scope"
            f"{'s' if len(missing) > 1 else ''} (it has: {', '.join(me['scopes']) or 'none'})",
            "a worker sends rows to the server (ingest) and reads metrics and log counts (read)",
        )
    configure_logging(settings.log_level)
    database = Database(database_url)
    work = BackgroundWork.create(
        database,
        RemoteTelemetry(client.url, token),
        ApiQueries(client.url, token),
        settings.data_dir,
        count_logs=api_log_counter(client.url, token),
        base_url=client.url,
        mail_relay=mail_relay(settings.smtp_url, settings.smtp_from),
    )
    try:
        asyncio.run(_run_until_stopped(work))
    finally:
        database.dispose()


def _migrated_database(settings: Settings) -> str:
    """The server's database URL, refusing one the server has not created or migrated."""
    from fullcycle.store import migrate

    url = settings.resolved_database_url
    if settings.database_url is None and not (settings.data_dir / "fullcycle.db").exists():
        raise CliError(
            f"no fullcycle database in {settings.data_dir}",
            "point --data-dir at the server's data dir, or set FULLCYCLE_DATABASE_URL",
        )
    if migrate.current_revision(url) != migrate.head_revision():
        raise CliError(
            "the database is not at this version's schema",
            "start the server of this version first (it migrates), or `fullcycle db upgrade`",
        )
    return url


async def _run_until_stopped(work: BackgroundWork) -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop_signal, stopped.set)
    await work.start()
    print(f"fullcycle worker {os.getpid()} is running", flush=True)
    await stopped.wait()
    await work.stop()


def register(app: typer.Typer) -> None:
    app.command("worker", rich_help_panel="Run a server (on this machine)")(worker)

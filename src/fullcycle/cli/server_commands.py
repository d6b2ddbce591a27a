"""Commands that work on the local installation: run the server, migrate, reset a password.

The server's modules (FastAPI, SQLAlchemy, uvicorn) are imported inside the commands, so that
the client commands, which never need them, start quickly.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from types import FrameType
from typing import Any

import typer

from fullcycle.settings import Settings

DataDirOption = typer.Option(
    None,
    "--data-dir",
    help="Where fullcycle keeps its data (else env FULLCYCLE_DATA_DIR, else ./.fullcycle).",
)


def up(
    data_dir: Path | None = DataDirOption,
    host: str | None = typer.Option(
        None, "--host", help="Address to listen on (else env FULLCYCLE_HOST, else 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, "--port", help="Port to listen on (else env FULLCYCLE_PORT, else 8080)."
    ),
    otlp_port: int | None = typer.Option(
        None,
        "--otlp-port",
        help="Also serve on this port, e.g. 4318, the OTLP/HTTP default (else env "
        "FULLCYCLE_OTLP_PORT, else only --port).",
    ),
    retention_logs: str | None = typer.Option(
        None, "--retention-logs", help="Keep logs this long: 36h, 14d, 2w (default 14d)."
    ),
    retention_samples: str | None = typer.Option(
        None, "--retention-samples", help="Keep metric samples this long (default 30d)."
    ),
    retention_spans: str | None = typer.Option(
        None, "--retention-spans", help="Keep spans this long (default 7d)."
    ),
    retention_markers: str | None = typer.Option(
        None, "--retention-markers", help="Keep deploy and incident markers (default 400d)."
    ),
) -> None:
    """Run the fullcycle server in the foreground (Ctrl-C or SIGTERM stops it cleanly).

    The first start creates the data directory, the database and an 'admin' user, and prints
    that user's password once. Logs go to stderr as one JSON object per line.
    """
    from fullcycle.app import create_app
    from fullcycle.selfmonitoring.json_logs import configure_logging

    retention = {
        "logs": retention_logs,
        "samples": retention_samples,
        "spans": retention_spans,
        "markers": retention_markers,
    }
    settings = local_settings(
        data_dir=data_dir,
        host=host,
        port=port,
        retention={table: text for table, text in retention.items() if text},
        otlp_port=otlp_port,
    )
    configure_logging(settings.log_level)
    serve(create_app(settings, announce=True), settings)


def local_settings(**flags: Any) -> Settings:
    """The settings from these flags and the environment; a malformed one ends the command with
    status 2 and its name."""
    try:
        return Settings.from_environment(**flags)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error


STARTUP_FAILURE = 3  # uvicorn's status for a server that could not start


def serve(app: Any, settings: Settings) -> None:
    """Run the app on the settings' ports until SIGINT or SIGTERM; exit with STARTUP_FAILURE
    when it could not start."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _stop_was_requested)
    sockets = _listening_sockets(settings)
    try:
        server.run(sockets=sockets)
    except SystemExit:
        if server.started:
            raise
    if not server.started:  # the app's start failed: its lifespan may have said why
        reason = getattr(app.state, "startup_failure", None)
        if reason:
            typer.echo(f"error: {reason}", err=True)
        raise typer.Exit(STARTUP_FAILURE)


def _listening_sockets(settings: Settings) -> list[socket.socket]:
    """The main port, and the OTLP port when one is set: one app serves both."""
    ports = [settings.port] + ([settings.otlp_port] if settings.otlp_port else [])
    sockets = []
    for port in ports:
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((settings.host, port))
        except OSError as error:
            listener.close()
            typer.echo(f"error: cannot listen on {settings.host}:{port}: {error}", err=True)
            raise typer.Exit(STARTUP_FAILURE) from error
        listener.listen(2048)
        listener.set_inheritable(True)
        sockets.append(listener)
    return sockets


def _stop_was_requested(signum: int, frame: FrameType | None) -> None:
    """After a graceful shutdown uvicorn re-raises the signal that asked for it, to the handler
    it found when it started; this one lets the process end normally, with status 0."""


db_app = typer.Typer(help="The control-plane database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(data_dir: Path | None = DataDirOption) -> None:
    """Apply database migrations (the server also does this when it starts)."""
    from fullcycle.store import migrate

    settings = local_settings(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    revision = migrate.current_revision(settings.resolved_database_url)
    typer.echo(f"database at revision {revision}")


admin_app = typer.Typer(
    help="Local administration (runs on this machine's database, no server needed).",
    no_args_is_help=True,
)


@admin_app.command("reset-password")
def admin_reset_password(
    name: str = typer.Argument(..., help="The user whose password to reset."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Give a user a new random password and print it (for a lost admin password)."""
    from fullcycle.auth.users import reset_password
    from fullcycle.store.database import Database

    settings = local_settings(data_dir=data_dir)
    database = Database(settings.resolved_database_url)
    try:
        with database.session() as db:
            password = reset_password(db, name)
    except LookupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    finally:
        database.dispose()
    typer.echo(f"new password for {name}: {password}")


def register(app: typer.Typer) -> None:
    panel = "Run a server (on this machine)"
    app.command("up", rich_help_panel=panel)(up)
    app.add_typer(db_app, name="db", rich_help_panel=panel)
    app.add_typer(admin_app, name="admin", rich_help_panel=panel)

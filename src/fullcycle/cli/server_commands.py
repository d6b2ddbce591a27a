"""Commands that work on the local installation: run the server, migrate, reset a password."""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn

from fullcycle.app import create_app
from fullcycle.auth.users import reset_password
from fullcycle.selfmonitoring.json_logs import configure_logging
from fullcycle.settings import Settings
from fullcycle.store import migrate
from fullcycle.store.database import Database

DataDirOption = typer.Option(
    None, "--data-dir", help="Where fullcycle keeps its data [env FULLCYCLE_DATA_DIR; ./.fullcycle]"
)


def up(
    data_dir: Path | None = DataDirOption,
    host: str | None = typer.Option(
        None, "--host", help="Address to listen on [env FULLCYCLE_HOST; 127.0.0.1]"
    ),
    port: int | None = typer.Option(
        None, "--port", help="Port to listen on [env FULLCYCLE_PORT; 8080]"
    ),
) -> None:
    """Run the fullcycle server in the foreground (Ctrl-C or SIGTERM stops it cleanly)."""
    settings = Settings.from_environment(data_dir=data_dir, host=host, port=port)
    configure_logging(settings.log_level)
    app = create_app(settings, announce=True)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
        proxy_headers=False,
    )
    uvicorn.Server(config).run()


db_app = typer.Typer(help="The control-plane database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(data_dir: Path | None = DataDirOption) -> None:
    """Apply database migrations (the server also does this when it starts)."""
    settings = Settings.from_environment(data_dir=data_dir)
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
    settings = Settings.from_environment(data_dir=data_dir)
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
    app.command("up")(up)
    app.add_typer(db_app, name="db")
    app.add_typer(admin_app, name="admin")

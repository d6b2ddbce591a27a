"""Entry point of the `fullcycle` command; each area adds its commands from its own module."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from fullcycle import __version__
from fullcycle.cli import (
    alert_commands,
    audit_commands,
    auth_commands,
    dashboard_commands,
    demo_command,
    deploy_commands,
    detect_command,
    log_commands,
    oncall_commands,
    receiver_commands,
    server_commands,
    service_commands,
    team_commands,
    token_commands,
    user_commands,
    worker_command,
)
from fullcycle.cli.client import CliError, GlobalOptions

# The order of the sections in `fullcycle --help`; each module names its commands' section.
HELP_PANELS = (
    "Catalog",
    "Deploy",
    "Alerting",
    "Telemetry",
    "Access",
    "Log in",
    "Run a server (on this machine)",
    "Explore data (on this machine)",
)


class FullcycleGroup(TyperGroup):
    """Reports a CliError from any command as a red message (and hint) with exit status 1,
    and lists commands by section in `--help`."""

    def list_commands(self, ctx: Any) -> list[str]:
        def section(name: str) -> int:
            panel = getattr(self.commands[name], "rich_help_panel", None)
            return HELP_PANELS.index(panel) if panel in HELP_PANELS else len(HELP_PANELS)

        return sorted(super().list_commands(ctx), key=section)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            error.show()
            raise typer.Exit(1) from None


app = typer.Typer(
    name="fullcycle",
    cls=FullcycleGroup,
    help="fullcycle: deploy safely, then run what you built.",
    epilog="Start a server with `fullcycle up`, then `fullcycle login` and try "
    "`fullcycle services list`. Every command has --help.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"fullcycle {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    url: str | None = typer.Option(
        None,
        "--url",
        metavar="URL",
        help="The fullcycle server to talk to (else env FULLCYCLE_URL, else the server of "
        "`fullcycle login`, else http://127.0.0.1:8080).",
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        metavar="TOKEN",
        help="API token to send (else env FULLCYCLE_TOKEN, else the token `fullcycle login` "
        "stored for that server). Prefer the variable: options show up in `ps`.",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """fullcycle: deploy safely, then run what you built."""
    ctx.obj = GlobalOptions(url=url, token=token)


auth_commands.register(app)
service_commands.register(app)
deploy_commands.register(app)
alert_commands.register(app)
receiver_commands.register(app)
oncall_commands.register(app)
team_commands.register(app)
dashboard_commands.register(app)
user_commands.register(app)
token_commands.register(app)
audit_commands.register(app)
log_commands.register(app)
server_commands.register(app)
worker_command.register(app)
detect_command.register(app)
demo_command.register(app)

"""Entry point of the `fullcycle` command; each area adds its commands from its own module."""

from __future__ import annotations

import typer

from fullcycle import __version__
from fullcycle.cli import server_commands

app = typer.Typer(
    name="fullcycle",
    help="fullcycle: deploy safely, then run what you built.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"fullcycle {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """fullcycle: deploy safely, then run what you built."""


server_commands.register(app)

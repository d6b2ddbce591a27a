"""`fullcycle receivers list|show|apply|delete`: where services' alerts are sent, kept as code
in a YAML file (a list of receivers, each as the API takes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fullcycle.cli import output
from fullcycle.cli.client import ApiClient, ApiError, CliError, connect

receivers_app = typer.Typer(
    help="Alert receivers (webhook, Slack, e-mail, PagerDuty): list, show, apply, delete.",
    no_args_is_help=True,
)


def _path(name: str) -> str:
    return f"/api/v1/alert-receivers/{quote(name, safe='')}"


@receivers_app.command("list")
def list_receivers(ctx: typer.Context, as_json: bool = output.JsonOption) -> None:
    """The receivers of services, targets and secrets masked."""
    receivers = connect(ctx).get("/api/v1/alert-receivers")
    if as_json:
        output.print_json(receivers)
        return
    table = output.table("NAME", "KIND", "TARGET", "SERVICE", "GROUP BY", "WAIT")
    for receiver in receivers:
        output.add_row(
            table,
            receiver["name"],
            receiver["kind"],
            receiver["target"],
            receiver["service"] or "(all)",
            ", ".join(receiver["group_by"]),
            receiver["group_wait"],
        )
    output.print_table(table, "no receivers")


@receivers_app.command("show")
def show_receiver(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME"),
    as_json: bool = output.JsonOption,
) -> None:
    """One receiver."""
    receiver = connect(ctx).get(_path(name))
    if as_json:
        output.print_json(receiver)
        return
    for key, value in receiver.items():
        typer.echo(f"{key}: {value}")


def _receivers_in(path: Path) -> list[dict[str, Any]]:
    """The receivers a file lists (`- name: …` entries, or under a `receivers:` key)."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as error:
        raise CliError(f"{path}: cannot read it as YAML: {error}") from None
    if isinstance(data, dict) and "receivers" in data:
        data = data["receivers"]
    if not isinstance(data, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("name"), str) for entry in data
    ):
        raise CliError(f"{path}: expected a list of receivers, each a mapping with a name")
    return data


def _apply_one(client: ApiClient, receiver: dict[str, Any], existing: set[str]) -> str:
    """Create the receiver or replace the one of that name; returns what was done."""
    if receiver["name"] in existing:
        client.decode(client.send("PUT", _path(receiver["name"]), json=receiver))
        return "replaced"
    client.post("/api/v1/alert-receivers", receiver)
    return "created"


@receivers_app.command("apply")
def apply_receivers(ctx: typer.Context, file: Path = typer.Argument(..., metavar="FILE")) -> None:
    """Create or replace each receiver FILE lists (receivers it does not list are kept)."""
    receivers = _receivers_in(file)
    client = connect(ctx)
    existing = {entry["name"] for entry in client.get("/api/v1/alert-receivers")}
    for receiver in receivers:
        try:
            done = _apply_one(client, receiver, existing)
        except ApiError as error:
            raise CliError(f"{file}: receiver {receiver['name']!r}: {error}") from None
        output.success(f"receiver {receiver['name']} {done}")


@receivers_app.command("delete")
def delete_receiver(ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Delete a receiver (refused while an escalation policy names it)."""
    connect(ctx).delete(_path(name))
    output.success(f"receiver {name} deleted")


def register(app: typer.Typer) -> None:
    app.add_typer(receivers_app, name="receivers", rich_help_panel="Alerting")

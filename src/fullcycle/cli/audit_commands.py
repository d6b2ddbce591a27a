"""`fullcycle audit`: who changed what, newest first."""

from __future__ import annotations

import json

import typer

from fullcycle.cli import output
from fullcycle.cli.client import connect


def audit(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000, help="How many events."),
    action: str | None = typer.Option(
        None,
        "--action",
        metavar="PREFIX",
        help="Only actions starting with this, e.g. 'token.' or 'service.create'.",
    ),
    as_json: bool = output.JsonOption,
) -> None:
    """Show the audit log, newest first (needs the 'admin' scope)."""
    events = connect(ctx).get("/api/v1/audit", limit=limit, action=action)
    if as_json:
        output.print_json(events)
        return
    rows = output.table("TIME", "ACTOR", "ACTION", "TARGET", "FROM", "DETAILS")
    for event in events:
        output.add_row(
            rows,
            output.when(event["at"]),
            event["actor"],
            event["action"],
            event["target"],
            event["remote_addr"],
            json.dumps(event["details"], ensure_ascii=False) if event["details"] else "",
        )
    output.print_table(rows, "no audit events match")


def register(app: typer.Typer) -> None:
    app.command("audit", rich_help_panel="Access")(audit)

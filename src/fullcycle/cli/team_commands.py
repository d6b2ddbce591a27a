"""`fullcycle teams`: the teams that own services, their members and their services."""

from __future__ import annotations

from urllib.parse import quote

import typer
from rich.text import Text

from fullcycle.cli import output
from fullcycle.cli.client import connect
from fullcycle.cli.service_commands import links_text, refs_text

teams_app = typer.Typer(
    help="Teams: who is in each one and which services it owns.", no_args_is_help=True
)


@teams_app.command("list")
def list_teams(ctx: typer.Context, as_json: bool = output.JsonOption) -> None:
    """List teams with their members and services."""
    teams = connect(ctx).get("/api/v1/teams")
    if as_json:
        output.print_json(teams)
        return
    rows = output.table("NAME", "TITLE", "E-MAIL", "MEMBERS", "SERVICES")
    for team in teams:
        output.add_row(
            rows,
            team["name"],
            team["title"],
            team["email"],
            len(team["members"]),
            output.joined(team["services"]),
        )
    output.print_table(rows, "no teams yet")


@teams_app.command("show")
def show_team(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The team's name."),
    as_json: bool = output.JsonOption,
) -> None:
    """Show one team: description, e-mail, parent team, members, services and links."""
    team = connect(ctx).get(f"/api/v1/teams/{quote(name, safe='')}")
    if as_json:
        output.print_json(team)
        return
    heading = Text(team["name"], style="bold")
    if team["title"]:
        heading.append(f"  {team['title']}")
    output.line(heading)
    if team["description"]:
        output.line(Text(team["description"]))
    output.print_fields(
        [
            ("e-mail", team["email"]),
            ("parent", team["parent"] or "-"),
            ("members", refs_text(team["members"], "user")),
            ("services", output.joined(team["services"])),
            ("links", links_text(team["links"])),
        ]
    )


def register(app: typer.Typer) -> None:
    app.add_typer(teams_app, name="teams", rich_help_panel="Catalog")

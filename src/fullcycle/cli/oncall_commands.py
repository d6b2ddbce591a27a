"""`fullcycle oncall` (who is on call now and next, overrides) and `fullcycle contacts` (a
person's own ways of being paged), like `pd oncall` and `pd user contact`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import typer

from fullcycle.cli import output
from fullcycle.cli.client import ApiClient, CliError, connect
from fullcycle.logs.time_range import NS_PER_SECOND, TimeRangeError, parse_time

oncall_app = typer.Typer(
    help="Who is on call: now and next, for a service or a team; overrides.",
    no_args_is_help=True,
)
contacts_app = typer.Typer(
    help="A person's contact methods (e-mail, Slack, webhook): list, add, remove.",
    no_args_is_help=True,
)


def moment(value: str, option: str) -> datetime:
    """`now`, `now+8h`, `now-30m` or an RFC 3339 time with its zone (`2026-12-24T18:00Z`)."""
    try:
        nanoseconds = parse_time(value, option, time.time_ns())
    except TimeRangeError:
        raise CliError(
            f"{option} {value!r}: expected now, now+8h or an RFC 3339 time with its zone, "
            "e.g. 2026-12-24T18:00:00Z"
        ) from None
    return datetime.fromtimestamp(nanoseconds / NS_PER_SECOND, UTC)


def _quoted(name: str) -> str:
    return quote(name, safe="")


def _schedules(client: ApiClient, service: str | None, team: str | None, at: str | None) -> Any:
    if service and team:
        raise CliError("give a SERVICE or --team, not both")
    when = moment(at, "--at").isoformat() if at else None
    if team:
        return client.get(f"/api/v1/teams/{_quoted(team)}/oncall", at=when)
    if service:
        return client.get(f"/api/v1/services/{_quoted(service)}/oncall", at=when)
    raise CliError("say whose on-call to show: `fullcycle oncall show SERVICE` or `--team TEAM`")


def _shift_text(shift: dict[str, Any], edge: str) -> str:
    mark = " (override)" if shift["override"] else ""
    return f"{shift['user']}{mark}, {edge} {output.when(shift[edge])}"


@oncall_app.command("show")
def show_oncall(
    ctx: typer.Context,
    service: str | None = typer.Argument(None, metavar="[SERVICE]"),
    team: str | None = typer.Option(None, "--team", help="A team's schedules instead."),
    at: str | None = typer.Option(None, "--at", metavar="TIME", help="now+1d, or RFC 3339."),
    as_json: bool = output.JsonOption,
) -> None:
    """Who is on call for SERVICE (through the teams owning it) or for --team, and who is next."""
    schedules = _schedules(connect(ctx), service, team, at)
    if as_json:
        output.print_json(schedules)
        return
    table = output.table("SCHEDULE", "ID", "ROTATION", "ON CALL", "NEXT")
    for schedule in schedules:
        output.add_row(
            table,
            f"{schedule['team']}/{schedule['name']}",
            schedule["id"],
            f"{schedule['rotation']}, {schedule['handoff']} {schedule['timezone']}",
            _shift_text(schedule["now"], "until"),
            _shift_text(schedule["next"], "from"),
        )
    output.print_table(table, "no on-call schedules")


def _schedule_id(client: ApiClient, schedule: str) -> int:
    """The id of `TEAM/NAME` (or of a plain id)."""
    if schedule.isdigit():
        return int(schedule)
    team, slash, name = schedule.partition("/")
    if not slash or not name:
        raise CliError(f"schedule {schedule!r}: expected TEAM/NAME (e.g. team-shop/primary)")
    for found in client.get(f"/api/v1/teams/{_quoted(team)}/oncall"):
        if found["name"] == name:
            return int(found["id"])
    raise CliError(f"team {team!r} has no on-call schedule named {name!r}")


@oncall_app.command("override")
def override(
    ctx: typer.Context,
    schedule: str = typer.Argument(..., metavar="TEAM/SCHEDULE"),
    user: str = typer.Option(..., "--user", help="Who takes the shift."),
    start: str = typer.Option("now", "--from", metavar="TIME", help="now, now+2h, or RFC 3339."),
    end: str = typer.Option(..., "--to", metavar="TIME", help="now+8h, or RFC 3339."),
) -> None:
    """Put USER on call in a schedule from --from to --to (a swap, a holiday cover)."""
    client = connect(ctx)
    body = {
        "user": user,
        "starts_at": moment(start, "--from").isoformat(),
        "ends_at": moment(end, "--to").isoformat(),
    }
    changed = client.post(
        f"/api/v1/oncall-schedules/{_schedule_id(client, schedule)}/overrides", body
    )
    output.success(
        f"{user} is on call in {schedule} from {output.when(body['starts_at'])} "
        f"until {output.when(body['ends_at'])}; now: {changed['now']['user']}"
    )


def _whose(client: ApiClient, user: str | None) -> str:
    return user or str(client.get("/api/v1/auth/me")["user"]["name"])


def _contacts_path(user: str) -> str:
    return f"/api/v1/users/{_quoted(user)}/contact-methods"


@contacts_app.command("list")
def list_contacts(
    ctx: typer.Context,
    user: str | None = typer.Argument(None, metavar="[USER]", help="Default: you."),
    as_json: bool = output.JsonOption,
) -> None:
    """A person's contact methods (webhook and Slack URLs shown as scheme and host)."""
    client = connect(ctx)
    methods = client.get(_contacts_path(_whose(client, user)))
    if as_json:
        output.print_json(methods)
        return
    table = output.table("LABEL", "KIND", "ADDRESS")
    for method in methods:
        output.add_row(table, method["label"], method["kind"], method["address"])
    output.print_table(table, "no contact methods")


def _kind_and_address(email: str | None, slack: str | None, webhook: str | None) -> tuple[str, str]:
    given = [
        (kind, value)
        for kind, value in (("email", email), ("slack", slack), ("webhook", webhook))
        if value
    ]
    if len(given) != 1:
        raise CliError("give exactly one of --email ADDRESS, --slack URL or --webhook URL")
    return given[0]


@contacts_app.command("add")
def add_contact(
    ctx: typer.Context,
    label: str = typer.Argument(..., metavar="LABEL", help="A name for it: work-mail, phone."),
    email: str | None = typer.Option(None, "--email", metavar="ADDRESS"),
    slack: str | None = typer.Option(None, "--slack", metavar="URL", help="A Slack webhook URL."),
    webhook: str | None = typer.Option(None, "--webhook", metavar="URL"),
    user: str | None = typer.Option(None, "--user", help="Whose (admins only; default: you)."),
) -> None:
    """Add a way to reach a person when they are paged."""
    kind, address = _kind_and_address(email, slack, webhook)
    client = connect(ctx)
    whose = _whose(client, user)
    client.post(_contacts_path(whose), {"label": label, "kind": kind, "address": address})
    output.success(f"{whose} can be reached by {kind} ({label})")


@contacts_app.command("remove")
def remove_contact(
    ctx: typer.Context,
    label: str = typer.Argument(..., metavar="LABEL"),
    user: str | None = typer.Option(None, "--user", help="Whose (admins only; default: you)."),
) -> None:
    """Remove one of a person's contact methods."""
    client = connect(ctx)
    whose = _whose(client, user)
    client.delete(f"{_contacts_path(whose)}/{_quoted(label)}")
    output.success(f"contact method {label} of {whose} removed")


def register(app: typer.Typer) -> None:
    app.add_typer(oncall_app, name="oncall", rich_help_panel="Alerting")
    app.add_typer(contacts_app, name="contacts", rich_help_panel="Alerting")

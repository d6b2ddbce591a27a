"""`fullcycle rules check|apply FILE` and `fullcycle alerts list|show|ack|resolve`: alert rules
from files, and the alerts they raise."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from fullcycle.alerting.rules.file import RuleFileError, parse_rule_file
from fullcycle.alerting.silences import parse_matcher
from fullcycle.cli import output
from fullcycle.cli.client import ApiError, CliError, connect

PANEL = "Alerting"
STATE_STYLE = {"firing": "bold red", "pending": "yellow", "resolved": "green"}

rules_app = typer.Typer(
    help="Alert rules from rule files: check, apply, list.", no_args_is_help=True
)
alerts_app = typer.Typer(
    help="Alerts: list, show, acknowledge, resolve, silence.", no_args_is_help=True
)


def state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {path}: {error}") from error


@rules_app.command("check")
def check_rules(file: Path = typer.Argument(..., metavar="FILE")) -> None:
    """Validate a rule file here, without a server; each problem with its line and field."""
    try:
        spec = parse_rule_file(_read(file))
    except RuleFileError as error:
        for problem in error.problems:
            where = f"{file}:{problem.line}" if problem.line else str(file)
            field = f" {problem.field}:" if problem.field else ""
            output.error_line(f"{where}:{field} {problem.message}")
        raise typer.Exit(1) from None
    count = sum(len(group.rules) for group in spec.groups)
    output.success(f"{file}: {count} rules in {len(spec.groups)} groups are valid")


@rules_app.command("apply")
def apply_rules(ctx: typer.Context, file: Path = typer.Argument(..., metavar="FILE")) -> None:
    """Make the server's rules of FILE what it says: rules are created, updated, and the ones
    the file no longer has are removed."""
    client = connect(ctx)
    try:
        response = client.send(
            "PUT", "/api/v1/rules", json={"source": _read(file), "name": file.name}
        )
    except ApiError as error:
        if error.status != 422 or "problems" not in error.body:
            raise
        for problem in error.body["problems"]:
            where = f"{file}:{problem['line']}" if problem["line"] else str(file)
            output.error_line(f"{where}: {problem['field']}: {problem['message']}")
        raise typer.Exit(1) from None
    body = client.decode(response)
    parts = [f"{len(body[key])} {key}" for key in ("created", "updated", "removed")]
    output.success(f"{file.name}: " + ", ".join(parts))


@rules_app.command("list")
def list_rules(
    ctx: typer.Context,
    service: str | None = typer.Option(None, "--service", "-s"),
    as_json: bool = output.JsonOption,
) -> None:
    """The rules of every service or one."""
    rules = connect(ctx).get("/api/v1/rules", service=service)
    if as_json:
        output.print_json(rules)
        return
    table = output.table("SERVICE", "NAME", "KIND", "SEVERITY", "EVERY", "FOR", "ERROR")
    for rule in rules:
        output.add_row(
            table,
            rule["service"],
            rule["name"],
            rule["kind"],
            rule["severity"],
            f"{rule['interval_seconds']}s",
            f"{rule['for_seconds']}s",
            rule["last_error"] or "",
        )
    output.print_table(table, "no rules")


@alerts_app.command("list")
def list_alerts(
    ctx: typer.Context,
    state: str | None = typer.Option(None, "--state", help="pending, firing or resolved."),
    service: str | None = typer.Option(None, "--service", "-s"),
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=1000),
    as_json: bool = output.JsonOption,
) -> None:
    """Alerts, newest first."""
    alerts = connect(ctx).get("/api/v1/alerts", state=state, service=service, limit=limit)
    if as_json:
        output.print_json(alerts)
        return
    table = output.table("ID", "SERVICE", "ALERT", "SEVERITY", "STATE", "SINCE", "ACK", "SUMMARY")
    for alert in alerts:
        output.add_row(
            table,
            alert["id"],
            alert["service"],
            alert["name"],
            alert["severity"],
            state_text(alert["state"]),
            output.when(alert["active_at"]),
            alert["acknowledged_by"],
            alert["annotations"].get("summary", ""),
        )
    output.print_table(table, "no alerts match")


@alerts_app.command("show")
def show_alert(
    ctx: typer.Context,
    alert_id: int = typer.Argument(..., metavar="ID"),
    as_json: bool = output.JsonOption,
) -> None:
    """One alert: labels, annotations, suspect deploy and the delivery of its notifications."""
    alert = connect(ctx).get(f"/api/v1/alerts/{alert_id}")
    if as_json:
        output.print_json(alert)
        return
    deploy = alert["suspect_deploy"]
    output.print_fields(
        [
            ("alert", f"{alert['id']} {alert['name']} ({alert['service']})"),
            ("state", state_text(alert["state"])),
            ("value", alert["value"]),
            ("since", output.when(alert["active_at"])),
            ("labels", ", ".join(f"{k}={v}" for k, v in alert["labels"].items())),
            ("summary", alert["annotations"].get("summary", "-")),
            ("acknowledged by", alert["acknowledged_by"] or "-"),
            ("suspect deploy", f"{deploy['version']} by {deploy['actor']}" if deploy else "-"),
        ]
    )
    for delivery in alert["notifications"]:
        output.line(
            Text(f"{delivery['event']} to {delivery['receiver']} ({delivery['target']}): ")
            + Text(delivery["status"])
        )


@alerts_app.command("ack")
def acknowledge(ctx: typer.Context, alert_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Acknowledge a firing alert: you are on it (escalation stops)."""
    alert = connect(ctx).post(f"/api/v1/alerts/{alert_id}/ack", {})
    output.success(f"alert {alert_id} acknowledged by {alert['acknowledged_by']}")


@alerts_app.command("resolve")
def resolve(ctx: typer.Context, alert_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Resolve an alert by hand (receivers are told it resolved)."""
    connect(ctx).post(f"/api/v1/alerts/{alert_id}/resolve", {})
    output.success(f"alert {alert_id} resolved")


@alerts_app.command("silence")
def silence(
    ctx: typer.Context,
    matchers: list[str] = typer.Argument(
        ..., metavar="MATCHER...", help='Label matchers: alertname="X", severity!=info, a=~"re".'
    ),
    duration: str = typer.Option("2h", "--for", metavar="DURATION", help="How long (e.g. 2h)."),
    comment: str = typer.Option("", "--comment", "-m", help="Why (shown to everybody)."),
) -> None:
    """Mute the notifications of matching alerts for a while."""
    try:
        parsed = [parse_matcher(text).model_dump() for text in matchers]
    except ValueError as error:
        raise CliError(str(error)) from None
    created = connect(ctx).post(
        "/api/v1/silences", {"matchers": parsed, "duration": duration, "comment": comment}
    )
    output.success(f"silence {created['id']} until {output.when(created['ends_at'])}")


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules", rich_help_panel=PANEL)
    app.add_typer(alerts_app, name="alerts", rich_help_panel=PANEL)

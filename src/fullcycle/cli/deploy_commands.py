"""`fullcycle deploy`, `fullcycle rollback`, `fullcycle deploys ...` and `fullcycle pipelines
...`: ship a release and watch it go live (or roll back), and read the history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import typer
from rich.text import Text

from fullcycle.cli import output
from fullcycle.cli.client import ApiClient, CliError, connect
from fullcycle.deploy.pipeline_file import PipelineFileError, parse_pipeline

PANEL = "Deploy"
STATUS_STYLE = {
    "succeeded": "green",
    "failed": "bold red",
    "rolled_back": "yellow",
    "cancelled": "dim",
    "running": "cyan",
    "queued": "dim",
}

deploys_app = typer.Typer(
    help="Deploy history (list, show, record), approvals, cancelling, locks.", no_args_is_help=True
)
pipelines_app = typer.Typer(help="Pipelines from fullcycle.yaml files.", no_args_is_help=True)

Env = typer.Option("production", "--env", "-e", help="The environment.")


def status_text(status: str) -> Text:
    return Text(status.replace("_", " "), style=STATUS_STYLE.get(status, ""))


# --- pipelines --------------------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {path}: {error}") from error


@pipelines_app.command("check")
def check_pipeline(file: Path = typer.Argument(..., metavar="FILE")) -> None:
    """Validate a fullcycle.yaml here, without a server; each problem with its line and field."""
    try:
        spec = parse_pipeline(_read(file))
    except PipelineFileError as error:
        for problem in error.problems:
            where = f"{file}:{problem.line}" if problem.line else str(file)
            field = f" {problem.field}:" if problem.field else ""
            output.error_line(f"{where}:{field} {problem.message}")
        raise typer.Exit(1) from None
    names = " -> ".join(env.name for env in spec.environments)
    output.success(f"{file}: pipeline of {spec.service} is valid ({names})")


@pipelines_app.command("apply")
def apply_pipeline(ctx: typer.Context, file: Path = typer.Argument(..., metavar="FILE")) -> None:
    """Register (or replace) the service's pipeline from its fullcycle.yaml."""
    client = connect(ctx)
    answer = client.decode(client.send("PUT", "/api/v1/pipelines", json={"source": _read(file)}))
    output.success(
        f"pipeline of {answer['service']} applied: " + " -> ".join(answer["environments"])
    )


# --- deploying --------------------------------------------------------------------------------


def deploy(
    ctx: typer.Context,
    service: str = typer.Argument(..., metavar="SERVICE"),
    version: str = typer.Argument(..., metavar="VERSION"),
    environment: str = Env,
    commit: str = typer.Option("", "--commit", metavar="SHA", help="The commit deployed."),
    override_freeze: str = typer.Option(
        "", "--override-freeze", metavar="REASON", help="Deploy in a freeze window (audited)."
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the deploy to its end."),
) -> None:
    """Deploy VERSION of SERVICE through its pipeline, streaming its stages.

    Exits with status 1 when the deploy fails or is rolled back.
    """
    client = connect(ctx)
    started = client.post(
        f"/api/v1/services/{quote(service)}/deploys",
        {
            "version": version,
            "environment": environment,
            "commit": commit,
            "freeze_override": override_freeze,
        },
    )
    output.hint(
        f"deploy {started['id']}: {service} {version} to {environment} "
        f"({client.url}{started['url']})"
    )
    if wait:
        follow(client, started["id"])


def rollback(
    ctx: typer.Context,
    service: str = typer.Argument(..., metavar="SERVICE"),
    to: str | None = typer.Option(
        None,
        "--to",
        metavar="VERSION",
        help="A release that was live before (default: the previous).",
    ),
    environment: str = Env,
    override_freeze: str = typer.Option("", "--override-freeze", metavar="REASON"),
    wait: bool = typer.Option(True, "--wait/--no-wait"),
) -> None:
    """Roll SERVICE back to the previous good release (or --to one); streams like deploy."""
    client = connect(ctx)
    started = client.post(
        f"/api/v1/services/{quote(service)}/rollbacks",
        {"environment": environment, "to_version": to, "freeze_override": override_freeze},
    )
    output.hint(f"rollback {started['id']}: {service} to {started['version']} in {environment}")
    if wait:
        follow(client, started["id"])


def _events(client: ApiClient, deploy_id: int) -> Iterator[tuple[str, Any]]:
    """The server-sent events of a deploy, as (event, data)."""
    client.get(f"/api/v1/deploys/{deploy_id}")  # a 404 or 401 reported as usual
    try:
        with client.http.stream(
            "GET", f"/api/v1/deploys/{deploy_id}/events", timeout=httpx.Timeout(60, read=None)
        ) as response:
            if response.status_code >= 400:
                raise CliError(f"cannot follow deploy {deploy_id}: HTTP {response.status_code}")
            name = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    yield name, json.loads(line.removeprefix("data: "))
    except httpx.TransportError as error:
        raise CliError(
            f"lost the connection to {client.url} while following deploy {deploy_id}: {error}"
        ) from error


def follow(client: ApiClient, deploy_id: int) -> None:
    """Print stage changes and logs until the deploy ends; follow its automatic rollback."""
    end = _follow_one(client, deploy_id)
    if end["rolled_back_by"]:
        output.warn(f"rolling back: deploy {end['rolled_back_by']}")
        _follow_one(client, end["rolled_back_by"])
    status = end["status"]
    if status == "succeeded":
        output.success(f"deploy {deploy_id} succeeded")
        return
    output.error_line(f"deploy {deploy_id} {status.replace('_', ' ')}: {end['reason']}")
    raise typer.Exit(1)


def _follow_one(client: ApiClient, deploy_id: int) -> dict[str, Any]:
    stages: dict[str, str] = {}
    with output.err.status(f"deploy {deploy_id}: waiting") as spinner:
        for event, data in _events(client, deploy_id):
            if event == "log":
                for text in data["text"].splitlines():
                    output.err.print(
                        Text(f"  {data['stage']:>8} | ", style="dim") + Text(text), soft_wrap=True
                    )
            elif event == "deploy":
                for stage in data["stages"]:
                    if stages.get(stage["name"]) != stage["status"]:
                        stages[stage["name"]] = stage["status"]
                        if stage["status"] not in ("pending", "running"):
                            output.err.print(
                                Text(f"{stage['name']}: ") + status_text(stage["status"])
                            )
                running = [s["name"] for s in data["stages"] if s["status"] == "running"]
                current = running[0] if running else data["status"]
                if data["status"] == "queued":
                    current = f"queued behind the deploy running in {data['environment']}"
                spinner.update(
                    f"deploy {deploy_id} ({data['service']} {data['version']}): {current}"
                )
            elif event == "end":
                return dict(data)
    raise CliError(f"the server stopped streaming deploy {deploy_id} before it ended")


# --- history ----------------------------------------------------------------------------------


@deploys_app.command("list")
def list_deploys(
    ctx: typer.Context,
    service: str | None = typer.Option(None, "--service", "-s"),
    environment: str | None = typer.Option(None, "--env", "-e"),
    status: str | None = typer.Option(None, "--status"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=500),
    as_json: bool = output.JsonOption,
) -> None:
    """Deploys, newest first, of every service or one."""
    deploys = connect(ctx).get(
        "/api/v1/deploys", service=service, environment=environment, status=status, limit=limit
    )
    if as_json:
        output.print_json(deploys)
        return
    rows = output.table("ID", "SERVICE", "ENV", "VERSION", "KIND", "STATUS", "BY", "STARTED")
    for item in deploys:
        output.add_row(
            rows,
            item["id"],
            item["service"],
            item["environment"],
            item["version"],
            item["kind"],
            status_text(item["status"]),
            item["deployer"],
            output.when(item["started_at"] or item["created_at"]),
        )
    output.print_table(rows, "no deploys match")


@deploys_app.command("show")
def show_deploy(
    ctx: typer.Context,
    deploy_id: int = typer.Argument(..., metavar="ID"),
    as_json: bool = output.JsonOption,
) -> None:
    """One deploy: its stages with their logs, verification results, approvals, outcome."""
    item = connect(ctx).get(f"/api/v1/deploys/{deploy_id}")
    if as_json:
        output.print_json(item)
        return
    output.print_fields(
        [
            ("deploy", item["id"]),
            ("service", f"{item['service']} ({item['environment']})"),
            ("version", item["version"]),
            ("commit", item["commit"] or "-"),
            ("kind", item["kind"]),
            ("by", item["actor"]),
            ("status", status_text(item["status"])),
            ("reason", item["reason"] or "-"),
            ("live at", output.when(item["live_at"])),
            ("rollback of", item["rollback_of"] or "-"),
            ("rolled back by", item["rolled_back_by"] or "-"),
            ("approvals", ", ".join(a["approver"] for a in item["approvals"]) or "-"),
        ]
    )
    for stage in item["stages"]:
        output.line(Text(f"\n{stage['name']}: ", style="bold") + status_text(stage["status"]))
        for result in stage["results"]:
            if "check" in result:
                output.line(Text(f"  {result['check']}: {result['status']} - {result['message']}"))
        if stage["log"]:
            output.line(Text(stage["log"], style="dim"))


@deploys_app.command("record")
def record_deploy(
    ctx: typer.Context,
    service: str = typer.Argument(..., metavar="SERVICE"),
    version: str = typer.Argument(..., metavar="VERSION"),
    environment: str = Env,
    commit: str = typer.Option("", "--commit", metavar="SHA"),
    outcome: str = typer.Option(
        "succeeded", "--outcome", help="succeeded, failed, rolled_back or cancelled."
    ),
    actor: str = typer.Option("", "--by", metavar="NAME", help="Who deployed (default: you)."),
) -> None:
    """Record a deploy another system performed (CI, a script)."""
    item = connect(ctx).post(
        "/api/v1/deploys",
        {
            "service": service,
            "version": version,
            "environment": environment,
            "commit": commit,
            "outcome": outcome,
            "actor": actor,
        },
    )
    output.success(f"recorded deploy {item['id']}: {service} {version} to {environment}")


@deploys_app.command("approve")
def approve_deploy(
    ctx: typer.Context,
    deploy_id: int = typer.Argument(..., metavar="ID"),
    check: list[str] = typer.Option(
        [], "--check", metavar="ITEM", help="A checklist item you ticked (repeat)."
    ),
    comment: str = typer.Option("", "--comment"),
) -> None:
    """Approve a deploy waiting for a reviewer (not your own) or tick checklist items."""
    connect(ctx).post(
        f"/api/v1/deploys/{deploy_id}/approvals", {"checklist": check, "comment": comment}
    )
    output.success(f"approved deploy {deploy_id}")


@deploys_app.command("cancel")
def cancel_deploy(ctx: typer.Context, deploy_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Cancel a deploy that is still queued."""
    connect(ctx).post(f"/api/v1/deploys/{deploy_id}/cancel", {})
    output.success(f"cancelled deploy {deploy_id}")


@deploys_app.command("lock")
def lock(
    ctx: typer.Context,
    service: str = typer.Argument(..., metavar="SERVICE"),
    environment: str = Env,
    reason: str = typer.Option(..., "--reason", help="Why, e.g. 'incident in progress'."),
) -> None:
    """Lock SERVICE's environment: no deploy starts until it is unlocked."""
    connect(ctx).post(
        "/api/v1/locks", {"service": service, "environment": environment, "reason": reason}
    )
    output.success(f"{service}/{environment} locked")


@deploys_app.command("unlock")
def unlock(
    ctx: typer.Context,
    service: str = typer.Argument(..., metavar="SERVICE"),
    environment: str = Env,
) -> None:
    """Release your lock (an admin can break anyone's; audited)."""
    connect(ctx).delete(f"/api/v1/locks/{quote(service)}/{quote(environment)}")
    output.success(f"{service}/{environment} unlocked")


@deploys_app.command("locks")
def list_locks(ctx: typer.Context, as_json: bool = output.JsonOption) -> None:
    """Manual locks and the deploys running now."""
    locks = connect(ctx).get("/api/v1/locks")
    if as_json:
        output.print_json(locks)
        return
    rows = output.table("SERVICE", "ENV", "HELD BY", "REASON", "SINCE")
    for item in locks:
        holder = item["locked_by"] or f"deploy {item['deploy']}"
        output.add_row(
            rows,
            item["service"],
            item["environment"],
            holder,
            item["reason"],
            output.when(item["locked_at"]),
        )
    output.print_table(rows, "nothing is locked")


def register(app: typer.Typer) -> None:
    app.command("deploy", rich_help_panel=PANEL)(deploy)
    app.command("rollback", rich_help_panel=PANEL)(rollback)
    app.add_typer(deploys_app, name="deploys", rich_help_panel=PANEL)
    app.add_typer(pipelines_app, name="pipelines", rich_help_panel=PANEL)

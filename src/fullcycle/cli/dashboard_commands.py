"""`fullcycle dashboards`: dashboards as code — apply YAML files, export them, list them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import typer
from rich.text import Text
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fullcycle.cli import output
from fullcycle.cli.client import ApiError, CliError, connect

dashboards_app = typer.Typer(
    help="Dashboards as code: YAML files applied to and exported from the server.",
    no_args_is_help=True,
)


@dashboards_app.command("list")
def list_dashboards(ctx: typer.Context, as_json: bool = output.JsonOption) -> None:
    """List the dashboards with who saved each last."""
    dashboards = connect(ctx).get("/api/v1/dashboards")
    if as_json:
        output.print_json(dashboards)
        return
    rows = output.table("NAME", "TITLE", "SAVED BY", "SAVED")
    for dashboard in dashboards:
        output.add_row(
            rows,
            dashboard["name"],
            dashboard["title"],
            dashboard["updated_by"],
            (dashboard["updated_at"] or "")[:16],
        )
    output.print_table(rows, "no dashboards yet")


def _text_of(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text, so not a dashboard YAML file") from None
    except OSError as error:
        raise CliError(f"{path}: cannot read it: {error.strerror}") from None


def _name_in(path: Path, text: str) -> str:
    """The `name:` of a dashboard file, read here so that the server is told where to save it
    (the server checks the whole file)."""
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as error:
        raise CliError(f"{path}: not valid YAML: {error}") from None
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        raise CliError(f"{path}: a dashboard file needs a name: line")
    return name


@dashboards_app.command("apply")
def apply(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        ..., help="Dashboard YAML files.", exists=True, dir_okay=False
    ),
) -> None:
    """Create or replace dashboards from YAML files (each file's `name:` says which)."""
    client = connect(ctx)
    for path in files:
        text = _text_of(path)
        name = _name_in(path, text)
        try:
            response = client.send(
                "PUT", f"/api/v1/dashboards/{quote(name, safe='')}", json={"yaml": text}
            )
        except ApiError as error:
            raise CliError(f"{path}: {error.message}", error.hint) from None
        verb = "created" if response.status_code == 201 else "updated"
        output.line(Text(f"{name}: {verb} from {path}"))


@dashboards_app.command("export")
def export(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The dashboard's name."),
    to: Path | None = typer.Option(None, "--output", "-o", help="Write to this file."),
) -> None:
    """Print a dashboard's YAML exactly as it was applied (or write it to a file)."""
    dashboard = connect(ctx).get(f"/api/v1/dashboards/{quote(name, safe='')}")
    if to is None:
        typer.echo(dashboard["yaml"], nl=False)
        return
    try:
        to.write_text(dashboard["yaml"])
    except OSError as error:
        raise CliError(f"--output {to}: cannot write there: {error.strerror}") from None
    output.err.print(f"{name}: written to {to}")


def register(app: typer.Typer) -> None:
    app.add_typer(dashboards_app, name="dashboards", rich_help_panel="Catalog")

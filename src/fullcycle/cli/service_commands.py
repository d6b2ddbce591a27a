"""`fullcycle services`: the service catalog, and Backstage catalog files in and out."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
from rich.text import Text

from fullcycle.cli import output
from fullcycle.cli.catalog_import import import_files
from fullcycle.cli.client import connect

services_app = typer.Typer(
    help="The service catalog: who owns each service, who is on call, its runbook, repository "
    "and dependencies. Imports and exports Backstage catalog-info.yaml files.",
    no_args_is_help=True,
)


def ref_text(ref: dict[str, Any], default_kind: str) -> Text:
    """An entity reference by name (kind shown when not the usual one); unknown ones flagged."""
    label = ref["name"] if ref["kind"] == default_kind else f"{ref['kind']}:{ref['name']}"
    if ref["exists"]:
        return Text(label)
    return Text(f"{label} (not in catalog)", style="yellow")


def refs_text(refs: list[dict[str, Any]], default_kind: str) -> Text:
    if not refs:
        return Text("-")
    return Text(", ").join(ref_text(ref, default_kind) for ref in refs)


def owners_text(service: dict[str, Any]) -> Text:
    if service["unowned"] and service["owners"]:
        return Text("unowned: ", style="bold red") + refs_text(service["owners"], "group")
    if service["unowned"]:
        return Text("unowned", style="bold red")
    return refs_text(service["owners"], "group")


@services_app.command("list")
def list_services(
    ctx: typer.Context,
    search: str | None = typer.Option(
        None, "--search", "-s", help="Words in the name, title, description or tags."
    ),
    owner: str | None = typer.Option(None, "--owner", metavar="TEAM", help="Owned by this team."),
    as_json: bool = output.JsonOption,
) -> None:
    """List services with their owners and on-call contact; unowned ones are flagged."""
    services = connect(ctx).get("/api/v1/services", search=search, owner=owner)
    if as_json:
        output.print_json(services)
        return
    rows = output.table("NAME", "OWNERS", "LIFECYCLE", "TIER", "ON-CALL", "DESCRIPTION")
    for service in services:
        output.add_row(
            rows,
            service["name"],
            owners_text(service),
            service["lifecycle"],
            service["tier"],
            service["oncall_contact"],
            service["description"] or service["title"],
        )
    output.print_table(rows, "no services match" if search or owner else "the catalog is empty")


@services_app.command("show")
def show_service(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The service's name."),
    as_json: bool = output.JsonOption,
) -> None:
    """Show one service: owners, on-call, runbook, repository, links and dependencies."""
    service = connect(ctx).get(f"/api/v1/services/{quote(name, safe='')}")
    if as_json:
        output.print_json(service)
        return
    heading = Text(service["name"], style="bold")
    if service["title"]:
        heading.append(f"  {service['title']}")
    output.line(heading)
    if service["description"]:
        output.line(Text(service["description"]))
    output.print_fields(
        [
            ("owners", owners_text(service)),
            ("on-call", service["oncall_contact"]),
            ("runbook", service["runbook_url"]),
            ("repository", service["repository_url"]),
            ("type", service["type"]),
            ("lifecycle", service["lifecycle"]),
            ("tier", service["tier"]),
            ("system", service["system"]),
            ("depends on", refs_text(service["dependencies"], "component")),
            ("used by", output.joined(service["dependents"])),
            ("tags", output.joined(service["tags"])),
            ("links", links_text(service["links"])),
            ("updated", output.when(service["updated_at"])),
        ]
    )


def links_text(links: list[dict[str, Any]]) -> Text:
    if not links:
        return Text("-")
    return Text("\n").join(
        Text(f"{link['title']}: {link['url']}" if link.get("title") else link["url"])
        for link in links
    )


@services_app.command("import")
def import_command(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        metavar="FILE",
        readable=True,
        help="Backstage catalog files (catalog-info.yaml), each with one or more entities.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only check the files and show what would change."
    ),
) -> None:
    """Import Backstage catalog files (needs the 'admin' scope).

    Every file is checked first: if any is invalid, its errors are printed with file, document,
    field and line, and nothing is imported. References to entities not in the catalog are
    kept and listed as unresolved.
    """
    import_files(connect(ctx), files, dry_run)


@services_app.command("export")
def export_catalog(
    ctx: typer.Context,
    output_file: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        dir_okay=False,
        metavar="FILE",
        help="Write to this file instead of stdout.",
    ),
) -> None:
    """Export the whole catalog as Backstage YAML, which `services import` reads back."""
    text = connect(ctx).get_text("/api/v1/catalog/export")
    if output_file is None:
        output.out.file.write(text)
        return
    output_file.write_text(text, encoding="utf-8")
    output.hint(f"catalog written to {output_file}")


def register(app: typer.Typer) -> None:
    app.add_typer(services_app, name="services", rich_help_panel="Catalog")

"""How the command-line client prints: compact tables for people, plain JSON for programs.

Results go to stdout; errors, hints and progress go to stderr, so that `--json | jq` and
`export > file` only ever see the data.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer
from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

JsonOption = typer.Option(
    False, "--json", help="Print the server's JSON unchanged (for scripts and jq)."
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
UNLIMITED = 100_000


def print_json(data: Any) -> None:
    """The server's JSON, indented; coloured on a terminal, plain when piped."""
    if out.is_terminal:
        out.print_json(data=data, indent=2)
    else:
        out.file.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def table(*columns: str) -> Table:
    """A compact table with a bold header line and no borders, like `ps` or `kubectl get`.

    Cells that do not fit wrap onto more lines rather than being cut off.
    """
    result = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, header_style="bold")
    for column in columns:
        result.add_column(column, overflow="fold")
    return result


def show(renderable: RenderableType) -> None:
    """Print to stdout: fitted to a terminal's width, or as wide as it needs when piped, so
    that `grep` and `awk` see whole rows."""
    if out.is_terminal:
        out.print(renderable)
        return
    natural = Console(width=UNLIMITED).measure(renderable).maximum
    Console(file=out.file, width=max(natural, 1), highlight=False).print(renderable)


def add_row(rows: Table, *cells: object) -> None:
    """Add a row; strings are shown as they are, never read as rich markup."""
    rows.add_row(*(cell if isinstance(cell, Text) else plain(cell) for cell in cells))


def print_fields(fields: list[tuple[str, object]]) -> None:
    """Name/value lines, for one object's details; long values wrap instead of being cut."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in fields:
        add_row(grid, name, value)
    show(grid)


def print_table(rows: Table, empty: str) -> None:
    """Print the table, or a one-line note when it has no rows."""
    if rows.row_count:
        show(rows)
    else:
        hint(empty)


def when(value: str | None) -> str:
    """An API timestamp as local time to the minute; '-' for none."""
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M")


def yes_no(flag: bool) -> str:
    return "yes" if flag else "-"


def joined(values: list[str]) -> str:
    return ", ".join(values) if values else "-"


def plain(value: object) -> Text:
    """Text shown as it is, never read as rich markup (names and messages come from users)."""
    return Text(str(value) if value not in (None, "") else "-")


# Messages are printed with soft_wrap: the terminal wraps them, rich does not break the lines.


def line(text: Text) -> None:
    out.print(text, soft_wrap=True)


def success(message: str) -> None:
    out.print(Text(message, style="green"), soft_wrap=True)


def warn(message: str) -> None:
    err.print(Text(message, style="yellow"), soft_wrap=True)


def error_line(message: str) -> None:
    err.print(Text(f"error: {message}", style="bold red"), soft_wrap=True)


def hint(message: str) -> None:
    err.print(Text(message, style="dim"), soft_wrap=True)

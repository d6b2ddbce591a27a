"""`fullcycle logs QUERY`: matching log lines like `kubectl logs` (oldest of the page first),
or JSON lines; `--follow` keeps printing new lines as they arrive (live tail)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import typer
from rich.text import Text

from fullcycle.cli import output
from fullcycle.cli.client import ApiClient, CliError, connect

DURATION = re.compile(r"\d{1,9}[smhdw]")
LEVEL_STYLES = {
    "fatal": "bold white on red",
    "error": "bold red",
    "warn": "yellow",
    "info": "green",
    "debug": "blue",
    "trace": "dim",
}


def log_text(line: dict[str, Any]) -> Text:
    """`2026-11-26 10:00:00.123 shop ERROR body`: time, service and level coloured; the body
    as it is (never read as markup)."""
    moment = datetime.fromisoformat(line["timestamp"][:26] + "+00:00").astimezone()
    text = Text()
    text.append(moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:23], style="dim")
    text.append(" ")
    text.append(line["service"], style="cyan")
    text.append(" ")
    level = line["level"]
    label = (level if level != "unknown" else line["severity_text"] or "-").upper()
    text.append(label.ljust(5), style=LEVEL_STYLES.get(level, ""))
    text.append(" ")
    text.append(line["body"])
    return text


def print_line(line: dict[str, Any], as_json: bool) -> None:
    if as_json:
        output.out.file.write(json.dumps(line, ensure_ascii=False) + "\n")
        output.out.file.flush()
    else:
        output.line(log_text(line))


def server_sent_events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    event = ""
    for text in response.iter_lines():
        if text.startswith("event: "):
            event = text[7:]
        elif text.startswith("data: "):
            yield event, json.loads(text[6:])


def follow(client: ApiClient, query: str, as_json: bool) -> None:
    """Print the tail's lines until interrupted; say how many were dropped, on stderr."""
    try:
        with client.http.stream(
            "GET", "/api/v1/logs/tail", params={"q": query}, timeout=None
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise CliError(f"the live tail was refused: {response.text}")
            for event, data in server_sent_events(response):
                if event == "lines":
                    for line in data:
                        print_line(line, as_json)
                elif event == "dropped":
                    output.warn(f"… {data['count']} lines dropped to keep up")
    except httpx.TransportError as error:
        raise CliError(f"the live tail from {client.url} ended: {error}") from error
    except KeyboardInterrupt:
        return


def logs(
    ctx: typer.Context,
    query: str = typer.Argument(
        "", help="A log query, e.g. 'service:shop level:error \"timed out\"' (docs/log-query.md)."
    ),
    since: str | None = typer.Option(
        None, "--since", metavar="DURATION", help="Lines from this long ago until now: 15m, 1h, 2d."
    ),
    start: str | None = typer.Option(
        None, "--from", metavar="TIME", help="Start: RFC 3339 or now-1h (default now-1h)."
    ),
    end: str | None = typer.Option(None, "--to", metavar="TIME", help="End (default now)."),
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=1000, help="How many lines."),
    follow_on: bool = typer.Option(
        False, "--follow", "-f", help="Then keep printing new matching lines (Ctrl-C stops)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per line, as the API returns them."
    ),
) -> None:
    """Search the logs: the newest matching lines, oldest of them first."""
    if since and (start or end):
        raise CliError("use either --since or --from/--to, not both")
    if since and not DURATION.fullmatch(since.strip()):
        raise CliError(f"--since {since!r}: expected a duration such as 30s, 15m, 1h, 2d")
    client = connect(ctx)
    page = client.get(
        "/api/v1/logs/search",
        q=query,
        limit=limit,
        **{"from": f"now-{since.strip()}" if since else start, "to": end},
    )
    for line in reversed(page["results"]):
        print_line(line, as_json)
    if not as_json:
        shown = len(page["results"])
        output.hint(f"{shown} of {page['total']} matching lines" if shown else "no lines match")
    if follow_on:
        follow(client, query, as_json)


def register(app: typer.Typer) -> None:
    app.command("logs", rich_help_panel="Telemetry")(logs)

"""`fullcycle services import`: check every file, then import them, and show what happened.

The server imports one file per request, all or nothing. To keep a set of files all or nothing
too, every file is first sent as a dry run; only when all of them are valid are they imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.text import Text

from fullcycle.cli import output
from fullcycle.cli.client import ApiClient, ApiError, CliError

IMPORT_PATH = "/api/v1/catalog/import"
RESULTS = ("created", "updated", "unchanged")


@dataclass(frozen=True)
class FileOutcome:
    """The server's import report for one file, or its 422 error listing the problems."""

    path: Path
    report: dict[str, Any] | None = None
    rejection: ApiError | None = None


def import_files(api: ApiClient, paths: list[Path], dry_run: bool) -> None:
    documents = [(path, _read(path)) for path in paths]
    steps = len(documents) * (1 if dry_run else 2)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=output.err,
        transient=True,
        disable=len(documents) < 2,
    ) as progress:
        task = progress.add_task("checking", total=steps)

        def send_all(verb: str, dry: bool) -> list[FileOutcome]:
            outcomes = []
            for path, text in documents:
                progress.update(task, description=f"{verb} {path.name}")
                outcomes.append(_send(api, path, text, dry))
                progress.advance(task)
            return outcomes

        checked = send_all("checking", dry=True)
        _stop_if_rejected(checked, "nothing was imported")
        outcomes = checked if dry_run else send_all("importing", dry=False)
    if not dry_run:
        _stop_if_rejected(outcomes, _partial_note(outcomes))
    print_reports(outcomes, several=len(paths) > 1, dry_run=dry_run)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {path}: {error}") from error


def _send(api: ApiClient, path: Path, text: str, dry_run: bool) -> FileOutcome:
    try:
        response = api.send(
            "POST",
            IMPORT_PATH,
            params={"dry_run": "true" if dry_run else "false", "source": path.name},
            content=text.encode("utf-8"),
            headers={"Content-Type": "application/yaml"},
        )
    except ApiError as error:
        if error.status == 422 and isinstance(error.body.get("errors"), list):
            return FileOutcome(path, rejection=error)
        raise CliError(f"{path}: {error.message}", error.hint) from error
    return FileOutcome(path, report=api.decode(response))


def _stop_if_rejected(outcomes: list[FileOutcome], consequence: str) -> None:
    rejected = [outcome for outcome in outcomes if outcome.rejection is not None]
    for outcome in rejected:
        print_problems(outcome)
    if rejected:
        names = ", ".join(str(outcome.path) for outcome in rejected)
        raise CliError(
            f"invalid catalog file{'s' if len(rejected) > 1 else ''} {names}: {consequence}"
        )


def _partial_note(outcomes: list[FileOutcome]) -> str:
    """After a file failed at import time (the catalog changed since the check)."""
    done = [str(outcome.path) for outcome in outcomes if outcome.report is not None]
    return f"already imported: {', '.join(done)}" if done else "nothing was imported"


def print_problems(outcome: FileOutcome) -> None:
    """One line per problem, `file:line:column: document N (kind:name) field: message`, the
    form editors and terminals turn into links."""
    assert outcome.rejection is not None
    problems = outcome.rejection.body["errors"]
    count = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
    output.err.print(Text(f"{outcome.path}: {count}", style="bold red"), soft_wrap=True)
    for problem in problems:
        output.err.print(problem_text(outcome.path, problem), soft_wrap=True)


def problem_text(path: Path, problem: dict[str, Any]) -> Text:
    location = ":".join(
        str(part) for part in (path, problem.get("line"), problem.get("column")) if part
    )
    entity = ":".join(part for part in (problem.get("kind"), problem.get("name")) if part).lower()
    document = f"document {problem['document']}" if problem.get("document") else "file"
    where = f"{document} ({entity})" if entity else document
    field = f" {problem['field']}" if problem.get("field") else ""
    return Text.assemble(
        ("  " + location, "bold"), f": {where}{field}: ", (str(problem["message"]), "red")
    )


def print_reports(outcomes: list[FileOutcome], several: bool, dry_run: bool) -> None:
    """One row per entity (with its file when there are several), the references left
    unresolved, and a summary line."""
    reports = [(outcome.path, outcome.report) for outcome in outcomes if outcome.report]
    changes = output.table("RESULT", "ENTITY", *(["FILE"] if several else []), "NOTE")
    for path, report in reports:
        for result, entity, note in _entity_results(report):
            file_cell = [str(path)] if several else []
            output.add_row(changes, _result_text(result), entity, *file_cell, note)
    output.print_table(changes, "the files hold no entities")
    unresolved = output.table("ENTITY", "FIELD", "UNRESOLVED REFERENCE")
    for _path, report in reports:
        for item in report["unresolved"]:
            output.add_row(unresolved, item["entity"], item["field"], item["ref"])
    if unresolved.row_count:
        output.line(Text("\nreferences to entities not in the catalog (kept):", style="bold"))
        output.show(unresolved)
    output.line(summary_text([report for _path, report in reports], dry_run))


def _entity_results(report: dict[str, Any]) -> Iterator[tuple[str, str, Text]]:
    for result in RESULTS:
        for entity in report[result]:
            yield result, entity, Text()
    for skipped in report["skipped"]:
        yield "skipped", f"{skipped['kind']}:{skipped['name']}".lower(), Text(skipped["reason"])


def _result_text(result: str) -> Text:
    styles = {"created": "green", "updated": "cyan", "unchanged": "dim", "skipped": "yellow"}
    return Text(result, style=styles[result])


def summary_text(reports: list[dict[str, Any]], dry_run: bool) -> Text:
    counts = {key: sum(len(report[key]) for report in reports) for key in (*RESULTS, "skipped")}
    unresolved = sum(len(report["unresolved"]) for report in reports)
    summary = ", ".join(f"{count} {key}" for key, count in counts.items())
    summary += f", {unresolved} unresolved reference{'' if unresolved == 1 else 's'}"
    if dry_run:
        summary = f"dry run, nothing changed: would be {summary}"
    return Text(summary, style="bold")

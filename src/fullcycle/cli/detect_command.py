"""`fullcycle detect`: run the anomaly detector over a CSV file on this machine (no server)."""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, TextIO

import typer
from rich.progress import open as progress_open

from fullcycle.anomaly import Detector, MetricKind, Sensitivity
from fullcycle.anomaly.series_csv import OUTPUT_COLUMNS, SeriesFormatError, output_line, read_rows
from fullcycle.cli import output
from fullcycle.cli.client import CliError


def detect(
    input_path: str = typer.Option(
        ...,
        "--input",
        "-i",
        metavar="CSV",
        help="The series: a CSV with a header and the columns 'timestamp' (ISO-8601 or epoch "
        "seconds) and 'value'; '-' reads stdin.",
    ),
    output_path: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        metavar="CSV",
        help="Where to write the scores (else stdout). Written only if the whole input is valid.",
    ),
    sensitivity: Sensitivity = typer.Option(
        Sensitivity.MEDIUM, "--sensitivity", help="Band width and alert rule."
    ),
    kind: MetricKind = typer.Option(
        MetricKind.OPS,
        "--kind",
        help="What the series measures: for money and count an empty value or a gap is a "
        "zero; for ratio and ops it is unknown.",
    ),
) -> None:
    """Score a series point by point: expected value, band, anomaly score and alert per row.

    Writes timestamp,value,expected,lower,upper,anomaly_score,alert.

    The same rows in the same order, each scored only from the rows before it.
    """
    detector = Detector(kind, sensitivity)
    if output_path is None:
        with _opened(input_path) as source:
            _score(source, input_path, sys.stdout, detector)
        return
    target = output_path.resolve()
    handle, temporary = _temporary_file_beside(target, output_path)
    try:
        with os.fdopen(handle, "w", newline="") as sink, _opened(input_path) as source:
            count = _score(source, input_path, sink, detector)
        os.replace(temporary, target)
    except CliError as error:
        error.hint = f"nothing was written to {output_path}"
        raise
    finally:
        Path(temporary).unlink(missing_ok=True)
    output.hint(f"{count} rows scored, written to {output_path}")


def _temporary_file_beside(target: Path, output_path: Path) -> tuple[int, str]:
    """A new file in the output's directory, renamed over the output once all rows are scored."""
    if target.is_dir():
        raise CliError(f"--output {output_path}: is a directory")
    try:
        return tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as error:
        raise CliError(f"--output {output_path}: cannot write there: {error.strerror}") from None


def _opened(input_path: str) -> IO[str]:
    if input_path == "-":
        return sys.stdin
    path = Path(input_path)
    if not path.is_file():
        raise CliError(f"{input_path}: no such file")
    if output.err.is_terminal:
        return progress_open(  # type: ignore[return-value]  # a file object, as a context
            path, "r", newline="", console=output.err, transient=True
        )
    return path.open(newline="")


def _score(source: IO[str], input_path: str, sink: TextIO, detector: Detector) -> int:
    name = "stdin" if input_path == "-" else input_path
    count = 0
    try:
        rows = read_rows(source, name)
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(OUTPUT_COLUMNS)
        for row in rows:
            writer.writerow(output_line(row, detector.update(row.timestamp, row.value)))
            count += 1
    except SeriesFormatError as error:
        raise CliError(str(error)) from None
    except UnicodeDecodeError:
        raise CliError(f"{name} is not UTF-8 text: expected a CSV 'timestamp,value'") from None
    if count == 0:
        output.hint(f"{name} has a header but no rows")
    return count


def register(app: typer.Typer) -> None:
    app.command("detect", rich_help_panel="Explore data (on this machine)")(detect)

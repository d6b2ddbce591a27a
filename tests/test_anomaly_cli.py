"""`fullcycle detect` on real CSV files: same rows out, errors that name the line."""

from __future__ import annotations

import csv
import io
import math
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from fullcycle.cli.main import app

HEADER = "timestamp,value,expected,lower,upper,anomaly_score,alert"


def detect(*args: str) -> Result:
    return CliRunner().invoke(app, ["detect", *args])


def write_series(path: Path, rows: int, start: int = 0) -> list[tuple[str, str]]:
    """A daily-ish series at 5 minutes, ISO timestamps on even rows and epoch on odd ones."""
    rng = random.Random(2)
    written = []
    for k in range(start, rows):
        epoch = 1_700_000_000 + 300 * k
        stamp = (
            str(epoch)
            if k % 2
            else f"2023-11-{14 + epoch // 86400 - 19675:02d}T"
            + (f"{epoch % 86400 // 3600:02d}:{epoch % 3600 // 60:02d}:{epoch % 60:02d}")
        )
        value = 100 + 20 * math.sin(2 * math.pi * epoch / 86400) + rng.gauss(0, 3)
        written.append((stamp, f"{value:.3f}"))
    with path.open("w") as sink:
        sink.write("timestamp,value\n")
        sink.writelines(f"{stamp},{value}\n" for stamp, value in written)
    return written


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_writes_the_same_rows_in_the_same_order(tmp_path: Path) -> None:
    series = tmp_path / "series.csv"
    rows = write_series(series, 600)
    result = detect("--input", str(series))
    assert result.exit_code == 0, result.output
    lines = parsed(result.stdout)
    assert ",".join(lines[0]) == HEADER
    assert [(line[0], line[1]) for line in lines[1:]] == rows
    for line in lines[1:]:
        expected, lower, upper, score = map(float, line[2:6])
        assert lower <= expected <= upper
        assert 0.0 <= score <= 1.0
        assert line[6] in ("0", "1")


def test_output_file_and_streaming_prefix(tmp_path: Path) -> None:
    whole, prefix = tmp_path / "whole.csv", tmp_path / "prefix.csv"
    write_series(whole, 800)
    write_series(prefix, 300)
    assert detect("-i", str(whole), "-o", str(tmp_path / "whole.out")).exit_code == 0
    result = detect("-i", str(prefix), "-o", str(tmp_path / "prefix.out"))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "300 rows scored" in result.stderr
    full_lines = (tmp_path / "whole.out").read_text().splitlines()
    assert (tmp_path / "prefix.out").read_text().splitlines() == full_lines[:301]


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        (
            "2024-01-01T00:00:00,1\n2024-01-01T00:01:00,2\n"
            "2024-01-01T00:02:00,lots\n2024-01-01T00:03:00,4\n",
            4,
            "value 'lots' is not a number",
        ),
        (
            "2024-01-01T00:00:00,1\nyesterday,2\n",
            3,
            "timestamp 'yesterday' is neither ISO-8601 nor epoch seconds",
        ),
        (
            "2024-01-01T00:00:00,1\n2024-01-01T00:05:00,2\n"
            "2024-01-01T00:03:00,3\n2024-01-01T00:10:00,4\n",
            4,
            "timestamp '2024-01-01T00:03:00' is not after '2024-01-01T00:05:00' (line 3)",
        ),
        ("1700000000,1\n1700000000,2\n", 3, "timestamp '1700000000' is not after '1700000000'"),
        ("1700000000,1\ninf,2\n", 3, "timestamp 'inf' is not a finite number of seconds"),
    ],
    ids=["value", "timestamp", "time goes back", "time repeats", "infinite epoch"],
)
def test_a_bad_row_names_its_line_and_writes_nothing(
    tmp_path: Path, rows: str, line: int, message: str
) -> None:
    series = tmp_path / "series.csv"
    series.write_text("timestamp,value\n" + rows)
    result = detect("--input", str(series), "--output", str(tmp_path / "scores.csv"))
    assert result.exit_code == 1
    assert f"series.csv, line {line}: {message}" in result.stderr
    assert list(tmp_path.iterdir()) == [series]


def test_an_empty_file_gets_a_clear_message(tmp_path: Path) -> None:
    series = tmp_path / "empty.csv"
    series.write_text("")
    result = detect("--input", str(series))
    assert result.exit_code == 1
    assert "empty.csv is empty" in result.stderr and "timestamp,value" in result.stderr
    assert result.stdout == ""


def test_stdin_is_read_with_a_dash() -> None:
    result = CliRunner().invoke(
        app, ["detect", "-i", "-"], input="timestamp,value\n1700000000,5\n1700000060,6\n"
    )
    assert result.exit_code == 0
    assert [line[:2] for line in parsed(result.stdout)[1:]] == [
        ["1700000000", "5"],
        ["1700000060", "6"],
    ]
    missing_value = CliRunner().invoke(app, ["detect", "-i", "-"], input="timestamp,value\n1\n")
    assert missing_value.exit_code == 1
    assert "stdin, line 2: expected at least 2 fields, found 1" in missing_value.stderr


def test_a_header_without_the_columns_is_refused(tmp_path: Path) -> None:
    series = tmp_path / "series.csv"
    series.write_text("time,amount\n2024-01-01T00:00:00,1\n")
    result = detect("--input", str(series))
    assert result.exit_code == 1
    assert "line 1" in result.stderr and "'timestamp' and 'value'" in result.stderr


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    result = detect("--input", str(tmp_path / "nope.csv"))
    assert result.exit_code == 1
    assert "nope.csv: no such file" in result.stderr


def test_empty_values_follow_the_kind(tmp_path: Path) -> None:
    series = tmp_path / "series.csv"
    series.write_text(
        "timestamp,value\n"
        + "".join(f"{1_700_000_000 + 60 * k},{k % 3 + 5}\n" for k in range(50))
        + f"{1_700_000_000 + 60 * 50},\n"
    )
    as_count = parsed(detect("-i", str(series), "--kind", "count").stdout)
    as_ops = parsed(detect("-i", str(series), "--kind", "ops").stdout)
    assert as_count[-1][1] == as_ops[-1][1] == ""
    assert float(as_count[-1][5]) > 0.0  # a zero order count is scored
    assert float(as_ops[-1][5]) == 0.0  # an unknown latency is not


def test_a_file_that_is_not_text_is_named(tmp_path: Path) -> None:
    series = tmp_path / "series.csv"
    series.write_bytes(b"timestamp,value\n\xff\xfe\x00\x01,2\n")
    result = detect("--input", str(series))
    assert result.exit_code == 1
    assert f"{series} is not UTF-8 text" in result.stderr
    assert "Traceback" not in result.output


def test_an_output_that_cannot_be_written_is_named_before_reading(tmp_path: Path) -> None:
    series = tmp_path / "series.csv"
    write_series(series, 10)
    missing = tmp_path / "no" / "scores.csv"

    into_missing = detect("--input", str(series), "--output", str(missing))
    onto_directory = detect("--input", str(series), "--output", str(tmp_path))

    assert into_missing.exit_code == 1
    assert f"--output {missing}: cannot write there: No such file or directory" in (
        into_missing.stderr
    )
    assert onto_directory.exit_code == 1
    assert f"--output {tmp_path}: is a directory" in onto_directory.stderr
    assert sorted(tmp_path.iterdir()) == [series]

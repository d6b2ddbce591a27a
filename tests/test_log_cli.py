"""`fullcycle logs` against a real server over real HTTP: coloured lines or JSON lines, time
ranges, errors from the server shown with their column, and `--follow` as a real process."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import httpx
import pytest
from typer.testing import CliRunner, Result

from fullcycle.cli.main import app
from tests.conftest import ADMIN_TOKEN, LiveServer

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NDJSON = {"content-type": "application/x-ndjson"}


@pytest.fixture(autouse=True)
def cli_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("FULLCYCLE_URL", raising=False)
    monkeypatch.setenv("FULLCYCLE_TOKEN", ADMIN_TOKEN)


def send(server: LiveServer, *records: dict[str, object]) -> None:
    body = "\n".join(json.dumps(record) for record in records)
    response = httpx.post(
        f"{server.url}/api/v1/ingest/logs",
        content=body,
        headers={**NDJSON, "Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    server.app.state.telemetry.flush()


def fullcycle(server: LiveServer, *args: str) -> Result:
    return CliRunner().invoke(app, ["--url", server.url, "logs", *args])


def ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


@SQLITE_ONLY
def test_logs_prints_matching_lines_oldest_first_and_the_total(live_server: LiveServer) -> None:
    send(
        live_server,
        {"timestamp": ago(3), "service": "shop", "level": "error", "message": "[red]boom[/red] 1"},
        {"timestamp": ago(2), "service": "shop", "level": "info", "message": "fine 2"},
        {"timestamp": ago(1), "service": "shop", "level": "error", "message": "boom 3"},
        {"timestamp": ago(90), "service": "shop", "level": "error", "message": "boom old"},
    )
    result = fullcycle(live_server, "level:error", "--since", "1h")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("shop ERROR [red]boom[/red] 1")  # markup in bodies is text
    assert lines[1].endswith("shop ERROR boom 3")
    assert "2 of 2 matching lines" in result.stderr

    wider = fullcycle(live_server, "boom", "--from", "now-2h", "--limit", "1", "--json")
    assert wider.exit_code == 0
    [line] = [json.loads(text) for text in wider.stdout.splitlines()]
    assert line["body"] == "boom 3" and line["service"] == "shop" and line["level"] == "error"


@SQLITE_ONLY
def test_logs_reports_query_and_option_errors(live_server: LiveServer) -> None:
    bad_query = fullcycle(live_server, "service:(")
    assert bad_query.exit_code == 1
    assert "q: unexpected '(' at column 9; expected a value after 'service:'" in bad_query.output
    both = fullcycle(live_server, "x", "--since", "1h", "--from", "now-2h")
    assert both.exit_code == 1 and "either --since or --from/--to" in both.output
    since = fullcycle(live_server, "x", "--since", "yesterday")
    assert since.exit_code == 1 and "--since 'yesterday'" in since.output


class LineReader:
    """The lines a child process prints, read straight from its pipe (a text stream's buffer
    would hide lines from `select`)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.pending = b""

    def lines_within(self, seconds: float) -> list[str]:
        """The whole lines printed within `seconds` (returns early once one has arrived)."""
        deadline = time.monotonic() + seconds
        with selectors.DefaultSelector() as selector:  # select() fails on fds over 1023
            selector.register(self.stream, selectors.EVENT_READ)
            while b"\n" not in self.pending:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(timeout=left):
                    return []
                chunk = os.read(self.stream.fileno(), 65536)
                if not chunk:
                    return []
                self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        return [line.decode() for line in lines]

    def keep_sending_until_a_line(self, server: LiveServer, message: str) -> bool:
        """Send `message` every 2 s (up to 15 times) until a line with it is printed."""
        for _ in range(15):
            send(server, {"service": "shop", "message": message})
            bodies = [json.loads(line)["body"] for line in self.lines_within(2)]
            if message in bodies:
                return True
        return False


@SQLITE_ONLY
def test_logs_follow_prints_new_lines_until_interrupted(live_server: LiveServer) -> None:
    environment = {
        **os.environ,
        "FULLCYCLE_URL": live_server.url,
        "FULLCYCLE_TOKEN": ADMIN_TOKEN,
        "PYTHONFAULTHANDLER": "1",  # SIGABRT prints where every thread is (see below)
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "fullcycle", "logs", "service:shop", "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        text=True,
    )
    try:
        assert process.stdout is not None
        output = LineReader(process.stdout)
        assert output.keep_sending_until_a_line(live_server, "early line"), "no line in 30 s"
        # Every line printed so far came through the page or the tail; a line sent from now on
        # can only come through the tail (sent until the tail is open, every 2 s).
        assert output.keep_sending_until_a_line(live_server, "followed line"), "no tail in 30 s"
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            _, threads = process.communicate(timeout=30)
            pytest.fail(f"still running 30 s after Ctrl-C; where its threads were:\n{threads}")
        finally:
            process.kill()  # never leave the tail open: the server would wait for it
    assert process.returncode == 0

"""`fullcycle up` and friends as real processes: what an operator sees when running the server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, free_port

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
"""Kubernetes' default grace period. A stop right after the start waits for the decoding
workers to finish starting (about a second on a quiet machine, over 5 s at a load of 11 on 2
cores); what this catches is a server that does not stop."""


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any FULLCYCLE_* setting, plus `settings`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FULLCYCLE_")}
    return {**env, **settings}


def fullcycle(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fullcycle", *args],
        env=env or clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class ServerProcess:
    """`python -m fullcycle up` in the background, with its stdout and stderr collected."""

    def __init__(self, data_dir: Path, port: int, env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        command = ["up", "--data-dir", str(data_dir), "--port", str(port)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fullcycle", *command],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        outputs = ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))
        self.readers = [
            threading.Thread(target=self._collect, args=output, daemon=True) for output in outputs
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _collect(stream: IO[str] | None, lines: list[str]) -> None:
        assert stream is not None
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.kill()
        pytest.fail("`fullcycle up` did not become healthy:\n" + "\n".join(self.stderr))

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; returns the exit status and how long the process took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"`fullcycle up` did not exit within {STOP_TIMEOUT} s of SIGTERM")
        for reader in self.readers:
            reader.join(timeout=5)
        return status, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server_env(database_url: str) -> dict[str, str]:
    return clean_environment(FULLCYCLE_ADMIN_TOKEN=ADMIN_TOKEN, FULLCYCLE_DATABASE_URL=database_url)


def start(data_dir: Path, env: dict[str, str]) -> ServerProcess:
    server = ServerProcess(data_dir, free_port(), env)
    server.wait_until_healthy()
    return server


def admin_api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def test_up_serves_announces_its_password_logs_json_and_stops_on_sigterm(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    server = start(tmp_path / "data", server_env)
    try:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        with admin_api(server) as admin:
            me = admin.get("/api/v1/auth/me")
        assert me.status_code == 200 and me.json()["user"]["name"] == "admin"
        banner = "\n".join(server.stdout)
        assert f"fullcycle is running at {server.url}" in banner
        password = re.search(r"user: admin\s+password: (\S+)", banner)
        assert password, banner
        login = httpx.post(
            f"{server.url}/api/v1/auth/login",
            json={"username": "admin", "password": password.group(1)},
        )
        assert login.status_code == 201, login.text
    finally:
        status, seconds = server.terminate()

    assert status == 0
    assert seconds < STOP_TIMEOUT
    assert server.stderr, "the server logged nothing"
    for line in server.stderr:
        entry = json.loads(line)
        assert isinstance(entry, dict) and {"time", "level", "message"} <= entry.keys(), line


def test_restart_keeps_the_admin_token_without_a_duplicate(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    first = start(tmp_path / "data", server_env)
    assert first.terminate()[0] == 0

    second = start(tmp_path / "data", server_env)
    try:
        with admin_api(second) as admin:
            assert admin.get("/api/v1/auth/me").status_code == 200
            tokens = admin.get("/api/v1/tokens").json()
    finally:
        assert second.terminate()[0] == 0

    assert [token["name"] for token in tokens].count("FULLCYCLE_ADMIN_TOKEN") == 1
    assert "password:" not in "\n".join(second.stdout), "the password is shown on first start only"


def test_version_and_help() -> None:
    version = fullcycle("--version")
    assert version.returncode == 0
    assert re.fullmatch(r"fullcycle \S+\n", version.stdout)

    help_text = fullcycle("--help", env=clean_environment(COLUMNS="200")).stdout
    for command in ("services", "teams", "users", "tokens", "audit", "login", "logout",
                    "whoami", "up", "db", "admin"):  # fmt: skip
        assert re.search(rf"^\W*{command}\s", help_text, re.MULTILINE), command


def test_db_upgrade_creates_a_fresh_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"

    first = fullcycle("db", "upgrade", "--data-dir", str(data_dir))
    again = fullcycle("db", "upgrade", "--data-dir", str(data_dir))

    assert first.returncode == 0, first.stderr
    assert (data_dir / "fullcycle.db").is_file()
    assert first.stdout.startswith("database at revision ")
    assert again.returncode == 0 and again.stdout == first.stdout


def _health_within(url: str, seconds: float) -> object:
    """The health answer of a port that may still be opening (the second port opens after the
    first answers)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(url, timeout=5).json()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_otlp_port_serves_the_same_app(tmp_path: Path, server_env: dict[str, str]) -> None:
    otlp_port = free_port()
    server = start(tmp_path / "data", {**server_env, "FULLCYCLE_OTLP_PORT": str(otlp_port)})
    try:
        assert _health_within(f"http://127.0.0.1:{otlp_port}/healthz", 30) == {"status": "ok"}
        exported = httpx.post(
            f"http://127.0.0.1:{otlp_port}/v1/logs",
            json={"resourceLogs": []},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )
        assert exported.status_code == 200, exported.text
    finally:
        status, _ = server.terminate()
    assert status == 0


def test_a_second_up_on_the_same_data_dir_says_why_it_stops(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    first = start(tmp_path / "data", server_env)
    try:
        second = fullcycle(
            "up", "--data-dir", str(tmp_path / "data"), "--port", str(free_port()), env=server_env
        )
        assert httpx.get(f"{first.url}/healthz").status_code == 200, "the first one goes on"
    finally:
        assert first.terminate()[0] == 0

    assert second.returncode == 3
    assert second.stderr.splitlines()[-1] == (
        f"error: another fullcycle process is using the data dir {tmp_path / 'data'}; "
        "stop that process or give this one another --data-dir"
    )


def test_up_with_an_unreachable_database_says_so(tmp_path: Path) -> None:
    env = clean_environment(
        FULLCYCLE_DATABASE_URL=f"postgresql+psycopg://fc@127.0.0.1:{free_port()}/fc"
    )

    result = fullcycle(
        "up", "--data-dir", str(tmp_path / "data"), "--port", str(free_port()), env=env
    )

    assert result.returncode == 3
    last = result.stderr.splitlines()[-1]
    assert last.startswith(
        "error: cannot reach the control-plane database (FULLCYCLE_DATABASE_URL)"
    )
    assert "Connection refused" in last


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("FULLCYCLE_SESSION_HOURS", "twelve", "expected a whole number"),
        ("FULLCYCLE_FLUSH_INTERVAL_SECONDS", "fast", "expected a number"),
        ("FULLCYCLE_WAL_FSYNC", "maybe", "expected true or false"),
        ("FULLCYCLE_LOG_LEVEL", "LOUD", "expected one of DEBUG, INFO"),
    ],
)
def test_a_malformed_variable_is_named_and_nothing_starts(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    result = fullcycle(
        "up", "--data-dir", str(tmp_path / "data"), env=clean_environment(**{variable: value})
    )

    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {variable}='{value}': {expected}"), result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "command", [["db", "upgrade"], ["admin", "reset-password", "admin"], ["worker"], ["demo"]]
)
def test_the_other_local_commands_name_a_malformed_variable_too(
    tmp_path: Path, command: list[str]
) -> None:
    result = fullcycle(
        *command,
        "--data-dir",
        str(tmp_path / "data"),
        env=clean_environment(FULLCYCLE_SESSION_HOURS="twelve"),
    )

    assert result.returncode == 2
    assert result.stderr == "error: FULLCYCLE_SESSION_HOURS='twelve': expected a whole number\n"

"""Real programs ship telemetry to fullcycle: Debian's Prometheus remote-writes what it scrapes,
and Debian's rsyslog ships a log file through its Elasticsearch output."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN, LiveServer, free_port

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _program(name: str, path: str) -> str:
    found = shutil.which(name) or (path if Path(path).exists() else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing; .ci/run installs it")
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return found


def _eventually(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {seconds} s")


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_prometheus_remote_write(
    live_server: LiveServer, tmp_path: Path, running: list[subprocess.Popen[bytes]]
) -> None:
    prometheus = _program("prometheus", "/usr/bin/prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
remote_write:
  - url: {live_server.url}/api/v1/write
    authorization:
      credentials: {ADMIN_TOKEN}
    queue_config:
      batch_send_deadline: 1s
"""
    )
    log = (tmp_path / "prometheus.log").open("wb")
    running.append(
        subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=log,
        )
    )
    query = (
        "SELECT labels['instance'], labels['job'], service, value FROM fullcycle.samples"
        " WHERE metric = 'prometheus_build_info' LIMIT 1"
    )
    _eventually(lambda: bool(live_server.stored(query)), 60, "Prometheus remote_write")
    assert live_server.stored(query) == [(f"127.0.0.1:{port}", "prometheus", "prometheus", 1.0)]
    up = live_server.stored("SELECT max(value) FROM fullcycle.samples WHERE metric = 'up'")
    assert up == [(1.0,)]


def test_rsyslog_elasticsearch_output(
    live_server: LiveServer, tmp_path: Path, running: list[subprocess.Popen[bytes]]
) -> None:
    rsyslogd = _program("rsyslogd", "/usr/sbin/rsyslogd")
    if not Path("/usr/lib/x86_64-linux-gnu/rsyslog/omelasticsearch.so").exists() and not list(
        Path("/usr/lib").glob("*/rsyslog/omelasticsearch.so")
    ):
        pytest.fail("rsyslog-elasticsearch is missing; .ci/run installs it")
    application_log = tmp_path / "shop-api.log"
    application_log.write_text("")
    port = live_server.settings.port
    config = tmp_path / "rsyslog.conf"
    config.write_text(
        f"""
global(workDirectory="{tmp_path}")
module(load="imfile")
module(load="omelasticsearch")
template(name="json" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="programname" name="programname" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}}
input(type="imfile" file="{application_log}" tag="shop-api:" severity="error"
      freshStartTail="off" pollingInterval="1")
action(type="omelasticsearch" server="127.0.0.1" serverport="{port}" template="json"
       searchIndex="applogs" bulkmode="on" uid="rsyslog" pwd="{ADMIN_TOKEN}"
       usehttps="off" errorfile="{tmp_path / "es-errors.json"}")
"""
    )
    log = (tmp_path / "rsyslog.log").open("wb")
    running.append(
        subprocess.Popen(
            [rsyslogd, "-n", "-f", str(config), "-i", str(tmp_path / "rsyslog.pid")],
            stdout=log,
            stderr=log,
        )
    )
    with application_log.open("a") as lines:
        lines.write("card declined for order A-17\n")
        lines.write("payment provider timed out after 30 s\n")
    query = "SELECT service, severity_text, severity_number, body FROM fullcycle.logs ORDER BY body"
    _eventually(lambda: len(live_server.stored(query)) == 2, 60, "rsyslog shipping two lines")
    assert live_server.stored(query) == [
        ("shop-api", "err", 17, "card declined for order A-17"),
        ("shop-api", "err", 17, "payment provider timed out after 30 s"),
    ]

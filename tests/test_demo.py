"""`fullcycle demo` end to end: the command starts the server with the demo, the bad-release
scenario runs (started through the API), and every outcome is checked through the CLI and the
API; then the tour is walked in Chromium with screenshots. The demo runs
at --speed 10 with a day of history, so that its deploys verify in 50 s rather than 2 minutes.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import ADMIN_TOKEN, free_port

pytestmark = pytest.mark.xdist_group("demo")
"""The demo runs in its own test process under `make test` (--dist loadgroup)."""

READY_TIMEOUT_SECONDS = 180
SCENARIO_TIMEOUT_SECONDS = 480  # about 200 s alone; the full suite on 2 cores slows it past 300 s
CHROMIUM = Path("/usr/bin/chromium")
CHART_TIMEOUT_MS = 60_000
"""The band is learnt from the history on every load of the dashboard: seconds on a busy
machine."""
RESULTS = Path(__file__).resolve().parents[1] / "test-results" / "demo"


@dataclass
class RunningDemo:
    url: str
    shop_url: str
    password: str
    process: subprocess.Popen[str]
    output: list[str]
    scenario: dict[str, Any]

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(
            f"{self.url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def cli(self, *arguments: str) -> Any:
        """A `fullcycle` client command with --json, against the demo."""
        environment = {**os.environ, "FULLCYCLE_URL": self.url, "FULLCYCLE_TOKEN": ADMIN_TOKEN}
        done = subprocess.run(
            [sys.executable, "-m", "fullcycle", *arguments, "--json"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def _read_lines(stream: Any, lines: queue.Queue[str], kept: list[str]) -> None:
    for line in stream:
        kept.append(line)
        lines.put(line)


def _wait_for_ready(lines: queue.Queue[str], process: subprocess.Popen[str]) -> str:
    """The admin password from the ready banner."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    password = ""
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert process.poll() is None, "fullcycle demo exited before it was ready"
            continue
        assert "could not start" not in line, line
        found = re.search(r"user: admin\s+password: (\S+)", line)
        if found:
            password = found.group(1)
        if password and "the bad-release scenario" in line:
            return password
    raise AssertionError(f"fullcycle demo was not ready within {READY_TIMEOUT_SECONDS} s")


def _run_scenario(url: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    started = httpx.post(f"{url}/api/v1/demo/scenario", headers=headers, timeout=30)
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + SCENARIO_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        run: dict[str, Any] = httpx.get(f"{url}/api/v1/demo", headers=headers, timeout=30).json()[
            "scenario"
        ]
        if run["state"] != "running":
            return run
        time.sleep(2)
    waiting = [step for step in run["steps"] if step["status"] == "waiting"]
    raise AssertionError(
        f"the scenario did not finish within {SCENARIO_TIMEOUT_SECONDS} s; waiting: {waiting}"
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    port, shop_port = free_port(), free_port()
    data_dir = tmp_path_factory.mktemp("demo")
    command = [
        sys.executable, "-m", "fullcycle", "demo", "--speed", "10", "--port", str(port),
        "--shop-port", str(shop_port), "--data-dir", str(data_dir), "--backfill", "1d",
        "--scenario-every", "0",
    ]  # fmt: skip
    environment = {**os.environ, "FULLCYCLE_ADMIN_TOKEN": ADMIN_TOKEN}
    environment.pop("FULLCYCLE_DATABASE_URL", None)
    process = subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []
    threading.Thread(target=_read_lines, args=(process.stdout, lines, output), daemon=True).start()
    try:
        password = _wait_for_ready(lines, process)
        url = f"http://127.0.0.1:{port}"
        scenario = _run_scenario(url)
        yield RunningDemo(url, f"http://127.0.0.1:{shop_port}", password, process, output, scenario)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.browser
def test_the_bad_release_is_caught_rolled_back_notified_and_shown_in_the_tour(
    demo: RunningDemo,
) -> None:
    """One test, so that the demo starts once: the outcomes through the CLI and the API, then
    the tour in Chromium."""
    outcomes_through_the_cli_and_the_api(demo)
    tour_in_a_browser(demo)


def outcomes_through_the_cli_and_the_api(demo: RunningDemo) -> None:
    run = demo.scenario
    steps = {step["key"]: step for step in run["steps"]}
    assert run["state"] == "passed", json.dumps(run["steps"], indent=1)

    # the deploy, and its rollback, as the CLI shows them
    deploys = {d["id"]: d for d in demo.cli("deploys", "list", "--service", "shop")}
    faulty = deploys[run["deploy_id"]]
    assert faulty["version"] == run["version"] and "faulty" in faulty["version"]
    assert faulty["actor"].startswith("dana")
    assert faulty["status"] == "rolled_back"
    assert "critical alert firing since the deploy: CheckoutErrors" in json.dumps(
        demo.cli("deploys", "show", str(faulty["id"]))["stages"]
    )
    rollback = deploys[faulty["rolled_back_by"]]
    assert (rollback["kind"], rollback["version"], rollback["status"]) == (
        "rollback",
        "1.0.0",
        "succeeded",
    )

    # the alert names the faulty deploy, and the owner's channel got it with that link
    alert = demo.cli("alerts", "show", str(run["alert_id"]))
    assert alert["name"] == "CheckoutErrors" and alert["severity"] == "critical"
    assert alert["suspect_deploy"]["id"] == faulty["id"]
    assert any(n["status"] == "sent" for n in alert["notifications"])
    received = demo.api("/api/v1/demo/notifications")
    firing = [
        n for n in received if n["title"].startswith("[FIRING") and "CheckoutErrors" in n["title"]
    ]
    assert firing, received
    assert firing[-1]["links"]["Suspect deploy"].endswith(f"/deploys/{faulty['id']}")

    # revenue fell below its expected band while the faulty release was live
    live_at = faulty["live_at"]
    band = demo.api(
        "/api/v1/anomaly/band",
        query='sum(increase(shop_revenue_euros_total{job="shop"}[30s]))',
        kind="money",
        step="15s",
        history="1d",
        **{"from": live_at, "to": rollback["finished_at"]},
    )
    below = [
        p for p in band["series"][0]["points"] if p["value"] is not None and p["value"] < p["lower"]
    ]
    assert below, band["series"][0]["points"]
    assert max(p["anomaly_score"] for p in below) >= 0.9, below
    assert steps["revenue"]["status"] == "done"
    assert steps["anomaly"]["status"] in ("done", "skipped")

    # the demo's API needs a token like every other
    assert httpx.get(f"{demo.url}/api/v1/demo", timeout=10).status_code == 401
    assert httpx.post(f"{demo.url}/api/v1/demo/scenario", timeout=10).status_code == 401

    # the release that was live before served throughout, and serves now
    home = httpx.get(f"{demo.shop_url}/", timeout=10).json()
    assert home["version"] == "1.0.0" and not home["faulty"]
    assert steps["served"]["status"] == "done", steps["served"]
    assert f"(pid {home['pid']})" in steps["served"]["detail"]
    traffic = demo.api("/api/v1/demo")["traffic"]
    assert traffic["connection_errors"] == 0
    versions = {(a["version"], a["status"]) for a in traffic["answers"]}
    assert ("1.0.0", 200) in versions and (run["version"], 500) in versions


def tour_in_a_browser(demo: RunningDemo) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    run = demo.scenario
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(f"{demo.url}/login")
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill(demo.password)
        page.get_by_role("button", name="Log in").click()

        page.goto(f"{demo.url}/catalog")
        expect(page.get_by_role("link", name="shop", exact=True).first).to_be_visible()
        screenshot(page, "1-catalog")

        page.goto(f"{demo.url}/services/shop")
        expect(page.locator("body")).to_contain_text("storefront")
        screenshot(page, "2-service")

        page.goto(f"{demo.url}/alerts/{run['alert_id']}")
        expect(page.get_by_test_id("suspect-deploy")).to_contain_text(run["version"])
        expect(page.get_by_test_id("suspect-deploy")).to_contain_text("dana")
        screenshot(page, "3-alert")
        screenshot(page, "docs-alert", height=620)

        page.get_by_test_id("rule-chart").click()
        chart_loaded = page.get_by_text(f"shop {run['version']} by dana").first
        expect(chart_loaded).to_be_visible(timeout=CHART_TIMEOUT_MS)
        expect(page.locator(".uplot").first).to_be_visible()
        screenshot(page, "4-dashboard")

        page.go_back()
        page.get_by_role("link", name="Logs of shop in the alert's window").click()
        page.get_by_test_id("log-query").fill("service:shop level:error")
        page.get_by_test_id("log-query").press("Enter")
        expect(page.locator("body")).to_contain_text("checkout failed", timeout=30_000)
        screenshot(page, "5-logs")

        page.goto(f"{demo.url}/demo")
        expect(page.get_by_test_id("scenario-state")).to_have_text("passed")
        expect(page.get_by_test_id("demo-notifications")).to_contain_text("CheckoutErrors")
        expect(page.get_by_role("button", name="Run the bad-release scenario")).to_be_enabled()
        screenshot(page, "6-demo")
        screenshot(page, "docs-scenario", height=900)

        page.get_by_role(
            "link", name="the chart with the deploy marker and the expected band"
        ).click()
        rollback_marker = page.get_by_text("rollback: shop 1.0.0 by fullcycle").first
        expect(rollback_marker).to_be_visible(timeout=CHART_TIMEOUT_MS)
        expect(page.locator(".uplot").first).to_be_visible()
        screenshot(page, "docs-dashboard", height=720)

        page.goto(f"{demo.url}/services/shop/deploys")
        expect(page.locator("body")).to_contain_text("verification failed: rolled back to 1.0.0")
        screenshot(page, "7-deploys")
        browser.close()


def screenshot(page: Page, name: str, height: int | None = None) -> None:
    """The whole page, or its top `height` pixels (the pictures for the README)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    clip = {"x": 0, "y": 0, "width": 1400, "height": height} if height else None
    page.screenshot(path=str(RESULTS / f"{name}.png"), full_page=True, clip=clip)


def test_a_bad_duration_is_refused_before_anything_starts(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fullcycle",
            "demo",
            "--backfill",
            "lots",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--backfill: 'lots' is not a duration like 90s, 30m, 6h or 14d" in done.stderr
    assert not (tmp_path / "demo").exists()

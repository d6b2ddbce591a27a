"""The running demo: brings it up in a background thread once the server answers, keeps the
traffic going, runs the bad-release scenario on its schedule or when asked, and says how long
each part of the start took (docs/demo.md has the figures)."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fullcycle.demo.api import DemoApi
from fullcycle.demo.backfill import Backfill
from fullcycle.demo.provisioning import DemoLayout, Provisioning, python_first_on_path
from fullcycle.demo.scenario import BadReleaseScenario, ScenarioBusy
from fullcycle.demo.sink import NotificationSink
from fullcycle.demo.traffic import Traffic

log = logging.getLogger("fullcycle.demo")
FIRST_RELEASE = "1.0.0"
LOG_BACKFILL_SECONDS = 6 * 3600
"""Purchase log lines are backfilled for the last 6 hours only: a line per purchase for weeks
would take longer to send than the rest of the start together."""
READY_TIMEOUT_SECONDS = 120.0
FIRST_SCENARIO_AFTER_SECONDS = 180.0


@dataclass(frozen=True)
class DemoOptions:
    speed: float = 1.0
    shop_port: int = 8100
    backfill_seconds: float = 14 * 86400
    scenario_every_seconds: float = 1800.0
    """0: only when asked (the button, the API)."""


@dataclass
class Credentials:
    admin_token: str
    admin_password: str
    developer_password: str
    sink_port: int = 0

    @classmethod
    def load_or_create(cls, path: Path) -> Credentials:
        """Kept in the demo's data directory (mode 0600): the same logins on every start."""
        if path.exists():
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        created = cls(
            admin_token=secrets.token_urlsafe(32),
            admin_password=secrets.token_urlsafe(9),
            developer_password=secrets.token_urlsafe(9),
        )
        created.save(path)
        return created

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(json.dumps(self.__dict__), encoding="utf-8")


@dataclass
class Progress:
    phase: str = "starting"
    started_at: float = field(default_factory=time.time)
    timings: dict[str, float] = field(default_factory=dict)
    error: str = ""

    def took(self, name: str, since: float) -> None:
        self.timings[name] = round(time.time() - since, 1)


class Demo:
    def __init__(
        self, data_dir: Path, base_url: str, options: DemoOptions, admin_token: str | None = None
    ) -> None:
        """`admin_token`: FULLCYCLE_ADMIN_TOKEN when set, else the demo's own."""
        self.base_url = base_url
        self.options = options
        self.directory = data_dir / "demo"
        self.credentials_file = self.directory / "credentials.json"
        self.credentials = Credentials.load_or_create(self.credentials_file)
        self.sink = NotificationSink(
            self.directory / "notifications.jsonl", self.credentials.sink_port
        )
        self.credentials.sink_port = self.sink.port
        self.credentials.save(self.credentials_file)
        self.layout = DemoLayout(base_url, options.shop_port, self.sink.url, options.speed)
        self.traffic = Traffic(self.layout.shop_url, options.speed)
        self.admin_token = admin_token or self.credentials.admin_token
        self.api = DemoApi(base_url, self.admin_token)
        self.progress = Progress()
        self.scenario: BadReleaseScenario | None = None
        self._stop = threading.Event()

    def start(self, announce: Callable[[str], None]) -> None:
        """Bring the demo up in the background; `announce(text)` is called once it is ready."""
        python_first_on_path()
        self.sink.start()
        threading.Thread(target=self._bring_up, args=(announce,), name="demo", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.traffic.stop()
        self.sink.stop()
        self.api.close()

    def run_scenario(self, trigger: str) -> dict[str, Any]:
        """Start the bad-release scenario; raises ScenarioBusy (or RuntimeError before the demo
        is ready)."""
        if self.scenario is None:
            raise RuntimeError("the demo is still starting; try again when it is ready")
        return self.scenario.start(trigger).as_dict()

    def status(self) -> dict[str, Any]:
        latest = self.scenario.latest() if self.scenario else None
        return {
            "phase": self.progress.phase,
            "error": self.progress.error,
            "timings": self.progress.timings,
            "speed": self.options.speed,
            "shop_url": self.layout.shop_url,
            "scenario_every_seconds": self.options.scenario_every_seconds,
            "scenario": latest.as_dict() if latest else None,
            "traffic": self.traffic.snapshot(),
        }

    def _bring_up(self, announce: Callable[[str], None]) -> None:
        try:
            self._wait_for_server()
            started = time.time()
            self.progress.phase = "setting up the catalog, pipeline, rules and dashboard"
            provisioning = Provisioning(self.api, self.layout)
            optional = provisioning.run(self.credentials.developer_password)
            provisioning.set_password("admin", self.credentials.admin_password)
            self.progress.took("setup", started)
            deploy = self._deploy_first_release()
            self._backfill()
            self._wait_until_live(deploy["id"])
            self.traffic.start()
            self.scenario = BadReleaseScenario(
                self.api,
                self.layout.shop_url,
                self.sink.path,
                self.traffic,
                self.credentials.developer_password,
                optional["anomaly_rules"],
            )
            self.progress.took("ready", self.progress.started_at)
            self.progress.phase = "ready"
        except Exception as error:  # the page and the terminal say why the demo stopped
            self.progress.phase = "failed"
            self.progress.error = f"{type(error).__name__}: {error}"
            log.exception("the demo could not start")
            announce(f"the demo could not start: {self.progress.error}")
            return
        announce(self._banner(optional["anomaly_rules"]))
        self._schedule()

    def _wait_for_server(self) -> None:
        deadline = time.time() + READY_TIMEOUT_SECONDS
        while time.time() < deadline and not self._stop.is_set():
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2, trust_env=False).is_success:
                    self.progress.took("server", self.progress.started_at)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server at {self.base_url} did not become ready")

    def _deploy_first_release(self) -> dict[str, Any]:
        """The healthy release, through the pipeline. Releases of the `process` target live in
        the server process, so every start deploys it again."""
        self.progress.phase = f"deploying shop {FIRST_RELEASE}"
        deploy: dict[str, Any] = self.api.post(
            "/api/v1/services/shop/deploys", {"version": FIRST_RELEASE, "commit": "1a2b3c4"}
        )
        return deploy

    def _backfill(self) -> None:
        marker = self.directory / "backfilled"
        if marker.exists() or self.options.backfill_seconds <= 0:
            return
        started = time.time()
        end = started
        begin = end - self.options.backfill_seconds

        def progress(done: float) -> None:
            self.progress.phase = f"backfilling the shop's history: {done:.0%}"

        purchases = Backfill(
            self.api, f"127.0.0.1:{self.options.shop_port}", self.options.speed, progress=progress
        ).run(begin, end, end - LOG_BACKFILL_SECONDS)
        marker.write_text(json.dumps({"from": begin, "to": end, "purchases": purchases}))
        self.progress.took("backfill", started)

    def _wait_until_live(self, deploy_id: int) -> None:
        started = time.time()
        deadline = started + READY_TIMEOUT_SECONDS
        while time.time() < deadline:
            deploy = self.api.get(f"/api/v1/deploys/{deploy_id}")
            if deploy["live_at"]:
                self.progress.took("first release live (after backfill)", started)
                return
            if deploy["status"] in ("failed", "rolled_back", "cancelled"):
                raise RuntimeError(f"shop {FIRST_RELEASE} did not deploy: {deploy['reason']}")
            time.sleep(0.5)
        raise RuntimeError(f"shop {FIRST_RELEASE} was not live within {READY_TIMEOUT_SECONDS} s")

    def _schedule(self) -> None:
        every = self.options.scenario_every_seconds / self.options.speed
        if self.options.scenario_every_seconds <= 0:
            return
        wait = FIRST_SCENARIO_AFTER_SECONDS / self.options.speed
        while not self._stop.wait(wait):
            with contextlib.suppress(ScenarioBusy):
                self.run_scenario("schedule")
            wait = every

    def _banner(self, anomaly_rules: bool) -> str:
        every_minutes = self.options.scenario_every_seconds / self.options.speed / 60
        timings = ", ".join(
            f"{name} {seconds:g} s" for name, seconds in self.progress.timings.items()
        )
        lines = [
            f"fullcycle demo is ready at {self.base_url}  ({timings})",
            f"log in: {self.base_url}/login  user: admin  "
            f"password: {self.credentials.admin_password}",
            f"the shop: {self.layout.shop_url}  (customers buy there now; its dashboard: "
            f"{self.base_url}/dashboards/shop)",
            f"the bad-release scenario: {self.base_url}/demo  ("
            + (
                f"runs by itself every {every_minutes:g} min"
                if self.options.scenario_every_seconds > 0
                else "runs when you click the button"
            )
            + ")",
        ]
        if not anomaly_rules:
            lines.append(
                "(this server has no anomaly alert rules yet: the revenue band shows the dip)"
            )
        return "\n".join(lines)

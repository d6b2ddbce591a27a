"""The bad-release scenario: a developer ships a faulty shop release, and fullcycle does the rest.

The scenario only starts the deploy; everything after it is fullcycle at work, and the scenario
watches for each outcome through the public API (and the notification sink) and records when
it saw it:

1. `deploy`: the demo developer deploys `1.N.0-faulty` through the shop's pipeline;
2. `errors`: the checkout error ratio rises;
3. `revenue`: revenue per minute falls below its expected band (the anomaly band API);
4. `rollback`: verification fails (the critical alert fired) and the deploy rolled back;
5. `notified`: the owner's channel (the sink) got the alert with the suspect deploy;
6. `suspect`: the alert names the faulty deploy as its suspect;
7. `anomaly`: the revenue anomaly rule fired (only where the server has anomaly rules, and it
   is skipped when the faulty release was rolled back before the detector's 3 minutes below its
   band could pass, and else given a minute after the rest);
8. `served`: the release that was live before kept running and answers again, and the shop
   answered every customer request (no connection errors).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from fullcycle.anomaly.detector import ALERT_MIN_SECONDS
from fullcycle.demo.api import DemoApi
from fullcycle.demo.provisioning import DEVELOPER
from fullcycle.demo.sink import received
from fullcycle.demo.traffic import Traffic

log = logging.getLogger("fullcycle.demo")
ERROR_RATIO = (
    'sum(rate(shop_http_requests_total{job="shop",route="/checkout",status=~"5.."}[1m]))'
    ' / sum(rate(shop_http_requests_total{job="shop",route="/checkout"}[1m]))'
)
REVENUE = 'sum(increase(shop_revenue_euros_total{job="shop"}[30s]))'
REVENUE_WINDOW_SECONDS = 30
FAULTY_SHARE_SECONDS = 20
"""A revenue point counts for the faulty release when at least this much of its window is after
the release went live (the first seconds of live data after a start are low for other reasons)."""
ERROR_ALERT = "CheckoutErrors"
ANOMALY_ALERT = "RevenueBelowExpected"
POLL_SECONDS = 2.0
BAND_POLL_SECONDS = 10.0
BAND_STEP = "15s"
BAND_HISTORY = "1d"
TIMEOUT_SECONDS = 420.0
ANOMALY_GRACE_SECONDS = 60.0
DONE_STATES = ("rolled_back", "failed", "succeeded", "cancelled")

STEP_TITLES = {
    "deploy": "A developer deploys a faulty release",
    "errors": "Checkout errors rise",
    "revenue": "Revenue falls below its expected band",
    "rollback": "Verification fails and the deploy rolls itself back",
    "notified": "The owner is notified, with the suspect deploy",
    "suspect": "The alert names the suspect deploy",
    "anomaly": "The revenue anomaly alert fires",
    "served": "The previous release served throughout",
}


@dataclass
class Step:
    key: str
    title: str
    status: str = "waiting"  # waiting | done | failed | skipped
    detail: str = ""
    at: float | None = None


@dataclass
class Run:
    number: int
    trigger: str
    started_at: float
    state: str = "running"  # running | passed | failed
    version: str = ""
    deploy_id: int | None = None
    rollback_id: int | None = None
    alert_id: int | None = None
    finished_at: float | None = None
    steps: list[Step] = field(default_factory=list)

    def step(self, key: str) -> Step:
        return next(step for step in self.steps if step.key == key)

    def done(self, key: str, detail: str) -> None:
        step = self.step(key)
        if step.status == "waiting":
            step.status, step.detail, step.at = "done", detail, time.time()

    def failed(self, key: str, detail: str) -> None:
        step = self.step(key)
        if step.status == "waiting":
            step.status, step.detail, step.at = "failed", detail, time.time()

    def waiting(self) -> list[str]:
        return [step.key for step in self.steps if step.status == "waiting"]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ScenarioBusy(RuntimeError):
    """A scenario is already running; one at a time."""


class BadReleaseScenario:
    def __init__(
        self,
        api: DemoApi,
        shop_url: str,
        sink_file: Path,
        traffic: Traffic,
        developer_password: str,
        anomaly_rules: bool,
    ) -> None:
        self.api = api
        self.shop_url = shop_url
        self.sink_file = sink_file
        self.traffic = traffic
        self.developer_password = developer_password
        self.anomaly_rules = anomaly_rules
        self.runs: list[Run] = []
        self._lock = threading.Lock()

    def start(self, trigger: str) -> Run:
        """Start a run in the background; raises ScenarioBusy while one is running."""
        with self._lock:
            if self.runs and self.runs[-1].state == "running":
                raise ScenarioBusy("the bad-release scenario is running already")
            run = Run(len(self.runs) + 1, trigger, time.time())
            run.steps = [Step(key, title) for key, title in STEP_TITLES.items()]
            self.runs.append(run)
        threading.Thread(
            target=self._execute, args=(run,), name="demo-scenario", daemon=True
        ).start()
        return run

    def latest(self) -> Run | None:
        return self.runs[-1] if self.runs else None

    def _execute(self, run: Run) -> None:
        try:
            _Watch(self, run).run()
        except Exception as error:  # shown on the page: the run ends failed, never hangs
            log.exception("the bad-release scenario stopped")
            for key in run.waiting():
                run.failed(key, f"the scenario stopped: {type(error).__name__}: {error}")
        run.state = (
            "passed" if all(s.status in ("done", "skipped") for s in run.steps) else "failed"
        )
        run.finished_at = time.time()


class _Watch:
    """One run: starts the faulty deploy, then polls each outcome until all are seen."""

    def __init__(self, scenario: BadReleaseScenario, run: Run) -> None:
        self.scenario = scenario
        self.api = scenario.api
        self.run_ = run
        self.live_at: datetime | None = None
        self.before: dict[str, Any] = {}
        self.errors_before = 0
        self.next_band_check = 0.0
        self.closest_revenue = ""
        """The faulty release's revenue point nearest to the band's lower edge, said when the
        revenue step fails (why it was not below)."""
        self.closest_margin = float("inf")

    def run(self) -> None:
        run = self.run_
        if not self.scenario.anomaly_rules:
            step = run.step("anomaly")
            step.status = "skipped"
            step.detail = (
                "this server has no anomaly alert rules yet: the revenue band of step 3 shows it"
            )
        self.before = self._shop_home()
        self.errors_before = self.scenario.traffic.connection_errors
        self._deploy()
        deadline = time.time() + TIMEOUT_SECONDS
        checks: dict[str, Callable[[], None]] = {
            "errors": self._errors,
            "revenue": self._revenue,
            "rollback": self._rollback,
            "notified": self._notified,
            "suspect": self._suspect,
            "anomaly": self._anomaly,
            "served": self._served,
        }
        while run.waiting() and time.time() < deadline:
            time.sleep(POLL_SECONDS)
            for key in run.waiting():
                checks[key]()
            self._give_up_on_the_anomaly_alert()
        for key in run.waiting():
            run.failed(key, f"not seen within {TIMEOUT_SECONDS:.0f} s")
        if self.closest_revenue and run.step("revenue").status == "failed":
            run.step("revenue").detail += f"; nearest: {self.closest_revenue}"

    def _give_up_on_the_anomaly_alert(self) -> None:
        """The anomaly rule is the slower signal: the detector alerts after 3 minutes below its
        band, and verification usually rolls the release back before. Once everything else was
        seen, the step is skipped, saying why: at once when the faulty release's dip was shorter
        than the detector's minimum duration, else after ANOMALY_GRACE_SECONDS more."""
        run = self.run_
        if run.waiting() != ["anomaly"]:
            return
        live = self._faulty_live_seconds()
        dip_too_short = live is not None and live + REVENUE_WINDOW_SECONDS < ALERT_MIN_SECONDS
        rolled_back = run.step("rollback").at or time.time()
        if not dip_too_short and time.time() - rolled_back < ANOMALY_GRACE_SECONDS:
            return
        step = run.step("anomaly")
        step.status = "skipped"
        step.detail = (
            f"{ANOMALY_ALERT} did not fire: the faulty release was live "
            f"{'briefly' if live is None else f'{live:.0f} s'}, the detector alerts after "
            f"{ALERT_MIN_SECONDS / 60:.0f} minutes below its band (step 3 shows the dip)"
        )

    def _faulty_live_seconds(self) -> float | None:
        """From the faulty release going live to the rollback's release going live."""
        if self.run_.rollback_id is None or self.live_at is None:
            return None
        rollback = self.api.get(f"/api/v1/deploys/{self.run_.rollback_id}")
        if not rollback.get("live_at"):
            return None
        switched = datetime.fromisoformat(rollback["live_at"]).timestamp()
        return switched - self.live_at.timestamp()

    def _shop_home(self) -> dict[str, Any]:
        response = httpx.get(f"{self.scenario.shop_url}/", timeout=5.0, trust_env=False)
        return dict(response.json())

    def _deploy(self) -> None:
        run = self.run_
        earlier = self.api.get("/api/v1/deploys", service="shop", limit=500)
        faulty = sum(1 for deploy in earlier if "faulty" in deploy["version"])
        run.version = f"1.{faulty + 1}.0-faulty"
        login = self.api.post(
            "/api/v1/auth/login",
            {"username": DEVELOPER, "password": self.scenario.developer_password},
        )
        developer = DemoApi(self.api.base_url, login["token"])
        try:
            deploy = developer.post(
                "/api/v1/services/shop/deploys",
                {"version": run.version, "commit": f"{0xFA017 + faulty:07x}"},
            )
        finally:
            developer.close()
        run.deploy_id = deploy["id"]
        run.done("deploy", f"{DEVELOPER} deployed shop {run.version} (deploy {deploy['id']})")

    def _deploy_record(self) -> dict[str, Any]:
        record: dict[str, Any] = self.api.get(f"/api/v1/deploys/{self.run_.deploy_id}")
        if record["live_at"] and self.live_at is None:
            self.live_at = datetime.fromisoformat(record["live_at"])
        return record

    def _errors(self) -> None:
        self._deploy_record()
        if self.live_at is None:
            return
        result = self.api.get("/api/v1/query", query=ERROR_RATIO)["data"]["result"]
        if result and float(result[0]["value"][1]) > 0.05:
            ratio = float(result[0]["value"][1])
            self.run_.done("errors", f"{ratio:.0%} of checkouts fail")

    def _revenue(self) -> None:
        if self.live_at is None or time.time() < self.next_band_check:
            return
        self.next_band_check = time.time() + BAND_POLL_SECONDS
        start = self.live_at.timestamp() - 120
        answer = self.api.get(
            "/api/v1/anomaly/band",
            query=REVENUE,
            kind="money",
            step=BAND_STEP,
            history=BAND_HISTORY,
            **{"from": _iso(start), "to": _iso(time.time())},
        )
        for series in answer["series"]:
            for point in series["points"]:
                after = point["timestamp"] >= self.live_at.timestamp() + FAULTY_SHARE_SECONDS
                if point["value"] is None or not after:
                    continue
                said = (
                    f"EUR {point['value']:,.0f} in the {REVENUE_WINDOW_SECONDS} s to "
                    f"{_clock(point['timestamp'])}, expected EUR {point['expected']:,.0f} "
                    f"(band EUR {point['lower']:,.0f}-{point['upper']:,.0f})"
                )
                margin = point["value"] - point["lower"]
                if margin < 0:
                    self.run_.done("revenue", said)
                    return
                if margin < self.closest_margin:
                    self.closest_margin, self.closest_revenue = margin, said

    def _rollback(self) -> None:
        record = self._deploy_record()
        if record["status"] not in DONE_STATES:
            return
        run = self.run_
        run.rollback_id = record["rolled_back_by"]
        if record["status"] == "rolled_back":
            run.done("rollback", record["reason"])
        else:
            run.failed("rollback", f"the deploy ended {record['status']}: {record['reason']}")

    def _notified(self) -> None:
        run = self.run_
        for entry in received(self.scenario.sink_file):
            fresh = (entry["received_at"] or 0) >= run.started_at
            suspect = entry["links"].get("Suspect deploy", "")
            firing = ERROR_ALERT in entry["title"] and "FIRING" in entry["title"].upper()
            if fresh and firing and suspect.endswith(f"/deploys/{run.deploy_id}"):
                run.done("notified", f"{entry['title']}; suspect deploy {suspect}")

    def _suspect(self) -> None:
        alert = self._alert(ERROR_ALERT)
        if alert is None:
            return
        self.run_.alert_id = alert["id"]
        detail = self.api.get(f"/api/v1/alerts/{alert['id']}")
        suspect = detail.get("suspect_deploy")
        if suspect and suspect["id"] == self.run_.deploy_id:
            self.run_.done(
                "suspect",
                f"alert {alert['id']} ({ERROR_ALERT}) names shop {suspect['version']} "
                f"by {suspect['actor']}",
            )
        elif detail["state"] == "firing":
            named = f"shop {suspect['version']}" if suspect else "no deploy"
            self.run_.failed("suspect", f"alert {alert['id']} names {named}")

    def _anomaly(self) -> None:
        alert = self._alert(ANOMALY_ALERT)
        if alert is not None and alert["state"] in ("firing", "resolved"):
            self.run_.done("anomaly", f"alert {alert['id']}: {alert['annotations'].get('summary')}")

    def _alert(self, name: str) -> dict[str, Any] | None:
        """The alert of that rule that became active since the scenario started."""
        for alert in self.api.get("/api/v1/alerts", service="shop", limit=50):
            active = datetime.fromisoformat(alert["active_at"]).timestamp()
            if alert["name"] == name and active >= self.run_.started_at:
                return dict(alert)
        return None

    def _served(self) -> None:
        if self.run_.step("rollback").status != "done":
            return
        now = self._shop_home()
        errors = self.scenario.traffic.connection_errors - self.errors_before
        same = now["pid"] == self.before["pid"] and now["version"] == self.before["version"]
        detail = (
            f"shop {now['version']} (pid {now['pid']}) answers, as before the deploy "
            f"(pid {self.before['pid']}); {errors} customer requests failed to connect"
        )
        if same and errors == 0:
            self.run_.done("served", detail)
        else:
            self.run_.failed("served", detail)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S UTC")

"""Setting up the demo through the API, as a team would on its first day: the catalog from a
Backstage file, people with passwords, on-call schedules, the shop's pipeline, scrape target,
alert rules, dashboard and the owner's notification channel. Every step is idempotent, so a
second `fullcycle demo` on the same data directory only brings things up to date.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from fullcycle.demo.api import DemoApi

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
DEMO_FILES = EXAMPLES / "demo"
SHOP_DIR = EXAMPLES / "shop"
OTLP_HEADERS_VARIABLE = "FULLCYCLE_DEMO_OTLP_HEADERS"
DEVELOPER = "dana"
"""The demo's developer, who ships the bad release."""
SCRAPE_INTERVAL_SECONDS = 5
MIN_BAKE_SECONDS = 50
"""The faulty release must stay long enough for the alert to fire (errors are visible after two
scrapes, then `for`), so a high --speed shortens the bake only down to this."""
MIN_CHECK_INTERVAL_SECONDS = 5
MIN_RULE_INTERVAL_SECONDS = 5
MIN_FOR_SECONDS = 15


@dataclass(frozen=True)
class DemoLayout:
    """Where the demo's parts listen."""

    base_url: str
    shop_port: int
    sink_url: str
    speed: float

    @property
    def shop_url(self) -> str:
        return f"http://127.0.0.1:{self.shop_port}"


def scaled(seconds: float, speed: float, floor: float) -> int:
    return int(max(floor, seconds / speed))


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def load_yaml(path: Path) -> Any:
    return _yaml().load(path.read_text(encoding="utf-8"))


def dump_yaml(data: Any) -> str:
    buffer = StringIO()
    _yaml().dump(data, buffer)
    return buffer.getvalue()


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_seconds(text: str) -> float:
    """'90s', '30m', '6h', '14d' in seconds; raises ValueError for anything else."""
    text = text.strip()
    if len(text) < 2 or text[-1] not in UNITS:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 6h or 14d")
    value = float(text[:-1])
    if value < 0:
        raise ValueError(f"{text!r} is negative")
    return value * UNITS[text[-1]]


def pipeline_source(layout: DemoLayout) -> str:
    """examples/demo/shop.fullcycle.yaml for this machine and speed."""
    spec = load_yaml(DEMO_FILES / "shop.fullcycle.yaml")
    environment = spec["environments"][0]
    environment["workdir"] = str(SHOP_DIR)
    deploy = environment["deploy"]
    deploy["port"] = layout.shop_port
    deploy["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"] = layout.base_url
    verify = environment["verify"]
    verify["bake"] = scaled(verify["bake"], layout.speed, MIN_BAKE_SECONDS)
    verify["interval"] = scaled(verify["interval"], layout.speed, MIN_CHECK_INTERVAL_SECONDS)
    verify["health_url"] = f"{layout.shop_url}/healthz"
    return dump_yaml(spec)


def rules_source(name: str, speed: float) -> str:
    """A rule file of examples/demo with `interval` and `for` divided by the speed."""
    rules = load_yaml(DEMO_FILES / name)
    for group in rules["groups"]:
        group["interval"] = _duration(group["interval"], speed, MIN_RULE_INTERVAL_SECONDS)
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = _duration(rule["for"], speed, MIN_FOR_SECONDS)
    return dump_yaml(rules)


def _duration(text: str, speed: float, floor: float) -> str:
    return f"{scaled(parse_seconds(str(text)), speed, floor)}s"


class Provisioning:
    def __init__(self, api: DemoApi, layout: DemoLayout) -> None:
        self.api = api
        self.layout = layout

    def run(self, developer_password: str) -> dict[str, bool]:
        """Everything but the deploy; returns which optional parts are on."""
        self.import_catalog()
        self.set_password(DEVELOPER, developer_password)
        self.add_oncall_schedules()
        self.api.put("/api/v1/pipelines", {"source": pipeline_source(self.layout)})
        self.add_scrape_target()
        anomaly_rules = self.apply_rules()
        self.api.put(
            "/api/v1/dashboards/shop",
            {"yaml": (DEMO_FILES / "shop.dashboard.yaml").read_text(encoding="utf-8")},
        )
        self.add_receiver()
        self.give_the_shop_an_ingest_token()
        return {"anomaly_rules": anomaly_rules}

    def import_catalog(self) -> None:
        self.api.call(
            "POST",
            "/api/v1/catalog/import",
            params={"source": "examples/demo/catalog-info.yaml"},
            content=(DEMO_FILES / "catalog-info.yaml").read_bytes(),
            headers={"content-type": "application/yaml"},
        )

    def set_password(self, user: str, password: str) -> None:
        self.api.call("PATCH", f"/api/v1/users/{user}", json={"password": password})

    def add_oncall_schedules(self) -> None:
        for team, schedules in load_yaml(DEMO_FILES / "oncall.yaml").items():
            for schedule in schedules:
                body = {
                    key: str(value) if key != "participants" else list(value)
                    for key, value in schedule.items()
                }
                self.api.post(f"/api/v1/teams/{team}/oncall-schedules", body, accept=(409,))

    def add_scrape_target(self) -> None:
        body = {
            "url": f"{self.layout.shop_url}/metrics",
            "interval_seconds": SCRAPE_INTERVAL_SECONDS,
            "timeout_seconds": SCRAPE_INTERVAL_SECONDS - 1,
        }
        self.api.post("/api/v1/services/shop/scrape-targets", body, accept=(409,))

    def apply_rules(self) -> bool:
        """The error-ratio rule always; the revenue anomaly rule when this server knows the
        `anomaly` rule kind. True when it was applied."""
        self.api.put(
            "/api/v1/rules",
            {"source": rules_source("shop.rules.yaml", self.layout.speed), "name": "demo-shop"},
        )
        revenue = rules_source("revenue.rules.yaml", self.layout.speed)
        if not self.api.post("/api/v1/rules/check", {"source": revenue})["valid"]:
            return False
        self.api.put("/api/v1/rules", {"source": revenue, "name": "demo-revenue"})
        return True

    def add_receiver(self) -> None:
        """The storefront team's Slack channel, played by the demo's sink."""
        existing = {receiver["name"] for receiver in self.api.get("/api/v1/alert-receivers")}
        if "storefront-slack" not in existing:
            body = {
                "name": "storefront-slack",
                "kind": "slack",
                "url": self.layout.sink_url,
                "service": "shop",
                "group_wait": "5s",  # the demo's channel hears of an alert at once
            }
            self.api.post("/api/v1/alert-receivers", body)

    def give_the_shop_an_ingest_token(self) -> None:
        """The pipeline reads the OTLP header from the server's environment (a `${NAME}`
        secret), so the token is never written into the pipeline."""
        token = self.api.post(
            "/api/v1/tokens", {"name": "shop-otlp", "scopes": ["ingest"], "service": "shop"}
        )["token"]
        os.environ[OTLP_HEADERS_VARIABLE] = f"Authorization=Bearer {token}"


def python_first_on_path() -> None:
    """Pipeline commands say `python`: make it this interpreter (the one with fullcycle and the
    shop's dependencies), whether or not the virtualenv is active."""
    here = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([here, os.environ.get("PATH", "")])

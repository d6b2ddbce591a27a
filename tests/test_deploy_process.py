"""The `process` target with the sample shop (examples/shop): releases run as real processes
behind the built-in proxy. A good release goes live; a faulty one fails verification and is
rolled back while a client keeps buying through the proxy; a crashed release is restarted."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN_TOKEN, LiveServer, free_port
from tests.deploy_helpers import add_service, apply_pipeline, start, wait_for

SHOP = Path(__file__).parent.parent / "examples" / "shop"


def shop_pipeline(port: int) -> str:
    return f"""service: shop
environments:
  - name: production
    workdir: {SHOP}
    test: {sys.executable} -c "import shop"
    deploy:
      target: process
      command: exec {sys.executable} shop.py
      port: {port}
      keep: 2
      start_timeout: 30
      env: {{SHOP_FAULTY_DELAY_SECONDS: "0.05"}}
    verify:
      bake: 3
      interval: 1
      health_url: http://127.0.0.1:{port}/healthz/checkout
"""


def served(port: int) -> dict[str, object]:
    return dict(httpx.get(f"http://127.0.0.1:{port}/", timeout=5).json())


class Shopper:
    """Buys a mug through the proxy again and again, counting what it gets back: on one
    kept-alive connection (which the proxy leaves with the release it connected to), or on a
    new connection per purchase (many clients: each goes to the live release)."""

    def __init__(self, port: int, *, keep_alive: bool) -> None:
        self.url = f"http://127.0.0.1:{port}/checkout"
        self.headers = {} if keep_alive else {"Connection": "close"}
        self.outcomes: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stopping.is_set():
                try:
                    response = client.post(
                        self.url, json={"product": "mug", "quantity": 1}, headers=self.headers
                    )
                except httpx.TransportError as error:
                    self.outcomes[f"transport error {type(error).__name__}"] += 1
                    continue
                version = response.headers.get("x-shop-version", "?")
                self.outcomes[f"{response.status_code} from {version}"] += 1

    def __enter__(self) -> Shopper:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=15)


def test_good_release_goes_live_and_a_faulty_one_is_rolled_back_with_no_client_errors(
    admin: TestClient,
) -> None:
    port = free_port()
    add_service(admin)
    apply_pipeline(admin, shop_pipeline(port))

    assert wait_for(admin, start(admin, "1.0.0"))["status"] == "succeeded"
    assert served(port)["version"] == "1.0.0"
    good = wait_for(admin, start(admin, "1.1.0"))
    assert good["status"] == "succeeded", good
    assert served(port)["version"] == "1.1.0"

    with Shopper(port, keep_alive=False) as shopper, Shopper(port, keep_alive=True) as regular:
        time.sleep(0.5)
        faulty = wait_for(admin, start(admin, "2.0.0-faulty"))
        time.sleep(0.5)
    print(
        f"\nduring the faulty deploy and its rollback: new connection per purchase "
        f"{dict(shopper.outcomes)}; one kept-alive connection {dict(regular.outcomes)}"
    )

    assert faulty["status"] == "rolled_back", faulty
    rollback = wait_for(admin, faulty["rolled_back_by"])
    assert rollback["status"] == "succeeded" and rollback["version"] == "1.1.0"
    assert served(port)["version"] == "1.1.0"
    # No request failed for the switching itself: every error came from the faulty release
    # while it was live, none from the proxy, the good releases or a dropped connection.
    assert set(shopper.outcomes) <= {"200 from 1.1.0", "500 from 2.0.0-faulty"}, shopper.outcomes
    assert shopper.outcomes["500 from 2.0.0-faulty"] > 0
    assert shopper.outcomes["200 from 1.1.0"] > 10
    assert set(regular.outcomes) <= {"200 from 1.1.0", "500 from 2.0.0-faulty"}
    deploy_log = next(s for s in faulty["stages"] if s["name"] == "deploy")["log"]
    assert "traffic on port" in deploy_log and "2.0.0-faulty is healthy" in deploy_log


def test_a_crashed_release_is_restarted(admin: TestClient) -> None:
    port = free_port()
    add_service(admin)
    apply_pipeline(admin, shop_pipeline(port))
    assert wait_for(admin, start(admin, "1.0.0"))["status"] == "succeeded"
    first_pid = int(str(served(port)["pid"]))

    os.kill(first_pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            answer = served(port)
        except (httpx.HTTPError, ValueError):
            time.sleep(0.2)
            continue
        assert answer["version"] == "1.0.0" and answer["pid"] != first_pid
        return
    raise AssertionError("the release was not restarted within 20 s")


def test_the_deployed_shop_sends_traces_metrics_and_logs_to_fullcycle(
    live_server: LiveServer,
) -> None:
    """The shop as the process target runs it, exporting with the OpenTelemetry SDK over
    OTLP/HTTP to a real fullcycle server."""
    port = free_port()
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
    ) as api:
        api.post("/api/v1/services", json={"name": "shop", "owners": ["team-shop"]})
        telemetry = f"""      env:
        OTEL_EXPORTER_OTLP_ENDPOINT: {live_server.url}
        OTEL_BSP_SCHEDULE_DELAY: "200"
        OTEL_BLRP_SCHEDULE_DELAY: "200"
        OTEL_METRIC_EXPORT_INTERVAL: "500"
      secrets:
        OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Bearer {ADMIN_TOKEN}"
"""
        source = shop_pipeline(port).replace(
            '      env: {SHOP_FAULTY_DELAY_SECONDS: "0.05"}\n', telemetry
        )
        assert api.put("/api/v1/pipelines", json={"source": source}).status_code == 200
        started = api.post("/api/v1/services/shop/deploys", json={"version": "3.0.0"}).json()
        assert wait_for(api, started["id"])["status"] == "succeeded"

    for quantity in (1, 2, 3):
        bought = httpx.post(
            f"http://127.0.0.1:{port}/checkout", json={"product": "shirt", "quantity": quantity}
        )
        assert bought.json()["amount"] == 25.0 * quantity

    queries = {
        "spans": "SELECT count() FROM fullcycle.spans WHERE service = 'shop' "
        "AND name = 'POST /checkout'",
        "logs": "SELECT count() FROM fullcycle.logs WHERE service = 'shop' "
        "AND body LIKE 'purchase of % shirt for %'",
        "samples": "SELECT max(value) FROM fullcycle.samples WHERE service = 'shop' "
        "AND metric = 'shop_orders_total'",
    }
    deadline = time.monotonic() + 30
    while True:
        found = {name: live_server.stored(sql)[0][0] for name, sql in queries.items()}
        if (found["spans"], found["logs"], found["samples"]) == (3, 3, 3.0):
            break
        assert time.monotonic() < deadline, found
        time.sleep(0.5)

    # what it pushes must not share a name with what it serves for scraping: a dashboard's sum
    # over a name would count each purchase twice
    scraped = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    served_names = {
        sample.name
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
    }
    pushed = live_server.stored(
        "SELECT DISTINCT metric FROM fullcycle.samples WHERE service = 'shop'"
    )
    assert "shop_purchases_total" in served_names
    assert not {name for (name,) in pushed} & served_names, pushed

"""An on-call person in headless Chromium: opens the firing alert from the alerts page, sees
the suspect deploy and the links to the dashboard and logs, and acknowledges it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, expect

from fullcycle.alerting.evaluator import RuleEvaluator
from fullcycle.deploy.metric_queries import EngineQueries
from tests.conftest import LiveServer
from tests.test_alert_cli import live_server
from tests.test_alert_evaluation import METRIC_RULES, T0, Clock, post_samples, queue_depths
from tests.test_browser import PASSWORD, browser, create_admin_user, screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
__all__ = ["browser", "live_server"]  # fixtures


def firing_alert(server: LiveServer) -> int:
    """shop with a rule, samples over it, a deploy just before; evaluated once: firing."""
    with server.admin_client() as client:
        service = {"name": "shop", "owners": ["team-shop"]}
        assert client.post("/api/v1/services", json=service).status_code == 201
        rules = {"source": METRIC_RULES.replace("for: 1m", "for: 0s"), "name": "shop.yaml"}
        assert client.put("/api/v1/rules", json=rules).status_code == 200
        deploy = {"service": "shop", "version": "1.4.2", "outcome": "succeeded"}
        assert client.post("/api/v1/deploys", json=deploy).status_code == 201
        post_samples(client, queue_depths())
    state = server.app.state
    state.telemetry.flush()
    clock = Clock(T0 + timedelta(minutes=5.5))
    evaluator = RuleEvaluator(
        state.database,
        "browser-test",
        metrics=EngineQueries(state.telemetry),
        count_logs=None,
        clock=clock,
    )
    assert evaluator.evaluate_due_once() == 1
    with server.admin_client() as client:
        (alert,) = client.get("/api/v1/alerts").json()
    return int(alert["id"])


def test_acknowledge_a_firing_alert_in_the_ui(live_server: LiveServer, browser: Browser) -> None:
    alert_id = firing_alert(live_server)
    create_admin_user(live_server, "alice")
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{live_server.url}/alerts")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/alerts")

    page.get_by_test_id("alerts").get_by_role("link", name="QueueTooDeep").click()
    expect(page).to_have_url(f"{live_server.url}/alerts/{alert_id}")
    expect(page.get_by_test_id("state")).to_have_text("firing")
    expect(page.get_by_test_id("suspect-deploy")).to_contain_text("shop 1.4.2")
    logs = page.get_by_role("link", name="Logs of shop in the alert's window")
    assert (logs.get_attribute("href") or "").startswith("/logs?q=service%3A%22shop%22&from=")
    screenshot(page, "alert-firing")

    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("acknowledged: you are on it")).to_be_visible()
    expect(page.get_by_test_id("acknowledged")).to_contain_text("by alice")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    with live_server.admin_client() as client:
        assert client.get(f"/api/v1/alerts/{alert_id}").json()["acknowledged_by"] == "alice"

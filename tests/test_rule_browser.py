"""Editing an alert rule in headless Chromium: from the service page to the rule's page, a
mistake is shown next to its field and saves nothing, the corrected rule is saved."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import ADMIN_TOKEN, LiveServer
from tests.test_alert_rules import RULES
from tests.test_browser import PASSWORD, browser, create_admin_user, screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
__all__ = ["browser"]  # fixture


def api(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def test_edit_a_rule_on_its_page(live_server: LiveServer, browser: Browser) -> None:
    with api(live_server) as client:
        service = {"name": "shop", "owners": ["team-shop"]}
        assert client.post("/api/v1/services", json=service).status_code == 201
        source = {"source": RULES, "name": "shop.rules.yaml"}
        assert client.put("/api/v1/rules", json=source).status_code == 200
    create_admin_user(live_server, "alice")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{live_server.url}/services/shop")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_test_id("service-rules").get_by_role("link", name="HighErrorRate").click()
    expect(page.get_by_role("heading", name="HighErrorRate")).to_be_visible()
    expect(page.get_by_test_id("file-wins")).to_contain_text("shop.rules.yaml")
    form = page.get_by_test_id("rule-form")
    form.locator("textarea[name=expr]").fill("sum(rate(http_errors_total[5m]) > 1")
    form.locator("input[name=for]").fill("soon")
    form.get_by_role("button", name="Save").click()

    expect(page.locator("#expr-error")).to_contain_text("not valid PromQL")
    expect(page.locator("#for-error")).to_contain_text("'soon' is not a duration")
    expect(form.locator("textarea[name=expr]")).to_have_attribute("aria-invalid", "true")
    expect(form.locator("textarea[name=expr]")).to_have_value("sum(rate(http_errors_total[5m]) > 1")
    screenshot(page, "rule-edit-errors")
    with api(live_server) as client:
        (rule,) = [r for r in client.get("/api/v1/rules").json() if r["name"] == "HighErrorRate"]
        assert rule["for_seconds"] == 120

    form.locator("textarea[name=expr]").fill("sum(rate(http_errors_total[5m])) > 1")
    form.locator("input[name=for]").fill("3m")
    form.locator("textarea[name=annotations]").fill("summary: errors at {{ $value }}")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_text("rule HighErrorRate saved")).to_be_visible()
    expect(page.locator("#expr-error")).to_have_count(0)
    with api(live_server) as client:
        saved = client.get(f"/api/v1/rules/{rule['id']}").json()
    assert saved["expr"] == "sum(rate(http_errors_total[5m])) > 1"
    assert saved["for_seconds"] == 180
    assert saved["annotations"] == {"summary": "errors at {{ $value }}"}
    assert saved["labels"] == {"severity": "critical"}

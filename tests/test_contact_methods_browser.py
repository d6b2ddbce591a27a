"""A person in headless Chromium adds their own contact methods on their page (a refused
address says why), sees the Slack URL masked, and removes one; someone else's page offers no
form to them."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import ADMIN_TOKEN, LiveServer
from tests.test_alert_cli import live_server
from tests.test_browser import PASSWORD, browser, screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
__all__ = ["browser", "live_server"]  # fixtures
SLACK = "https://hooks.slack.com/services/T000/B000/very-secret-token"


def add_user(server: LiveServer, name: str) -> None:
    response = httpx.post(
        f"{server.url}/api/v1/users",
        json={"name": name, "password": PASSWORD, "can_deploy": False},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 201, response.text


def test_a_person_manages_their_contact_methods_on_their_page(
    live_server: LiveServer, browser: Browser
) -> None:
    add_user(live_server, "ben")
    add_user(live_server, "cem")
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{live_server.url}/users/ben")
    page.get_by_label("User name").fill("ben")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/users/ben")

    form = page.get_by_test_id("add-contact-method")
    form.get_by_label("Label").fill("mail")
    form.get_by_label("Address").fill("not-an-address")
    form.get_by_role("button", name="Add contact method").click()
    expect(page.get_by_role("status")).to_contain_text("is not an e-mail address")

    form.get_by_label("Label").fill("mail")
    form.get_by_label("Address").fill("ben@phone.example")
    form.get_by_role("button", name="Add contact method").click()
    expect(page.get_by_role("status")).to_have_text("Contact method 'mail' added.")
    form.get_by_label("Label").fill("chat")
    form.get_by_label("Kind").select_option("slack")
    form.get_by_label("Address").fill(SLACK)
    form.get_by_role("button", name="Add contact method").click()
    methods = page.get_by_test_id("contact-methods")
    expect(methods).to_contain_text("ben@phone.example")
    expect(methods).to_contain_text("https://hooks.slack.com/…")
    assert "very-secret-token" not in page.content()
    screenshot(page, "contact-methods")

    page.get_by_role("button", name="Remove chat").click()
    expect(page.get_by_role("status")).to_have_text("Contact method 'chat' removed.")
    expect(methods).not_to_contain_text("hooks.slack.com")
    page.goto(f"{live_server.url}/users/cem")
    expect(page.get_by_test_id("add-contact-method")).to_have_count(0)
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as client:
        listed = client.get("/api/v1/users/ben/contact-methods").json()
    assert [(m["label"], m["address"]) for m in listed] == [("mail", "ben@phone.example")]

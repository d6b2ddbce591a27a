"""The web UI in headless Chromium against a real server: log in, import a Backstage file, find
the service with live search, and read its owners, runbook and unresolved dependency."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import ADMIN_TOKEN, LiveServer

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
BACKSTAGE_FILE = Path(__file__).parent / "fixtures" / "web" / "catalog-info.yaml"
RESULTS = Path(__file__).resolve().parents[1] / "test-results" / "browser"
PASSWORD = "alice-password-123"


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs the Debian package 'chromium'")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


def create_admin_user(server: LiveServer, name: str) -> None:
    response = httpx.post(
        f"{server.url}/api/v1/users",
        json={"name": name, "password": PASSWORD, "display_name": "Alice Archer", "is_admin": True},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 201, response.text


def screenshot(page: Page, name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_import_a_backstage_file_and_read_the_service_page(
    live_server: LiveServer, browser: Browser
) -> None:
    create_admin_user(live_server, "alice")
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="light")
    page = context.new_page()

    page.goto(f"{live_server.url}/catalog/import")
    expect(page).to_have_url(f"{live_server.url}/login?next=/catalog/import")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/catalog/import")
    expect(page.get_by_test_id("whoami")).to_have_text("Alice Archer")

    page.set_input_files("input[name=file]", BACKSTAGE_FILE)
    page.get_by_role("button", name="Check (dry run)").click()
    report = page.get_by_test_id("import-report")
    expect(report).to_contain_text("Dry run: nothing was changed")
    expect(report).to_contain_text("component:orders")
    expect(page.locator("textarea[name=text]")).to_have_value(BACKSTAGE_FILE.read_text())

    page.set_input_files("input[name=file]", BACKSTAGE_FILE)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(report).to_contain_text("Imported from catalog-info.yaml")
    expect(report).to_contain_text("resource:orders-db")
    screenshot(page, "import-report")

    page.goto(f"{live_server.url}/catalog")
    rows = page.locator("#service-rows tr")
    expect(rows).to_have_count(2)
    page.get_by_label("Search services").fill("stock")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("inventory")
    expect(page.get_by_test_id("service-count")).to_have_text("1 service of 2")
    expect(page).to_have_url(f"{live_server.url}/catalog?q=stock")
    page.get_by_label("Search services").fill("")
    expect(rows).to_have_count(2)
    screenshot(page, "catalog")

    page.get_by_role("link", name="orders", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/services/orders")
    expect(page.get_by_test_id("service-title")).to_have_text("Orders API")
    owners = page.get_by_test_id("owners")
    expect(owners.get_by_role("link", name="payments")).to_have_attribute("href", "/teams/payments")
    runbook = page.get_by_test_id("runbook").get_by_role("link")
    expect(runbook).to_have_attribute("href", "https://wiki.example.com/runbooks/orders")
    dependencies = page.get_by_test_id("dependencies")
    expect(dependencies.get_by_role("link", name="inventory")).to_have_attribute(
        "href", "/services/inventory"
    )
    expect(dependencies.locator(".unresolved")).to_have_text("resource:orders-db")
    expect(page.get_by_test_id("unowned")).to_have_count(0)
    screenshot(page, "service-page-light")

    page.get_by_role("button", name="Switch light/dark theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    screenshot(page, "service-page-dark")
    context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_pages_load_without_an_error_in_the_browser_console(
    live_server: LiveServer, browser: Browser
) -> None:
    """Every page logged "Failed to load resource: 404" to the console: there was no icon, and
    the browser asked for /favicon.ico."""
    create_admin_user(live_server, "alice")
    page = browser.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/login")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("whoami")).to_be_visible()
    for path in ("/catalog", "/deploys", "/alerts", "/logs", "/teams", "/tokens", "/audit"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
    assert errors == []

"""The deploy pages: deploying and approving from forms, locks and freezes, escaping, and (in
headless Chromium) the deploy page streaming its stages live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ADMIN_TOKEN, LiveServer
from tests.deploy_helpers import add_service, apply_pipeline, start, version_health, wait_for
from tests.test_browser import CHROMIUM, PASSWORD, create_admin_user, screenshot
from tests.test_browser import browser as browser
from tests.test_web_pages import ADMIN, csrf_of, logged_in


def pipeline(health_url: str, live: Path, *, approval: str = "", test: str = "'true'") -> str:
    return f"""service: shop
environments:
  - name: production
    test: {test}
{approval}
    deploy:
      target: command
      command: echo {{version}} > {live}
    verify: {{bake: 1, interval: 1, health_url: "{health_url}"}}
"""


@pytest.fixture
def health(tmp_path: Path) -> Iterator[str]:
    with version_health(tmp_path / "live-version") as server:
        yield server.url


def test_deploy_from_the_service_page_and_refuse_self_approval(
    client: TestClient, health: str, tmp_path: Path
) -> None:
    admin_client = TestClient(client.app, headers=ADMIN)
    add_service(admin_client)
    approval = "    approval: {reviewer: true}"
    apply_pipeline(admin_client, pipeline(health, tmp_path / "live-version", approval=approval))
    logged_in(client, "alice", can_deploy=True)

    form_page = client.get("/services/shop/deploys")
    assert form_page.status_code == 200 and "production" in form_page.text
    started = client.post(
        "/services/shop/deploys",
        data={
            "csrf_token": csrf_of(form_page),
            "environment": "production",
            "version": "1.0<b>x</b>",
            "action": "deploy",
        },
        follow_redirects=False,
    )
    assert started.status_code == 303 and started.headers["location"] == "/deploys/1"

    detail = client.get("/deploys/1")
    assert "1.0&lt;b&gt;x&lt;/b&gt;" in detail.text and "1.0<b>x</b>" not in detail.text
    refused = client.post(
        "/deploys/1/approve", data={"csrf_token": csrf_of(detail)}, follow_redirects=True
    )
    assert "a reviewer other than the deployer must approve it" in refused.text
    assert not (tmp_path / "live-version").exists()

    listing = client.get("/deploys")
    assert listing.status_code == 200 and "/deploys/1" in listing.text
    locked = client.post(
        "/locks",
        data={
            "csrf_token": csrf_of(listing),
            "service": "shop",
            "environment": "production",
            "reason": "incident <42>",
        },
        follow_redirects=True,
    )
    assert "incident &lt;42&gt;" in locked.text
    service_page = client.get("/services/shop")
    assert "/deploys/1" in service_page.text and "All deploys" in service_page.text


def test_a_check_s_measured_values_are_shown_rounded(
    client: TestClient, health: str, tmp_path: Path
) -> None:
    """The health check's response time was printed as 11.76219300032244 (and an alert's
    value as 0.23057927011157095); four significant digits say as much."""
    admin_client = TestClient(client.app, headers=ADMIN)
    add_service(admin_client)
    apply_pipeline(admin_client, pipeline(health, tmp_path / "live-version"))
    deploy = wait_for(admin_client, start(admin_client, "1.0.0"))
    verify = next(stage for stage in deploy["stages"] if stage["name"] == "verify")
    millis = verify["results"][0]["value"]

    page = admin_client.get(f"/deploys/{deploy['id']}").text
    assert f">{millis}<" not in page
    assert f">{millis:.4g}<" in page


@pytest.mark.parametrize(
    ("service", "environment", "field"),
    [
        ("Shop Checkout", "production", "service"),
        ("a" * 70, "production", "service"),
        ("shop", "prod/eu", "environment"),
    ],
)
def test_a_lock_with_a_name_the_api_refuses_is_refused_and_nothing_is_locked(
    client: TestClient, service: str, environment: str, field: str
) -> None:
    """The lock form cut names to 63 characters and took any text, so it said "locked" of a
    lock no deploy of the service would ever meet; it now checks them as the API does."""
    logged_in(client, "oncall", can_deploy=True)
    form = {"service": service, "environment": environment, "reason": "incident 42"}
    answer = client.post(
        "/locks", data=form | {"csrf_token": csrf_of(client.get("/deploys"))}, follow_redirects=True
    )
    assert f"not locked: {field}:" in answer.text
    assert "locked</p>" not in answer.text
    assert client.get("/api/v1/locks", headers=ADMIN).json() == []


def deploy_from_the_page(live_server: LiveServer, browser: Browser, version: str) -> Page:
    """Alice logs in, deploys `version` of shop from its deploys page and lands on the
    deploy's page."""
    page = browser.new_page()
    page.goto(f"{live_server.url}/login?next=/services/shop/deploys")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Version").fill(version)
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/deploys/1")
    return page


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_deploy_page_streams_stage_logs_live(
    live_server: LiveServer, browser: Browser, health: str, tmp_path: Path
) -> None:
    assert CHROMIUM.exists()
    create_admin_user(live_server, "alice")
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as api:
        api.post("/api/v1/services", json={"name": "shop", "owners": ["team-shop"]})
        slow_test = "echo running tests && sleep 2 && echo all tests green"
        source = pipeline(health, tmp_path / "live-version", test=f'"{slow_test}"')
        assert api.put("/api/v1/pipelines", json={"source": source}).status_code == 200

    page = deploy_from_the_page(live_server, browser, "2.4.0")

    test_log = page.locator('[data-stage="test"] [data-stage-log]')
    expect(test_log).to_contain_text("running tests", timeout=10_000)
    expect(page.locator("[data-deploy-status]")).to_have_text("running")
    expect(test_log).to_contain_text("all tests green", timeout=10_000)
    expect(page.locator("[data-deploy-status]")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator('[data-stage="verify"]')).to_contain_text("HTTP 200")
    screenshot(page, "deploy-page")
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as api:
        assert wait_for(api, 1)["status"] == "succeeded"


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_live_status_pills_take_the_colour_of_their_status(
    live_server: LiveServer, browser: Browser, health: str, tmp_path: Path
) -> None:
    """The stream changed a pill's text only: a stage that passed while the page was open
    stayed grey (its "pending" colour) until the page reloaded at the deploy's end."""
    create_admin_user(live_server, "alice")
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as api:
        api.post("/api/v1/services", json={"name": "shop", "owners": ["team-shop"]})
        source = pipeline(health, tmp_path / "live-version", test='"sleep 2"')
        source = source.replace("bake: 1,", "bake: 8,")  # the page reloads only at the end
        assert api.put("/api/v1/pipelines", json={"source": source}).status_code == 200

    page = deploy_from_the_page(live_server, browser, "2.5.0")

    test_pill = page.locator('[data-stage="test"] [data-stage-status]')
    verify_pill = page.locator('[data-stage="verify"] [data-stage-status]')
    expect(verify_pill).to_have_text("running", timeout=15_000)
    expect(test_pill).to_have_text("passed")
    expect(test_pill).to_have_class("pill pill-good", timeout=1_000)
    expect(verify_pill).to_have_class("pill pill-on", timeout=1_000)
    expect(page.locator("[data-deploy-status]")).to_have_class("pill pill-on", timeout=1_000)
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as api:
        assert wait_for(api, 1)["status"] == "succeeded"


def test_the_pipeline_is_edited_on_the_page_with_problems_shown_by_line(
    client: TestClient, health: str, tmp_path: Path
) -> None:
    admin_client = TestClient(client.app, headers=ADMIN)
    add_service(admin_client)
    logged_in(client, "alice", can_deploy=True)
    form_page = client.get("/services/shop/deploys")
    assert "No pipeline yet" in form_page.text

    broken = pipeline(health, tmp_path / "live-version").replace("bake: 1", "bake: soon")
    refused = client.post(
        "/services/shop/pipeline", data={"csrf_token": csrf_of(form_page), "source": broken}
    )
    assert refused.status_code == 422
    assert "line 9: <code>environments[0].verify.bake</code>" in refused.text
    assert admin_client.get("/api/v1/services/shop/pipeline").status_code == 404

    other = pipeline(health, tmp_path / "live-version").replace("service: shop", "service: cart")
    wrong = client.post(
        "/services/shop/pipeline", data={"csrf_token": csrf_of(form_page), "source": other}
    )
    assert wrong.status_code == 422 and "the pipeline is for &#39;cart&#39;" in wrong.text

    good = pipeline(health, tmp_path / "live-version")
    saved = client.post(
        "/services/shop/pipeline", data={"csrf_token": csrf_of(form_page), "source": good}
    )
    assert saved.status_code == 200 and "pipeline saved" in saved.text
    assert admin_client.get("/api/v1/services/shop/pipeline").json()["source"] == good

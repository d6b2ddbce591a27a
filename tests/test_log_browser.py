"""The log explorer in headless Chromium against a real server: log bodies and attributes that
try to run script are shown as text and never execute; the histogram draws and dragging on it
narrows the range in the URL; a facet click adds its filter; a line opens with its details and
context; live tail shows new lines, pauses, and drops rather than freezes under a flood."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ADMIN_TOKEN, LiveServer
from tests.test_browser import PASSWORD, browser, create_admin_user, screenshot

__all__ = ["browser"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

NDJSON = {"content-type": "application/x-ndjson", "Authorization": f"Bearer {ADMIN_TOKEN}"}
ATTACKS = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    '"><svg onload="window.__pwned = \'svg\'">',
    "</script><script>window.__pwned = 'breakout'</script>",
]


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


def send(server: LiveServer, records: list[dict[str, object]]) -> None:
    body = "\n".join(json.dumps(record) for record in records)
    response = httpx.post(
        f"{server.url}/api/v1/ingest/logs", content=body, headers=NDJSON, timeout=60
    )
    assert response.status_code == 200, response.text


def log_in(server: LiveServer, browser: Browser) -> Page:
    create_admin_user(server, "alice")
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{server.url}/login")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("whoami")).to_be_visible()
    return page


def test_hostile_log_text_is_shown_and_never_runs(
    live_server: LiveServer, browser: Browser
) -> None:
    records: list[dict[str, object]] = [
        {
            "timestamp": ago(60 + index),
            "service": "shop",
            "level": "error",
            "message": attack,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "evil": attack,
        }
        for index, attack in enumerate(ATTACKS)
    ]
    records += [
        {
            "timestamp": ago(120 + index),
            "service": "shop",
            "level": "info",
            "message": f"served order {index}",
            "host": "web-1",
        }
        for index in range(30)
    ]
    send(live_server, records)
    live_server.app.state.telemetry.flush()
    page = log_in(live_server, browser)
    page.goto(f"{live_server.url}/logs?q=service:shop")
    lines = page.get_by_test_id("log-lines")
    for attack in ATTACKS:
        expect(lines).to_contain_text(attack)
    expect(page.get_by_test_id("log-total")).to_contain_text("34 matching lines")
    expect(page.locator("#histogram canvas")).to_have_count(1)

    # The details panel shows the attribute and the body as text too.
    page.locator(".log-line.level-error").first.click()
    detail = page.get_by_test_id("line-detail-card")
    expect(detail).to_contain_text("evil")
    expect(page.get_by_test_id("detail-body")).to_have_text(ATTACKS[0])
    expect(page.get_by_test_id("context-lines").locator(".log-line")).not_to_have_count(0)
    expect(page.get_by_test_id("trace-link")).to_be_visible()

    # The open line is in the URL: opening that URL shows the same details.
    line_id = page.locator(".log-line.level-error").first.get_attribute("data-line-id")
    expect(page).to_have_url(f"{live_server.url}/logs?q=service%3Ashop&line={line_id}")
    shared = page.context.new_page()
    shared.goto(page.url)
    expect(shared.get_by_test_id("detail-body")).to_have_text(ATTACKS[0])
    expect(shared.get_by_test_id("line-detail-card")).to_contain_text("evil")
    shared.close()

    # Facets list the attribute values; patterns list the bodies as templates.
    expect(page.get_by_test_id("facets")).to_contain_text(ATTACKS[1])
    page.get_by_test_id("patterns-tab").click()
    expect(page.get_by_test_id("patterns")).to_contain_text("served order <NUM>")
    screenshot(page, "logs-patterns")
    assert page.evaluate("window.__pwned") is None


def test_histogram_drag_facets_and_live_tail(live_server: LiveServer, browser: Browser) -> None:
    send(
        live_server,
        [
            {
                "timestamp": ago(30 * 60 - index * 60),
                "service": "shop" if index % 2 else "pay",
                "level": "warn" if index % 3 else "info",
                "message": f"tick {index}",
            }
            for index in range(30)
        ],
    )
    live_server.app.state.telemetry.flush()
    page = log_in(live_server, browser)
    page.goto(f"{live_server.url}/logs")
    expect(page.get_by_test_id("log-total")).to_contain_text("30 matching lines")

    # Clicking a facet value adds it to the query.
    page.locator('a.facet-value[data-facet="service"]', has_text="shop").click()
    expect(page.get_by_test_id("log-query")).to_have_value("service:shop")
    expect(page.get_by_test_id("log-total")).to_contain_text("15 matching lines")

    # Dragging across the histogram narrows the range to absolute times in the URL.
    overlay = page.locator("#histogram .u-over")
    box = overlay.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_url("**/logs?*from=*")
    narrowed = parse_qs(urlparse(page.url).query)
    assert narrowed["q"] == ["service:shop"]
    start = datetime.fromisoformat(narrowed["from"][0])
    end = datetime.fromisoformat(narrowed["to"][0])
    assert timedelta(minutes=10) < end - start < timedelta(minutes=30)
    screenshot(page, "logs-narrowed")

    # Live tail: new lines appear; paused, they wait; a flood is dropped, not frozen on.
    page.goto(f"{live_server.url}/logs?q=tail")
    page.get_by_test_id("tail-toggle").click()
    expect(page.get_by_test_id("tail-status")).to_have_attribute("data-ready", "1")
    send(live_server, [{"service": "shop", "message": "tail <i>one</i>"}])
    expect(page.get_by_test_id("tail-lines")).to_contain_text("tail <i>one</i>", timeout=15000)
    page.get_by_test_id("tail-pause").click()
    send(live_server, [{"service": "shop", "message": "tail two"}])
    expect(page.get_by_test_id("tail-status")).to_contain_text("1 waiting", timeout=15000)
    expect(page.get_by_test_id("tail-lines")).not_to_contain_text("tail two")
    page.get_by_test_id("tail-pause").click()
    expect(page.get_by_test_id("tail-lines")).to_contain_text("tail two")

    flood = [{"service": "shop", "message": f"tail flood {index}"} for index in range(12000)]
    started = time.monotonic()
    send(live_server, flood)
    expect(page.get_by_test_id("tail-status")).to_contain_text("dropped", timeout=20000)
    assert page.locator("#tail-lines .log-line").count() <= 1000
    assert time.monotonic() - started < 30
    assert page.evaluate("1 + 1") == 2  # the page still answers
    screenshot(page, "logs-tail")


# Records the text each canvas draws: uPlot draws its axis labels there, not in the DOM.
RECORD_CANVAS_TEXT = """
window.__drawn = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
  window.__drawn.push(String(text));
  return fillText.call(this, text, ...rest);
};
"""


def hour_of(label: str) -> int:
    """An axis label "17:05" -> 17."""
    return int(label.split(":")[0])


def test_the_histogram_s_axis_is_in_utc_like_the_lines_beside_it(
    live_server: LiveServer, browser: Browser
) -> None:
    """In a browser in New York the histogram's axis said 12:00pm while the lines under it
    said 17:04 (UTC, as every time in fullcycle): the two did not match up."""
    send(live_server, [{"timestamp": ago(60 * m), "message": f"m{m}"} for m in range(1, 50)])
    live_server.app.state.telemetry.flush()
    create_admin_user(live_server, "alice")
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, timezone_id="America/New_York"
    )
    page = context.new_page()
    page.add_init_script(RECORD_CANVAS_TEXT)
    page.goto(f"{live_server.url}/login?next=/logs")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("log-total")).to_contain_text("49 matching lines")
    expect(page.locator("#histogram canvas")).to_have_count(1)

    drawn = page.evaluate("window.__drawn")
    times = [text for text in drawn if re.fullmatch(r"\d\d:\d\d", text)]
    assert times, drawn  # a 24-hour clock, as the lines' times: "17:05", not "5:05pm"
    assert not [text for text in drawn if text.endswith(("am", "pm"))], drawn
    now = datetime.now(UTC)
    utc_hours = {(now - timedelta(minutes=m)).hour for m in range(0, 65)}
    assert {hour_of(label) for label in times} <= utc_hours, (times, utc_hours)
    expect(page.locator(".histogram figcaption")).to_contain_text("Times in UTC")
    screenshot(page, "logs-histogram-utc")

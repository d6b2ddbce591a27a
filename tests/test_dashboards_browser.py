"""A service's automatic dashboard in headless Chromium, from telemetry ingested through the real
endpoints (remote_write and NDJSON logs) and a deploy marker: the panels with data are drawn,
those without are left out, and every chart's data equal what the PromQL API answers."""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from fullcycle.telemetry.batches import MarkerBatch
from fullcycle.telemetry.payloads import encode_batches
from fullcycle.telemetry.remote import BATCHES_CONTENT_TYPE, BATCHES_PATH
from tests.conftest import ADMIN_TOKEN, LiveServer
from tests.revenue_series import revenue_counter
from tests.test_anomaly_api import BAND_DASHBOARD, OUTAGE, OUTAGE_DAY
from tests.test_browser import PASSWORD, create_admin_user, screenshot
from tests.test_browser import browser as browser
from tests.test_dashboards_code import SHOP
from tests.test_promql_api import _write_request

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BOUNDS = ("0.1", "0.25", "0.5", "1", "+Inf")


def _series(now_s: int) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    """45 minutes of a checkout service scraped every 15 s, Prometheus client style."""
    times = list(range(now_s - 45 * 60, now_s, 15))
    job = {"job": "checkout", "instance": "checkout-1:8080"}
    series: list[tuple[dict[str, str], list[tuple[int, float]]]] = [
        (
            {"__name__": "http_requests_total", **job, "code": code},
            [(t * 1000, float(i * per_scrape)) for i, t in enumerate(times)],
        )
        for code, per_scrape in (("200", 30), ("500", 3))
    ]
    for bound, share in zip(BOUNDS, (0.5, 0.8, 0.95, 0.99, 1.0), strict=True):
        series.append(
            (
                {"__name__": "http_request_duration_seconds_bucket", **job, "le": bound},
                [(t * 1000, i * 33 * share) for i, t in enumerate(times)],
            )
        )
    series.append(
        (
            {"__name__": "process_resident_memory_bytes", **job},
            [(t * 1000, 150e6 + (i % 10) * 1e6) for i, t in enumerate(times)],
        )
    )
    series.append(({"__name__": "up", **job}, [(t * 1000, 1.0) for t in times]))
    return series


@pytest.fixture
def checkout(live_server: LiveServer) -> Iterator[LiveServer]:
    now_s = int(time.time())
    client = httpx.Client(base_url=live_server.url, headers=AUTH, timeout=60)
    assert client.post("/api/v1/teams", json={"name": "payments"}).status_code == 201
    response = client.post("/api/v1/services", json={"name": "checkout", "owners": ["payments"]})
    assert response.status_code == 201, response.text
    response = client.post(
        "/api/v1/write",
        content=_write_request(_series(now_s)),
        headers={"content-type": "application/x-protobuf", "content-encoding": "snappy"},
    )
    assert response.status_code == 204, response.text
    lines = [
        {
            "timestamp": (now_s - 60 * minute) * 1000,
            "service": "checkout",
            "level": level,
            "message": f"{level} {minute}",
        }
        for minute in range(30)
        for level in ("info", "info", "error")
    ]
    response = client.post(
        "/api/v1/ingest/logs",
        content="\n".join(json.dumps(line) for line in lines),
        headers={"content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    markers = MarkerBatch()
    markers.add(
        timestamp_ns=(now_s - 20 * 60) * 1_000_000_000,
        kind="deploy",
        service="checkout",
        title="checkout 1.4.2 by alice",
        reference="/deploys/42",
        attributes={"version": "1.4.2", "actor": "alice"},
    )
    asyncio.run(live_server.app.state.telemetry.append([markers]))
    live_server.app.state.telemetry.flush()
    yield live_server


def _log_in(page: Page, server: LiveServer, target: str) -> None:
    page.goto(f"{server.url}{target}")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _close(expected: float, actual: float | None) -> bool:
    if actual is None:
        return math.isnan(expected)
    return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12)


def test_service_dashboard_draws_ingested_data_that_match_the_api(
    checkout: LiveServer, browser: Browser
) -> None:
    create_admin_user(checkout, "alice")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    _log_in(page, checkout, "/services/checkout/dashboard?range=1h")
    dashboard = page.get_by_test_id("dashboard")
    expect(dashboard).to_have_attribute("data-loaded", re.compile(r"\d+"))
    titles = page.locator("[data-panel] h3").all_text_contents()
    assert titles == [
        "Requests per second",
        "Error ratio",
        "Latency",
        "Memory",
        "Instances up",
        "Log volume by level",
    ]  # no CPU samples were sent: that panel is left out, not drawn empty
    expect(page.locator("[data-marker-list]")).to_contain_text("checkout 1.4.2 by alice")
    screenshot(page, "service-dashboard")

    charts = page.evaluate(
        """() => Object.fromEntries(Object.entries(window.fullcycleCharts).map(
            ([title, chart]) => [title, {data: chart.plot.data, panel: chart.panel}]))"""
    )
    for title in ("Requests per second", "Error ratio", "Latency", "Memory"):
        chart = charts[title]
        timestamps = chart["data"][0]
        for index, series in enumerate(chart["panel"]["series"]):
            answer = httpx.get(
                f"{checkout.url}/api/v1/query_range",
                params={
                    "query": series["query"],
                    "start": timestamps[0],
                    "end": timestamps[-1],
                    "step": timestamps[1] - timestamps[0],
                },
                headers=AUTH,
            ).json()["data"]["result"]
            assert len(answer) == 1, (title, series["query"])
            expected = {float(t): float(v) for t, v in answer[0]["values"]}
            drawn = chart["data"][index + 1]
            assert sum(value is not None for value in drawn) >= 20, title
            for t, value in zip(timestamps, drawn, strict=True):
                if value is None:
                    assert t not in expected, (title, t)
                else:
                    assert _close(expected[t], value), (title, t, expected[t], value)
    rps = [v for v in charts["Requests per second"]["data"][1] if v is not None]
    assert max(rps) == pytest.approx(33 / 15)  # 33 requests every 15 s
    ratio = [v for v in charts["Error ratio"]["data"][1] if v is not None]
    assert ratio[-1] == pytest.approx(3 / 33)


def test_time_picker_and_zoom_change_the_window(checkout: LiveServer, browser: Browser) -> None:
    create_admin_user(checkout, "alice")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    _log_in(page, checkout, "/services/checkout/dashboard")
    dashboard = page.get_by_test_id("dashboard")
    expect(dashboard.locator("[data-panel]").first).to_be_visible()
    page.get_by_test_id("time-range").select_option("15m")
    expect(page).to_have_url(re.compile(r"range=15m"))
    page.wait_for_function(
        "() => { const c = window.fullcycleCharts['Memory']; if (!c) return false;"
        " const x = c.plot.data[0]; return x[x.length - 1] - x[0] <= 900; }"
    )
    assert page.evaluate("localStorage.getItem('fullcycle.timeRange')") == "15m"

    box = page.locator("[data-panel='Memory'] .u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    expect(page).to_have_url(re.compile(r"start=.*end="))
    expect(page.locator("[data-reset-zoom]")).to_be_visible()
    page.wait_for_function(
        "() => { const c = window.fullcycleCharts['Memory']; if (!c) return false;"
        " const x = c.plot.data[0]; return x[x.length - 1] - x[0] < 400; }"
    )


def test_edit_a_dashboard_with_live_preview_and_save_it(
    live_server: LiveServer, browser: Browser
) -> None:
    now_s = int(time.time()) - 60  # a minute ago: before the end of the dashboard's window
    with httpx.Client(base_url=live_server.url, headers=AUTH, timeout=60) as client:
        response = client.post(
            "/api/v1/write",
            content=_write_request(
                [
                    (
                        {"__name__": "revenue_euros_total", "job": "shop"},
                        [((now_s - 7 * 86400) * 1000, 800.0), (now_s * 1000, 1000.0)],
                    )
                ]
            ),
            headers={"content-type": "application/x-protobuf", "content-encoding": "snappy"},
        )
        assert response.status_code == 204
    live_server.app.state.telemetry.flush()
    create_admin_user(live_server, "alice")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    _log_in(page, live_server, "/dashboards/new")
    yaml = page.get_by_test_id("dashboard-yaml")
    expect(yaml).to_contain_text("name: my-dashboard")
    expect(page.get_by_test_id("dashboard")).to_have_attribute("data-loaded", re.compile(r"\d+"))
    yaml.fill(SHOP)
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("kpi-change")).to_have_text(
        re.compile(r"▲ 25 % vs last week"), timeout=15_000
    )
    expect(page.locator("[data-panel='Revenue'] .stat-value")).to_contain_text("1,000")
    screenshot(page, "dashboard-editor-preview")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(rf"{live_server.url}/dashboards/shop-business(\?|$)"))
    expect(page.locator("h1")).to_have_text("Shop business")
    expect(page.get_by_test_id("kpi-change")).to_be_visible()
    page.goto(f"{live_server.url}/dashboards/shop-business/edit")
    expect(page.get_by_test_id("dashboard-yaml")).to_have_value(SHOP)


def test_a_panel_with_a_band_draws_the_expected_range(
    live_server: LiveServer, browser: Browser
) -> None:
    batch = revenue_counter(
        OUTAGE_DAY - timedelta(days=15), OUTAGE_DAY + timedelta(hours=12), OUTAGE
    )
    with httpx.Client(base_url=live_server.url, headers=AUTH, timeout=60) as client:
        response = client.post(
            BATCHES_PATH,
            content=encode_batches([batch]),
            headers={"Content-Type": BATCHES_CONTENT_TYPE},
        )
        assert response.status_code == 200, response.text
        live_server.app.state.telemetry.flush()
        response = client.put("/api/v1/dashboards/revenue", json={"yaml": BAND_DASHBOARD})
        assert response.status_code in (200, 201), response.text
        data = client.get("/api/v1/dashboards/revenue/data", params={"range": "2d"}).json()
    create_admin_user(live_server, "alice")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    _log_in(page, live_server, "/dashboards/revenue?range=2d")
    expect(page.get_by_test_id("dashboard")).to_have_attribute("data-loaded", re.compile(r"\d+"))

    drawn = page.evaluate(
        """() => { const c = window.fullcycleCharts['Revenue per 10 minutes'];
        return {labels: c.plot.series.map((s) => s.label), data: c.plot.data,
                bands: c.plot.bands.length}; }"""
    )
    screenshot(page, "dashboard-band")

    assert drawn["labels"][-3:] == ["expected", "lower", "upper"]
    assert drawn["bands"] == 1
    [panel] = data["panels"]
    assert drawn["data"][-3] == panel["band"]["expected"]
    assert drawn["data"][-1] == panel["band"]["upper"]


ERROR_RATIO = 'sum(rate(http_requests_total{code="500"}[1m])) / sum(rate(http_requests_total[1m]))'
THRESHOLD_DASHBOARD = f"""
name: errors
title: Errors
rows:
  - panels:
      - title: Error ratio against its threshold
        unit: percent
        thresholds: [{{value: 0.5, color: red}}]
        queries:
          - expr: '{ERROR_RATIO}'
      - title: Error ratio
        unit: percent
        queries:
          - expr: '{ERROR_RATIO}'
"""


def test_the_y_axis_reaches_a_threshold_far_above_the_values(
    checkout: LiveServer, browser: Browser
) -> None:
    """The ratio is about 9 %; with a 50 % threshold the axis reaches 50 % so that the line is
    seen, without one it fits the values."""
    with httpx.Client(base_url=checkout.url, headers=AUTH, timeout=60) as client:
        response = client.put("/api/v1/dashboards/errors", json={"yaml": THRESHOLD_DASHBOARD})
        assert response.status_code in (200, 201), response.text
    create_admin_user(checkout, "alice")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    _log_in(page, checkout, "/dashboards/errors")
    expect(page.get_by_test_id("dashboard")).to_have_attribute("data-loaded", re.compile(r"\d+"))

    scales = page.evaluate(
        """() => Object.fromEntries(Object.entries(window.fullcycleCharts).map(
        ([title, c]) => [title, [c.plot.scales.y.min, c.plot.scales.y.max,
                                 Math.max(...c.plot.data[1].filter((v) => v !== null))]]))"""
    )
    screenshot(page, "dashboard-threshold")

    low, high, largest = scales["Error ratio against its threshold"]
    assert 0.08 < largest < 0.1, largest
    assert low <= 0 and 0.5 <= high < 0.6, (low, high)
    _, fitted_high, _ = scales["Error ratio"]
    assert largest <= fitted_high < 0.5, fitted_high


def test_marker_titles_close_together_do_not_overlap(
    checkout: LiveServer, browser: Browser
) -> None:
    """A faulty deploy, its rollback and a redeploy within two minutes, and one at the window's
    right edge: the titles drawn are apart from each other, inside the chart, and the list
    under the dashboard names every marker."""
    now_ns = time.time_ns()
    close_together = (
        (300, "deploy", "checkout 1.5.0-faulty by bob"),
        (250, "rollback", "checkout 1.4.2 (automatic rollback of deploy 43)"),
        (200, "deploy", "checkout 1.5.1 by bob"),
        (60, "deploy", "checkout 1.5.2 by carol"),
    )
    markers = MarkerBatch()
    for seconds_ago, kind, title in close_together:
        markers.add(
            timestamp_ns=now_ns - seconds_ago * 1_000_000_000,
            kind=kind,
            service="checkout",
            title=title,
            reference="/deploys/43",
            attributes={},
        )
    with ThreadPoolExecutor(1) as thread:  # Playwright's event loop runs in this one
        thread.submit(asyncio.run, checkout.app.state.telemetry.append([markers])).result()
    checkout.app.state.telemetry.flush()
    create_admin_user(checkout, "alice")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    _log_in(page, checkout, "/services/checkout/dashboard?range=1h")
    expect(page.get_by_test_id("dashboard")).to_have_attribute("data-loaded", re.compile(r"\d+"))

    drawn = page.evaluate(
        """() => { const u = window.fullcycleCharts['Memory'].plot;
        return {labels: u.markerLabels, left: u.bbox.left, right: u.bbox.left + u.bbox.width}; }"""
    )
    screenshot(page, "dashboard-markers")

    labels = drawn["labels"]
    assert len(labels) >= 3, labels  # a title in each of the three rows at least
    for _, _, title in close_together:
        expect(page.locator("[data-marker-list]")).to_contain_text(title)
    for label in labels:
        assert drawn["left"] <= label["x"] and label["x"] + label["width"] <= drawn["right"]
    for index, one in enumerate(labels):
        for other in labels[index + 1 :]:
            apart = one["x"] + one["width"] <= other["x"] or other["x"] + other["width"] <= one["x"]
            assert apart or one["y"] != other["y"], (one, other)

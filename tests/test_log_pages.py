"""/logs as HTML through the real app: the view is the URL, lines and facets are rendered
escaped, facets add filters, query errors point at their column, a line opens with its
attributes, trace link and context, and the service page links to its logs."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from tests.test_web_pages import log_in

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NDJSON = {"content-type": "application/x-ndjson"}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def ago(seconds: int) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


def ingest(client: TestClient, *records: dict[str, Any]) -> None:
    body = "\n".join(json.dumps(record) for record in records)
    response = client.post("/api/v1/ingest/logs", content=body, headers=NDJSON)
    assert response.status_code == 200, response.text
    client.app.state.telemetry.flush()  # type: ignore[attr-defined]


@pytest.fixture
def with_logs(admin: TestClient) -> TestClient:
    ingest(
        admin,
        *(
            {
                "timestamp": ago(300 - index),
                "service": "shop",
                "host": "web-1",
                "level": "info",
                "message": f"served order {index}",
                "route": "/orders",
            }
            for index in range(20)
        ),
        {
            "timestamp": ago(100),
            "service": "shop",
            "host": "web-1",
            "level": "error",
            "message": "<b>payment</b> failed",
            "trace_id": TRACE_ID,
            "order id": "17",
        },
        {
            "timestamp": ago(50),
            "service": "checkout",
            "host": "web-2",
            "level": "warn",
            "message": "slow",
            "trace_id": TRACE_ID,
        },
    )
    return admin


@SQLITE_ONLY
def test_the_explorer_shows_lines_newest_first_escaped_with_facets(with_logs: TestClient) -> None:
    page = with_logs.get("/logs", params={"q": "service:shop", "from": "now-2h"})
    assert page.status_code == 200
    text = page.text
    assert "<strong>21</strong> matching lines" in text
    assert "&lt;b&gt;payment&lt;/b&gt; failed" in text and "<b>payment</b>" not in text
    assert (
        text.index("&lt;b&gt;payment")
        < text.index("served order 19")
        < text.index("served order 0<")
    )
    assert 'class="log-line level-error"' in text
    # facet links add the filter to the query and keep the range
    facet_links = {
        html.unescape(value): parse_qs(urlparse(html.unescape(href)).query)
        for href, value in re.findall(
            r'<a href="([^"]+)" class="facet-value[^"]*" data-facet="level">([^<]+)</a>', text
        )
    }
    assert facet_links["error"] == {"q": ["service:shop level:error"], "from": ["now-2h"]}
    assert "order id" in text  # an attribute key the language cannot write is shown, not linked


@SQLITE_ONLY
def test_a_query_error_is_shown_with_a_caret_at_its_column(admin: TestClient) -> None:
    page = admin.get("/logs", params={"q": "level:error AND service:)"})
    assert page.status_code == 400
    assert "expected a value after &#39;service:&#39;" in page.text
    caret = page.text.split('<pre class="query-caret">')[1].split("</pre>")[0]
    _, caret_line = caret.split("\n")
    assert caret_line == " " * 24 + "^"


@SQLITE_ONLY
def test_a_line_opens_with_attributes_trace_link_and_context(with_logs: TestClient) -> None:
    search = with_logs.get("/api/v1/logs/search", params={"q": "failed", "from": "now-1h"}).json()
    line_id = search["results"][0]["id"]
    detail = with_logs.get(f"/logs/lines/{line_id}")
    assert detail.status_code == 200
    assert "&lt;b&gt;payment&lt;/b&gt; failed" in detail.text
    assert "<dt>order id</dt><dd>17</dd>" in detail.text
    trace_link = html.unescape(
        detail.text.split('data-testid="trace-link"')[0].rsplit('href="', 1)[1]
    )
    assert parse_qs(urlparse(trace_link.split('"')[0]).query)["q"] == [f"trace_id:{TRACE_ID}"]
    context = detail.text.split('data-testid="context-lines"')[1]
    assert context.count('class="log-line') == 6  # 5 before it, itself; none after on web-1
    assert 'level-error current"' in context
    assert "slow" not in context  # other service and host


@SQLITE_ONLY
def test_a_lines_details_have_a_url_of_their_own(with_logs: TestClient) -> None:
    search = with_logs.get("/api/v1/logs/search", params={"q": "failed", "from": "now-1h"}).json()
    line_id = search["results"][0]["id"]
    explorer_page = with_logs.get("/logs", params={"q": "failed"})
    pushed = html.unescape(explorer_page.text.split('hx-push-url="')[1].split('"')[0])
    assert parse_qs(urlparse(pushed).query) == {"q": ["failed"], "line": [line_id]}
    opened = with_logs.get(pushed)
    assert opened.status_code == 200
    panel = opened.text.split('data-testid="line-detail"')[1].split("</aside>")[0]
    assert "&lt;b&gt;payment&lt;/b&gt; failed" in panel
    assert "<dt>order id</dt><dd>17</dd>" in panel
    assert 'level-error current"' in panel.split('data-testid="context-lines"')[1]
    gone = with_logs.get("/logs", params={"q": "failed", "line": "1-1"})
    assert gone.status_code == 404
    assert "No line 1-1" in gone.text
    assert "matching lines" in gone.text  # the rest of the view is still shown
    bad = with_logs.get("/logs", params={"line": "<b>x</b>"})
    assert bad.status_code == 400
    assert "expected a line id" in bad.text and "<b>x</b>" not in bad.text


@SQLITE_ONLY
def test_patterns_view_lists_templates_with_counts(with_logs: TestClient) -> None:
    page = with_logs.get("/logs", params={"view": "patterns", "q": "service:shop"})
    assert page.status_code == 200
    assert "served order &lt;NUM&gt;" in page.text
    row = page.text.split("served order &lt;NUM&gt;")[0].rsplit("<tr>", 1)[1]
    assert '<td class="num">20</td>' in row
    assert "<polyline points=" in page.text


@SQLITE_ONLY
def test_the_service_page_links_to_its_logs(with_logs: TestClient) -> None:
    created = with_logs.post("/api/v1/services", json={"name": "shop", "owners": ["user:admin"]})
    assert created.status_code in (201, 409), created.text
    page = with_logs.get("/services/shop")
    assert page.status_code == 200
    assert 'href="/logs?q=service%3Ashop"' in page.text
    assert "&lt;b&gt;payment&lt;/b&gt; failed" in page.text


@SQLITE_ONLY
def test_a_search_is_saved_from_the_page_and_listed_for_everyone(
    admin: TestClient,
) -> None:
    admin.post(
        "/api/v1/users", json={"name": "carol", "password": "carol-password-1", "is_admin": False}
    )
    admin.headers.pop("Authorization")
    log_in(admin, "carol", "carol-password-1")
    page = admin.get("/logs", params={"q": "level:error", "from": "now-6h"})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    saved = admin.post(
        "/logs/saved-searches",
        data={
            "csrf_token": csrf.group(1),
            "name": "<i>errors</i>",
            "q": "level:error",
            "from": "now-6h",
            "to": "now",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert parse_qs(urlparse(saved.headers["location"]).query) == {
        "q": ["level:error"],
        "from": ["now-6h"],
    }
    listing = admin.get("/logs").text
    assert "&lt;i&gt;errors&lt;/i&gt;</a>" in listing
    assert 'href="/logs?q=level%3Aerror&amp;from=now-6h"' in listing
    forged = admin.post(
        "/logs/saved-searches", data={"name": "no csrf", "q": ""}, follow_redirects=False
    )
    assert forged.status_code == 403


@SQLITE_ONLY
def test_lines_show_their_date_when_the_page_spans_days(admin: TestClient) -> None:
    ingest(
        admin,
        {"timestamp": ago(3 * 86400), "service": "shop", "message": "three days ago"},
        {"timestamp": ago(60), "service": "shop", "message": "a minute ago"},
    )
    week = admin.get("/logs", params={"q": "service:shop", "from": "now-7d"}).text
    old = datetime.now(UTC) - timedelta(days=3)
    assert re.search(rf"<time [^>]*>{old:%Y-%m-%d} \d\d:\d\d:\d\d\.\d{{3}}</time>", week)
    recent = admin.get("/logs", params={"q": "service:shop", "from": "now-5m"}).text
    assert re.search(r"<time [^>]*>\d\d:\d\d:\d\d\.\d{3}</time>", recent)
    assert not re.search(r"<time [^>]*>\d{4}-\d\d-\d\d ", recent)

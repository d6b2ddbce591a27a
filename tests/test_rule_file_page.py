"""Rule files from the UI (/rules/apply): checked without changing anything, refused with the
line and field of each problem, applied under a name, and only with the deploy right."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient

from tests.test_web_pages import ADMIN, csrf_of, logged_in

RULE_FILE = """\
groups:
  - name: shop-queues
    service: shop
    rules:
      - alert: QueueTooLong
        expr: shop_queue_length > 100
        for: 5m
        labels: {severity: warning}
"""


def add_service_as_admin(client: TestClient) -> None:
    response = client.post(
        "/api/v1/services", json={"name": "shop", "owners": ["team-shop"]}, headers=ADMIN
    )
    assert response.status_code == 201, response.text


def test_a_rule_file_is_checked_then_applied_from_the_page(client: TestClient) -> None:
    add_service_as_admin(client)
    logged_in(client, "ops", can_deploy=True)
    form = client.get("/rules/apply")
    assert form.status_code == 200
    fields = {"csrf_token": csrf_of(form), "name": "from-the-ui", "text": RULE_FILE}

    checked = client.post("/rules/apply", data=fields | {"mode": "check"})
    assert checked.status_code == 200 and "shop/QueueTooLong" in checked.text
    assert client.get("/api/v1/rules", headers=ADMIN).json() == []

    bad = RULE_FILE.replace("for: 5m", "for: soon")
    refused = client.post("/rules/apply", data=fields | {"mode": "apply", "text": bad})
    assert refused.status_code == 422
    assert "groups[0].rules[0].for" in html.unescape(refused.text)
    assert client.get("/api/v1/rules", headers=ADMIN).json() == []

    applied = client.post("/rules/apply", data=fields | {"mode": "apply"})
    assert applied.status_code == 200 and "Created" in applied.text
    rules = client.get("/api/v1/rules", headers=ADMIN).json()
    assert [(r["service"], r["name"], r["source"]) for r in rules] == [
        ("shop", "QueueTooLong", "from-the-ui")
    ]


def test_applying_a_rule_file_from_the_page_needs_the_deploy_right(client: TestClient) -> None:
    logged_in(client, "reader", can_deploy=False)
    assert client.get("/rules/apply").status_code == 403

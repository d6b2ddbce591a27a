"""The scrape-target API through the real app, on SQLite and PostgreSQL, and the status it shows
after real scrapes of a real endpoint."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from fullcycle.ingest.scraper import Scraper
from tests.conftest import token_for
from tests.test_scraper import MetricsServer, refused_url, shop_registry, text_only

TARGETS = "/api/v1/services/orders/scrape-targets"


def create_orders(admin: TestClient, name: str = "orders") -> None:
    response = admin.post("/api/v1/services", json={"name": name, "owners": ["shop"]})
    assert response.status_code == 201, response.text


def add_target(admin: TestClient, url: str, **fields: Any) -> dict[str, Any]:
    response = admin.post(TARGETS, json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def settings_of(target: dict[str, Any]) -> dict[str, Any]:
    """A target without its status (which a background scraper of the app may change)."""
    keys = ("id", "service", "url", "interval_seconds", "timeout_seconds", "labels")
    return {key: target[key] for key in keys}


def listed(admin: TestClient, **headers: str) -> list[dict[str, Any]]:
    response = admin.get(TARGETS, headers=headers)
    assert response.status_code == 200, response.text
    return [settings_of(target) for target in response.json()]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_fields(response: Any) -> list[str]:
    return [".".join(str(part) for part in error["loc"][1:]) for error in response.json()["detail"]]


def audit(admin: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    events = admin.get("/api/v1/audit", params={"action": "scrape_target."}).json()
    return [(event["action"], event["target"], event["details"]) for event in reversed(events)]


# --- create, read, update, delete ---------------------------------------------------------------


def test_add_and_read_a_target(admin: TestClient) -> None:
    create_orders(admin)

    created = add_target(admin, "http://orders-1.internal:9100/metrics", labels={"env": "prod"})

    assert created == {
        "id": created["id"],
        "service": "orders",
        "url": "http://orders-1.internal:9100/metrics",
        "interval_seconds": 30,
        "timeout_seconds": 10,
        "labels": {"env": "prod"},
        "health": "unknown",
        "last_scrape_at": None,
        "last_duration_ms": None,
        "last_error": "",
        "last_samples": 0,
        "next_scrape_at": created["next_scrape_at"],
    }
    assert listed(admin) == [settings_of(created)]
    assert settings_of(admin.get(f"{TARGETS}/{created['id']}").json()) == settings_of(created)
    assert audit(admin) == [
        ("scrape_target.create", "orders", {"id": created["id"], "url": created["url"]})
    ]


def test_update_keeps_what_is_left_out_and_delete_removes(admin: TestClient) -> None:
    create_orders(admin)
    target = add_target(admin, "https://orders.internal/metrics", interval_seconds=60)
    path = f"{TARGETS}/{target['id']}"

    updated = admin.put(path, json={"interval_seconds": 15, "labels": {"zone": "eu-1"}})

    assert updated.status_code == 200, updated.text
    assert settings_of(updated.json()) == settings_of(target) | {
        "interval_seconds": 15,
        "labels": {"zone": "eu-1"},
    }
    assert admin.put(path, json={"interval_seconds": 15}).status_code == 200  # no change
    deleted = admin.delete(path)
    assert deleted.status_code == 204
    assert admin.get(TARGETS).json() == []
    assert admin.get(path).status_code == 404
    assert audit(admin) == [
        ("scrape_target.create", "orders", {"id": target["id"], "url": target["url"]}),
        (
            "scrape_target.update",
            "orders",
            {"id": target["id"], "url": target["url"], "fields": ["interval_seconds", "labels"]},
        ),
        ("scrape_target.delete", "orders", {"id": target["id"], "url": target["url"]}),
    ]


def test_the_same_url_twice_for_a_service_is_a_conflict(admin: TestClient) -> None:
    create_orders(admin)
    create_orders(admin, "payments")
    first = add_target(admin, "http://10.0.0.5:9100/metrics")
    second = add_target(admin, "http://10.0.0.6:9100/metrics")

    duplicate = admin.post(TARGETS, json={"url": "http://10.0.0.5:9100/metrics"})
    moved_onto = admin.put(f"{TARGETS}/{second['id']}", json={"url": first["url"]})
    other_service = admin.post(
        "/api/v1/services/payments/scrape-targets", json={"url": first["url"]}
    )

    assert duplicate.status_code == 409
    assert duplicate.json()["detail"].startswith("url: service 'orders' already has a scrape")
    assert moved_onto.status_code == 409
    assert other_service.status_code == 201
    assert len(admin.get(TARGETS).json()) == 2


# --- bad input ----------------------------------------------------------------------------------


def test_validation_errors_name_the_field(admin: TestClient) -> None:
    create_orders(admin)
    url = "http://orders.internal:9100/metrics"
    cases: dict[str, dict[str, Any]] = {
        "url": {"url": "ftp://orders.internal/metrics"},
        "url ": {"url": "orders.internal:9100/metrics"},
        "url  ": {"url": "http://user:secret@orders.internal/metrics"},
        "url   ": {},
        "interval_seconds": {"url": url, "interval_seconds": 4},
        "interval_seconds ": {"url": url, "interval_seconds": 3601},
        "timeout_seconds": {"url": url, "timeout_seconds": 0},
        "timeout_seconds ": {"url": url, "timeout_seconds": 61},
        "timeout_seconds  ": {"url": url, "interval_seconds": 5, "timeout_seconds": 6},
        "labels": {"url": url, "labels": {"1st": "x"}},
        "labels ": {"url": url, "labels": {"__address__": "x"}},
        "labels  ": {"url": url, "labels": {"team-name": "x"}},
        "labels   ": {"url": url, "labels": {"env": 3}},
        "scheme": {"url": url, "scheme": "https"},
    }
    for case, body in cases.items():
        response = admin.post(TARGETS, json=body)
        assert response.status_code == 422, (case, response.text)
        assert any(field.startswith(case.strip()) for field in error_fields(response)), (
            case,
            response.json(),
        )
    assert admin.get(TARGETS).json() == []


def test_error_messages_say_what_is_wrong(admin: TestClient) -> None:
    create_orders(admin)

    def message(body: dict[str, Any]) -> str:
        response = admin.post(TARGETS, json=body)
        assert response.status_code == 422, response.text
        return str(response.json()["detail"][0]["msg"])

    url = "http://orders.internal/metrics"
    assert "not an http(s) URL" in message({"url": "ftp://x/metrics"})
    assert "credentials" in message({"url": "http://u:p@orders.internal/metrics"})
    assert "label '__meta'" in message({"url": url, "labels": {"__meta": "x"}})
    assert "longer than the interval" in message(
        {"url": url, "interval_seconds": 5, "timeout_seconds": 10}
    )


def test_an_update_is_checked_against_the_stored_values(admin: TestClient) -> None:
    create_orders(admin)
    target = add_target(admin, "http://orders.internal/metrics", interval_seconds=20)
    path = f"{TARGETS}/{target['id']}"

    too_long = admin.put(path, json={"timeout_seconds": 30})
    too_short = admin.put(path, json={"interval_seconds": 5})
    bad_labels = admin.put(path, json={"labels": {"__name__": "x"}})

    assert too_long.status_code == 422
    assert too_long.json()["detail"].startswith("timeout_seconds: the timeout (30 s)")
    assert too_short.status_code == 422
    assert too_short.json()["detail"].startswith("interval_seconds: ")
    assert bad_labels.status_code == 422
    assert error_fields(bad_labels) == ["labels"]
    assert settings_of(admin.get(path).json()) == settings_of(target)


def test_unknown_service_or_target_is_404_naming_it(admin: TestClient) -> None:
    body = {"url": "http://ghost.internal/metrics"}
    for response in (
        admin.get("/api/v1/services/ghost/scrape-targets"),
        admin.post("/api/v1/services/ghost/scrape-targets", json=body),
        admin.put("/api/v1/services/ghost/scrape-targets/1", json=body),
        admin.delete("/api/v1/services/ghost/scrape-targets/1"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "no service named 'ghost'"}
    create_orders(admin)
    for response in (
        admin.get(f"{TARGETS}/999"),
        admin.put(f"{TARGETS}/999", json=body),
        admin.delete(f"{TARGETS}/999"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "service 'orders' has no scrape target with id 999"}


def test_a_target_of_another_service_is_not_reachable_through_this_one(admin: TestClient) -> None:
    create_orders(admin)
    create_orders(admin, "payments")
    target = add_target(admin, "http://orders.internal/metrics")

    response = admin.delete(f"/api/v1/services/payments/scrape-targets/{target['id']}")

    assert response.status_code == 404
    assert len(admin.get(TARGETS).json()) == 1


# --- rights -------------------------------------------------------------------------------------


def test_reading_needs_a_credential(client: TestClient) -> None:
    assert client.get(TARGETS).status_code == 401
    assert client.post(TARGETS, json={"url": "http://x/metrics"}).status_code == 401


def test_a_read_only_token_reads_but_cannot_change_targets(admin: TestClient) -> None:
    create_orders(admin)
    target = add_target(admin, "http://orders.internal/metrics")
    reader = bearer(token_for(admin, "reader", ["read"]))
    path = f"{TARGETS}/{target['id']}"

    assert listed(admin, **reader) == [settings_of(target)]
    for response in (
        admin.post(TARGETS, json={"url": "http://other.internal/metrics"}, headers=reader),
        admin.put(path, json={"interval_seconds": 60}, headers=reader),
        admin.delete(path, headers=reader),
    ):
        assert response.status_code == 403
        assert "'deploy'" in response.json()["detail"]
    assert listed(admin) == [settings_of(target)]


def test_a_developer_adds_targets_and_is_named_in_the_audit_log(admin: TestClient) -> None:
    create_orders(admin)
    developer = bearer(token_for(admin, "dev", ["read", "deploy"]))

    response = admin.post(
        TARGETS, json={"url": "http://orders.internal/metrics"}, headers=developer
    )

    assert response.status_code == 201
    events = admin.get("/api/v1/audit", params={"action": "scrape_target."}).json()
    assert [(event["action"], event["actor"]) for event in events] == [
        ("scrape_target.create", "dev (token test)")
    ]


# --- status after real scrapes ---------------------------------------------------------------


def test_the_answers_show_the_scrape_status(admin: TestClient, app: FastAPI) -> None:
    server = MetricsServer()
    server.routes["/metrics"] = text_only(shop_registry())
    server.start()
    try:
        create_orders(admin)
        good = add_target(admin, f"{server.base}/metrics", interval_seconds=60)
        bad = add_target(admin, refused_url())
        scraper = Scraper(app.state.database, app.state.telemetry, "api-test")

        asyncio.run(scraper.scrape_due_once())
        # (a background scraper of the app, if it runs one, may have taken them first)
        deadline = time.monotonic() + 10
        while any(target["last_scrape_at"] is None for target in admin.get(TARGETS).json()):
            assert time.monotonic() < deadline, admin.get(TARGETS).json()
            time.sleep(0.1)
    finally:
        server.stop()

    targets = {target["id"]: target for target in admin.get(TARGETS).json()}
    up, down = targets[good["id"]], targets[bad["id"]]
    assert up["health"] == "up"
    assert up["last_error"] == ""
    assert up["last_samples"] == 12
    assert up["last_duration_ms"] > 0
    assert up["next_scrape_at"] > up["last_scrape_at"]
    assert down["health"] == "down"
    assert down["last_error"].startswith("cannot connect to 127.0.0.1:")
    assert down["last_samples"] == 0

    changed = admin.put(f"{TARGETS}/{bad['id']}", json={"url": f"{server.base}/other"})
    assert changed.json()["health"] == "unknown"  # a new URL starts over
    assert changed.json()["last_error"] == ""


def test_the_service_page_lists_its_targets(admin: TestClient) -> None:
    create_orders(admin)
    add_target(admin, "http://127.0.0.1:9/metrics", interval_seconds=15)
    page = admin.get("/services/orders")
    assert page.status_code == 200
    assert "http://127.0.0.1:9/metrics" in page.text
    assert "15 s" in page.text
    assert "unknown" in page.text

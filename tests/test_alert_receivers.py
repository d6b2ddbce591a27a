"""Receivers of services' alerts are changed and deleted through the API like Alertmanager's
receivers in its configuration: by name, by an admin, audited, and never out from under an
escalation policy that names them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import token_for

HOOK = {"name": "shop-hook", "kind": "webhook", "url": "https://hooks.example/one"}
PAGER = {"name": "shop-pager", "kind": "pagerduty", "secret": "routing-key-0123456789"}


def test_a_receiver_is_replaced_by_name_and_keeps_its_secret(admin: TestClient) -> None:
    assert admin.post("/api/v1/alert-receivers", json=HOOK).status_code == 201
    assert admin.post("/api/v1/alert-receivers", json=PAGER).status_code == 201
    before = admin.get("/api/v1/alert-receivers/shop-pager").json()

    changed = {**HOOK, "url": "https://hooks.example/two", "group_wait": "10s", "service": "shop"}
    replaced = admin.put("/api/v1/alert-receivers/shop-hook", json=changed)
    assert replaced.status_code == 200, replaced.text
    shown = admin.get("/api/v1/alert-receivers/shop-hook").json()
    assert shown["target"] == replaced.json()["target"] != ""
    assert "hooks.example" in shown["target"]
    assert (shown["group_wait"], shown["service"]) == ("10s", "shop")

    regrouped = admin.put(
        "/api/v1/alert-receivers/shop-pager", json={**PAGER, "secret": "", "group_by": ["..."]}
    )
    assert regrouped.status_code == 200, regrouped.text
    assert regrouped.json()["secret"] == before["secret"] != ""
    assert regrouped.json()["group_by"] == ["..."]
    actions = [event["action"] for event in admin.get("/api/v1/audit?action=receiver.").json()]
    assert actions.count("receiver.update") == 2


def test_bad_replacements_are_refused_and_change_nothing(admin: TestClient) -> None:
    assert admin.post("/api/v1/alert-receivers", json=HOOK).status_code == 201
    before = admin.get("/api/v1/alert-receivers/shop-hook").json()
    renamed = admin.put("/api/v1/alert-receivers/shop-hook", json={**HOOK, "name": "other"})
    assert renamed.status_code == 422 and "name" in renamed.text
    no_url = admin.put("/api/v1/alert-receivers/shop-hook", json={**HOOK, "url": "ftp://x"})
    assert no_url.status_code == 422 and "url" in no_url.text
    bad_wait = admin.put("/api/v1/alert-receivers/shop-hook", json={**HOOK, "group_interval": "0s"})
    assert bad_wait.status_code == 422 and "group_interval" in bad_wait.text
    missing = admin.put("/api/v1/alert-receivers/nobody", json={**HOOK, "name": "nobody"})
    assert missing.status_code == 404
    assert admin.get("/api/v1/alert-receivers/shop-hook").json() == before


def test_only_admins_change_receivers(admin: TestClient) -> None:
    assert admin.post("/api/v1/alert-receivers", json=HOOK).status_code == 201
    token = token_for(admin, "dev", ["read", "deploy"])
    headers = {"Authorization": f"Bearer {token}"}
    assert admin.get("/api/v1/alert-receivers/shop-hook", headers=headers).status_code == 200
    changed = {**HOOK, "url": "https://evil.example/"}
    assert (
        admin.put("/api/v1/alert-receivers/shop-hook", json=changed, headers=headers).status_code
        == 403
    )
    assert admin.delete("/api/v1/alert-receivers/shop-hook", headers=headers).status_code == 403
    assert [r["name"] for r in admin.get("/api/v1/alert-receivers").json()] == ["shop-hook"]


def test_a_receiver_an_escalation_policy_names_is_not_deleted(admin: TestClient) -> None:
    assert admin.post("/api/v1/teams", json={"name": "team-shop"}).status_code == 201
    assert admin.post("/api/v1/alert-receivers", json=HOOK).status_code == 201
    policy = {"levels": [{"after_minutes": 5, "receivers": ["shop-hook"]}]}
    path = "/api/v1/teams/team-shop/escalation-policy"
    assert admin.put(path, json=policy).status_code == 200

    refused = admin.delete("/api/v1/alert-receivers/shop-hook")
    assert refused.status_code == 409
    assert "team-shop" in refused.json()["detail"]
    assert admin.get("/api/v1/alert-receivers/shop-hook").status_code == 200

    assert admin.put(path, json={"levels": [{"after_minutes": 5, "team": True}]}).status_code == 200
    deleted = admin.delete("/api/v1/alert-receivers/shop-hook")
    assert deleted.status_code == 200 and deleted.json()["name"] == "shop-hook"
    assert admin.get("/api/v1/alert-receivers").json() == []
    assert admin.get("/api/v1/alert-receivers/shop-hook").status_code == 404
    assert admin.delete("/api/v1/alert-receivers/shop-hook").status_code == 404
    actions = [event["action"] for event in admin.get("/api/v1/audit?action=receiver.").json()]
    assert "receiver.delete" in actions

"""The catalog HTTP API: services and teams through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import token_for

ORDERS: dict[str, Any] = {
    "name": "orders",
    "title": "Orders service",
    "description": "Takes orders from the storefront",
    "tier": "1",
    "system": "webshop",
    "repository_url": "https://github.com/shop-example/orders",
    "runbook_url": "https://wiki.shop.example/runbooks/orders",
    "oncall_contact": "#orders-oncall",
    "owners": ["payments"],
    "depends_on": ["payments-gateway", "resource:orders-db"],
    "tags": ["java", "kafka"],
    "links": [{"url": "https://grafana.shop.example/d/orders", "title": "Dashboard"}],
}


def create_team(admin: TestClient, name: str, **fields: Any) -> dict[str, Any]:
    response = admin.post("/api/v1/teams", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_service(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/services", json=ORDERS | fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_fields(response: Any) -> list[str]:
    """The field names FastAPI's 422 body points at (its `loc` without the leading 'body')."""
    return [".".join(str(part) for part in error["loc"][1:]) for error in response.json()["detail"]]


# --- services: create, read, update, delete -------------------------------------------------------


def test_create_and_read_a_service(admin: TestClient) -> None:
    create_team(admin, "payments", title="Payments")

    created = create_service(admin)

    assert created["name"] == "orders"
    assert created["owners"] == [
        {
            "ref": "group:payments",
            "kind": "group",
            "name": "payments",
            "exists": True,
            "url": "/teams/payments",
        }
    ]
    assert created["unowned"] is False
    assert created["depends_on"] == ["component:payments-gateway", "resource:orders-db"]
    assert created["links"] == [
        {
            "url": "https://grafana.shop.example/d/orders",
            "title": "Dashboard",
            "icon": "",
            "type": "",
        }
    ]
    fetched = admin.get("/api/v1/services/orders")
    assert fetched.status_code == 200
    assert fetched.json() == created
    assert [service["name"] for service in admin.get("/api/v1/services").json()] == ["orders"]


def test_unowned_services_are_flagged(admin: TestClient) -> None:
    create_team(admin, "payments")
    create_service(admin, name="owned")
    create_service(admin, name="orphan", owners=["group:disbanded-team"])
    create_service(admin, name="by-a-person", owners=["user:admin"])

    services = {item["name"]: item for item in admin.get("/api/v1/services").json()}

    assert services["owned"]["unowned"] is False
    assert services["by-a-person"]["unowned"] is False
    assert services["by-a-person"]["owners"][0]["url"] == "/users/admin"
    assert services["orphan"]["unowned"] is True
    assert services["orphan"]["owners"] == [
        {
            "ref": "group:disbanded-team",
            "kind": "group",
            "name": "disbanded-team",
            "exists": False,
            "url": None,
        }
    ]


def test_unresolved_dependencies_are_shown_and_dependents_listed(admin: TestClient) -> None:
    create_service(admin, name="orders", depends_on=["payments-gateway", "resource:orders-db"])
    create_service(admin, name="payments-gateway", depends_on=[])
    create_service(admin, name="storefront", depends_on=["component:orders"])

    orders = admin.get("/api/v1/services/orders").json()

    assert [(dep["ref"], dep["exists"], dep["url"]) for dep in orders["dependencies"]] == [
        ("component:payments-gateway", True, "/services/payments-gateway"),
        ("resource:orders-db", False, None),
    ]
    assert orders["dependents"] == ["storefront"]
    assert admin.get("/api/v1/services/payments-gateway").json()["dependents"] == ["orders"]


def test_update_replaces_the_fields_sent_and_keeps_the_others(admin: TestClient) -> None:
    created = create_service(admin)

    response = admin.put(
        "/api/v1/services/orders",
        json={"name": "orders", "owners": ["payments", "user:admin"], "lifecycle": "deprecated"},
    )

    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["lifecycle"] == "deprecated"
    assert [owner["ref"] for owner in updated["owners"]] == ["group:payments", "user:admin"]
    assert updated["title"] == created["title"]
    assert updated["tags"] == created["tags"]
    assert updated["updated_at"] > created["updated_at"]


def test_an_update_that_changes_nothing_keeps_updated_at(admin: TestClient) -> None:
    created = create_service(admin)

    response = admin.put("/api/v1/services/orders", json=ORDERS)

    assert response.status_code == 200
    assert response.json()["updated_at"] == created["updated_at"]


def test_rename_and_delete(admin: TestClient) -> None:
    create_service(admin)

    renamed = admin.put("/api/v1/services/orders", json=ORDERS | {"name": "order-service"})
    assert renamed.status_code == 200
    assert admin.get("/api/v1/services/orders").status_code == 404

    deleted = admin.delete("/api/v1/services/order-service")
    assert deleted.status_code == 204
    assert admin.get("/api/v1/services").json() == []


def test_search_and_owner_filters(admin: TestClient) -> None:
    create_team(admin, "payments")
    create_team(admin, "checkout")
    create_service(admin, name="orders", tags=["kafka"], owners=["payments"])
    create_service(
        admin, name="storefront", description="The Shop Website", tags=[], owners=["checkout"]
    )

    def names(**params: str) -> list[str]:
        response = admin.get("/api/v1/services", params=params)
        assert response.status_code == 200, response.text
        return [service["name"] for service in response.json()]

    assert names(search="KAFKA") == ["orders"]
    assert names(search="shop website") == ["storefront"]
    assert names(owner="checkout") == ["storefront"]
    assert names(owner="group:payments") == ["orders"]
    assert names(owner="nobody") == []


# --- services: validation and errors ------------------------------------------------------------


def test_validation_errors_name_the_field(admin: TestClient) -> None:
    cases = {
        "name": ORDERS | {"name": "Orders Service!"},
        "repository_url": ORDERS | {"repository_url": "git@github.com:shop/orders.git"},
        "owners.0": ORDERS | {"owners": ["payments team"]},
        "depends_on.1": ORDERS | {"depends_on": ["payments", "component:"]},
        "links.0.url": ORDERS | {"links": [{"url": "javascript:alert(1)", "title": "x"}]},
        "tier": ORDERS | {"tier": "x" * 51},
        "owners": {key: value for key, value in ORDERS.items() if key != "owners"},
    }
    for field, body in cases.items():
        response = admin.post("/api/v1/services", json=body)
        assert response.status_code == 422, (field, response.text)
        assert field in error_fields(response), (field, response.json())
    assert admin.get("/api/v1/services").json() == []


def test_a_service_needs_an_owner(admin: TestClient) -> None:
    response = admin.post("/api/v1/services", json=ORDERS | {"owners": []})

    assert response.status_code == 422
    assert error_fields(response) == ["owners"]
    assert "at least 1" in response.json()["detail"][0]["msg"]


def test_duplicate_name_is_a_conflict(admin: TestClient) -> None:
    create_service(admin)
    create_service(admin, name="payments-gateway")

    duplicate = admin.post("/api/v1/services", json=ORDERS | {"name": "ORDERS"})
    rename_onto = admin.put("/api/v1/services/payments-gateway", json=ORDERS | {"name": "orders"})

    assert duplicate.status_code == 409
    assert duplicate.json()["detail"] == "name: a service named 'orders' already exists"
    assert rename_onto.status_code == 409
    assert len(admin.get("/api/v1/services").json()) == 2


def test_unknown_service_is_404_naming_it(admin: TestClient) -> None:
    for response in (
        admin.get("/api/v1/services/ghost"),
        admin.put("/api/v1/services/ghost", json=ORDERS),
        admin.delete("/api/v1/services/ghost"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "no service named 'ghost'"}


def test_malformed_owner_filter_is_422(admin: TestClient) -> None:
    response = admin.get("/api/v1/services", params={"owner": "group:"})

    assert response.status_code == 422
    assert response.json()["detail"].startswith("owner: malformed entity reference")


# --- rights -------------------------------------------------------------------------------------


def test_reading_needs_a_credential(client: TestClient) -> None:
    response = client.get("/api/v1/services")

    assert response.status_code == 401


def test_a_read_only_token_reads_but_cannot_write_services(admin: TestClient) -> None:
    create_service(admin)
    reader = bearer(token_for(admin, "reader", ["read"]))

    assert admin.get("/api/v1/services/orders", headers=reader).status_code == 200
    for response in (
        admin.post("/api/v1/services", json=ORDERS | {"name": "other"}, headers=reader),
        admin.put("/api/v1/services/orders", json=ORDERS, headers=reader),
        admin.delete("/api/v1/services/orders", headers=reader),
    ):
        assert response.status_code == 403
        assert "'deploy'" in response.json()["detail"]


def test_a_developer_describes_services_but_not_teams(admin: TestClient) -> None:
    developer = bearer(token_for(admin, "dev", ["read", "deploy"]))

    service = admin.post("/api/v1/services", json=ORDERS, headers=developer)
    team = admin.post("/api/v1/teams", json={"name": "payments"}, headers=developer)

    assert service.status_code == 201
    assert team.status_code == 403
    assert "'admin'" in team.json()["detail"]
    audit = admin.get("/api/v1/audit", params={"action": "service."}).json()
    assert [(event["action"], event["target"]) for event in audit] == [("service.create", "orders")]
    assert audit[0]["actor"] == "dev (token test)"


# --- teams --------------------------------------------------------------------------------------


def test_team_crud(admin: TestClient) -> None:
    create_team(admin, "engineering", type="department")
    created = create_team(
        admin,
        "payments",
        title="Payments",
        email="payments@shop.example",
        parent="engineering",
        members=["admin", "user:jdoe"],
        links=[{"url": "https://wiki.shop.example/payments", "title": "Wiki"}],
    )
    create_service(admin, owners=["payments"])

    assert created["parent"] == "group:engineering"
    assert [(m["name"], m["exists"], m["url"]) for m in created["members"]] == [
        ("admin", True, "/users/admin"),
        ("jdoe", False, None),
    ]
    team = admin.get("/api/v1/teams/payments").json()
    assert team["services"] == ["orders"]
    assert admin.get("/api/v1/users/admin").json()["teams"] == ["payments"]

    updated = admin.put("/api/v1/teams/payments", json={"name": "payments", "members": ["jdoe"]})
    assert updated.status_code == 200
    assert [member["name"] for member in updated.json()["members"]] == ["jdoe"]
    assert updated.json()["email"] == "payments@shop.example"

    assert [team["name"] for team in admin.get("/api/v1/teams").json()] == [
        "engineering",
        "payments",
    ]
    assert admin.delete("/api/v1/teams/engineering").status_code == 204
    assert admin.get("/api/v1/teams/engineering").status_code == 404


def test_a_team_that_owns_services_cannot_be_deleted(admin: TestClient) -> None:
    create_team(admin, "payments")
    create_service(admin, owners=["payments"])

    response = admin.delete("/api/v1/teams/payments")

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "team 'payments' still owns orders: give them another owner first"
    )
    assert admin.get("/api/v1/teams/payments").status_code == 200


def test_team_errors(admin: TestClient) -> None:
    create_team(admin, "payments")

    duplicate = admin.post("/api/v1/teams", json={"name": "payments"})
    bad_email = admin.post("/api/v1/teams", json={"name": "ops", "email": "ops at shop"})
    missing = admin.get("/api/v1/teams/ghost")

    assert duplicate.status_code == 409
    assert duplicate.json()["detail"] == "name: a team named 'payments' already exists"
    assert bad_email.status_code == 422
    assert error_fields(bad_email) == ["email"]
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no team named 'ghost'"}


def test_writes_are_audited(admin: TestClient) -> None:
    create_team(admin, "payments")
    create_service(admin)
    admin.put("/api/v1/services/orders", json={"name": "orders", "owners": ["payments"]})
    admin.delete("/api/v1/services/orders")

    events = admin.get("/api/v1/audit").json()

    actions = [(event["action"], event["target"]) for event in reversed(events)]
    assert actions[-4:] == [
        ("team.create", "payments"),
        ("service.create", "orders"),
        ("service.update", "orders"),
        ("service.delete", "orders"),
    ]
    assert events[1]["details"] == {"fields": ["name", "owners"]}


def test_values_set_in_fullcycle_are_kept_in_annotations_for_export(admin: TestClient) -> None:
    created = create_service(admin, owners=["payments", "user:admin"])

    assert created["annotations"] == {
        "fullcycle.dev/repository": "https://github.com/shop-example/orders",
        "fullcycle.dev/runbook": "https://wiki.shop.example/runbooks/orders",
        "fullcycle.dev/oncall": "#orders-oncall",
        "fullcycle.dev/tier": "1",
        "fullcycle.dev/co-owners": "user:admin",
    }

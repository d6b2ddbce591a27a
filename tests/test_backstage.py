"""Backstage catalog files through the real app: import of files shaped like real repositories'
catalog-info.yaml, all-or-nothing errors located by document, field and line, idempotent
re-import, update in place, and an export that imports back to the same catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from fullcycle.app import create_app
from fullcycle.settings import Settings
from tests.conftest import ADMIN_TOKEN, token_for

FIXTURES = Path(__file__).parent / "fixtures" / "backstage"
YAML = {"Content-Type": "application/yaml"}
TABLES = (
    "services",
    "service_owners",
    "service_dependencies",
    "teams",
    "team_members",
    "users",
    "systems",
    "apis",
    "audit_events",
)
SHOP_ENTITIES = [
    "group:engineering",
    "group:payments",
    "group:checkout",
    "user:jdoe",
    "user:asmith",
    "system:webshop",
    "api:orders-api",
    "api:payments-api",
    "component:orders",
    "component:payments",
    "component:storefront",
]


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def import_text(client: TestClient, body: str, **params: Any) -> Any:
    return client.post("/api/v1/catalog/import", content=body, headers=YAML, params=params)


def import_ok(client: TestClient, body: str, **params: Any) -> dict[str, Any]:
    response = import_text(client, body, **params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def row_counts(client: TestClient) -> dict[str, int]:
    """Rows per catalog table, read from the database itself."""
    engine = client.app.state.database.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in TABLES
        }


def catalog_state(client: TestClient) -> dict[str, Any]:
    """Everything the API shows about the catalog, without timestamps."""

    def without_times(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {key: value for key, value in item.items() if key not in ("created_at", "updated_at")}
            for item in items
        ]

    return {
        area: without_times(client.get(f"/api/v1/{area}").json())
        for area in ("services", "teams", "systems", "apis", "users")
    }


def audit_actions(client: TestClient) -> list[tuple[str, str]]:
    events = client.get("/api/v1/audit", params={"limit": 1000}).json()
    return [(event["action"], event["target"]) for event in reversed(events)]


# --- a real-world file --------------------------------------------------------------------------


def test_import_of_a_multi_document_catalog(admin: TestClient) -> None:
    report = import_ok(admin, fixture("shop-catalog.yaml"), source="shop-catalog.yaml")

    assert report["source"] == "shop-catalog.yaml"
    assert report["dry_run"] is False
    assert report["created"] == SHOP_ENTITIES
    assert report["updated"] == report["unchanged"] == []
    assert [(item["document"], item["kind"], item["name"]) for item in report["skipped"]] == [
        (1, "Location", "shop-catalog"),
        (2, "Domain", "retail"),
        (14, "Resource", "orders-db"),
        (15, "Template", "spring-boot-service"),
    ]
    assert report["skipped"][0]["reason"] == (
        "a Location points at other catalog files: import those files themselves"
    )
    assert report["unresolved"] == [
        {"entity": "system:webshop", "field": "spec.domain", "ref": "domain:retail"},
        {"entity": "component:orders", "field": "spec.dependsOn", "ref": "resource:orders-db"},
    ]


def test_components_map_what_people_write_to_fullcycle_fields(admin: TestClient) -> None:
    import_ok(admin, fixture("shop-catalog.yaml"))

    orders = admin.get("/api/v1/services/orders").json()
    payments = admin.get("/api/v1/services/payments").json()
    storefront = admin.get("/api/v1/services/storefront").json()

    assert orders["title"] == "Orders service"
    assert orders["description"].startswith("Accepts orders from the storefront")
    assert orders["repository_url"] == "https://github.com/shop-example/orders"
    assert orders["runbook_url"] == "https://shop.example/wiki/runbooks/orders"
    assert orders["oncall_contact"] == "pagerduty.com/service-id: PX1ORDR"
    assert orders["tier"] == "1"
    assert orders["system"] == "webshop"
    assert orders["tags"] == ["java", "kafka"]
    assert orders["labels"] == {"tier": "1"}
    assert orders["annotations"] == {
        "github.com/project-slug": "shop-example/orders",
        "backstage.io/techdocs-ref": "dir:.",
        "pagerduty.com/service-id": "PX1ORDR",
        "prometheus.io/rule": 'sum(rate(http_requests_total{service="orders"}[5m]))',
    }
    assert orders["provides_apis"] == ["api:orders-api"]
    assert orders["consumes_apis"] == ["api:payments-api"]
    assert [(dep["ref"], dep["exists"]) for dep in orders["dependencies"]] == [
        ("component:payments", True),
        ("resource:orders-db", False),
    ]
    assert orders["dependents"] == ["storefront"]
    assert orders["unowned"] is False

    assert payments["repository_url"] == "https://gitlab.com/shop-example/payments"
    assert payments["oncall_contact"] == "opsgenie.com/team: payments-oncall"
    assert payments["tier"] == "0"
    assert payments["owners"][0]["ref"] == "group:payments"
    assert payments["system"] == "webshop"

    assert storefront["type"] == "website"
    assert storefront["lifecycle"] == "experimental"
    assert storefront["repository_url"] == ("https://github.com/shop-example/storefront/tree/main/")
    assert storefront["runbook_url"] == "https://shop.example/wiki/runbooks/storefront"
    assert storefront["oncall_contact"] == "#checkout-oncall on Slack"
    assert storefront["owners"] == [
        {
            "ref": "user:asmith",
            "kind": "user",
            "name": "asmith",
            "exists": True,
            "url": "/users/asmith",
        }
    ]


def test_groups_users_systems_and_apis_are_imported(admin: TestClient) -> None:
    import_ok(admin, fixture("shop-catalog.yaml"))

    payments = admin.get("/api/v1/teams/payments").json()
    checkout = admin.get("/api/v1/teams/checkout").json()
    jdoe = admin.get("/api/v1/users/jdoe").json()
    systems = admin.get("/api/v1/systems").json()
    apis = {api["name"]: api for api in admin.get("/api/v1/apis").json()}

    assert payments["title"] == "Payments Team"
    assert payments["email"] == "payments@shop.example"
    assert payments["parent"] == "group:engineering"
    assert payments["annotations"] == {"slack.com/channel": "team-payments"}
    assert [(m["name"], m["exists"]) for m in payments["members"]] == [
        ("jdoe", True),
        ("asmith", True),
    ]
    assert payments["services"] == ["orders", "payments"]
    assert checkout["parent"] == "group:engineering"
    assert [member["name"] for member in checkout["members"]] == ["asmith"]
    assert jdoe["display_name"] == "Jane Doe"
    assert jdoe["email"] == "jane.doe@shop.example"
    assert jdoe["teams"] == ["payments"]
    assert jdoe["can_log_in"] is False
    assert [(s["name"], s["owner"], s["domain"]) for s in systems] == [
        ("webshop", "group:engineering", "retail")
    ]
    assert systems[0]["services"] == ["orders", "payments", "storefront"]
    assert apis["orders-api"]["definition"] == (
        "$text: https://github.com/shop-example/orders/blob/main/openapi.yaml"
    )
    assert apis["orders-api"]["provided_by"] == ["orders"]
    assert apis["orders-api"]["consumed_by"] == ["storefront"]
    assert apis["payments-api"]["type"] == "grpc"
    assert apis["payments-api"]["definition"].startswith('syntax = "proto3";\nservice Payments')


def test_imported_users_log_in_only_once_an_admin_sets_a_password(admin: TestClient) -> None:
    import_ok(admin, fixture("shop-catalog.yaml"))
    login = {"username": "jdoe", "password": "a-new-password-123", "scopes": ["read"]}

    before = admin.post("/api/v1/auth/login", json=login, headers={"Authorization": ""})
    admin.patch("/api/v1/users/jdoe", json={"password": "a-new-password-123"})
    after = admin.post("/api/v1/auth/login", json=login, headers={"Authorization": ""})

    assert before.status_code == 401
    assert after.status_code == 201


def test_import_never_changes_an_existing_users_password_or_rights(admin: TestClient) -> None:
    token_for(admin, "jdoe", ["read"], is_admin=True, can_deploy=False)

    import_ok(admin, fixture("shop-catalog.yaml"))

    jdoe = admin.get("/api/v1/users/jdoe").json()
    assert (jdoe["is_admin"], jdoe["can_deploy"], jdoe["can_log_in"]) == (True, False, True)
    assert jdoe["display_name"] == "Jane Doe"
    login = admin.post(
        "/api/v1/auth/login",
        json={"username": "jdoe", "password": "pw-jdoe-123456", "scopes": ["read"]},
        headers={"Authorization": ""},
    )
    assert login.status_code == 201


def test_user_member_of_adds_them_to_teams_that_exist(admin: TestClient) -> None:
    admin.post("/api/v1/teams", json={"name": "sre", "members": ["admin"]})
    user_file = """
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: kim
spec:
  profile: {displayName: Kim Lee}
  memberOf: [sre, group:ghost-team]
"""
    report = import_ok(admin, user_file)

    assert report["created"] == ["user:kim"]
    assert report["updated"] == ["group:sre"]
    assert report["unresolved"] == [
        {"entity": "user:kim", "field": "spec.memberOf", "ref": "group:ghost-team"}
    ]
    sre = admin.get("/api/v1/teams/sre").json()
    assert [member["name"] for member in sre["members"]] == ["admin", "kim"]
    assert import_ok(admin, user_file)["unchanged"] == ["user:kim"]


# --- errors: all or nothing -----------------------------------------------------------------------


def test_broken_yaml_names_document_line_and_column_and_changes_nothing(
    admin: TestClient,
) -> None:
    import_ok(admin, fixture("shop-catalog.yaml"))
    before = row_counts(admin)

    response = import_text(admin, fixture("broken-yaml.yaml"))

    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [
        {
            "document": 2,
            "kind": "",
            "name": "",
            "field": "",
            "line": 16,
            "column": 4,
            "message": "broken YAML: expected <block end>, but found '<block mapping start>' "
            "(while parsing a block mapping)",
        }
    ]
    assert body["detail"].startswith(
        "the catalog file has 1 problem, nothing was imported: document 2, line 16, column 4"
    )
    assert row_counts(admin) == before


def test_a_component_without_owner_fails_the_whole_file(admin: TestClient) -> None:
    before = row_counts(admin)

    response = import_text(admin, fixture("missing-owner.yaml"))

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "document": 3,
            "kind": "Component",
            "name": "label-printer",
            "field": "spec.owner",
            "line": 26,
            "column": None,
            "message": "spec.owner is required: the group (team) or user that owns this component",
        }
    ]
    assert row_counts(admin) == before
    assert admin.get("/api/v1/teams/logistics").status_code == 404
    assert admin.get("/api/v1/services/shipping").status_code == 404


def test_every_problem_in_a_file_is_reported_with_its_place(admin: TestClient) -> None:
    before = row_counts(admin)

    response = import_text(admin, fixture("invalid-entities.yaml"))

    assert response.status_code == 422
    problems = [
        (error["document"], error["name"], error["field"], error["line"], error["message"])
        for error in response.json()["errors"]
    ]
    assert problems == [
        (1, "search", "spec.dependsOn", 8, "spec.dependsOn must be a list, not text"),
        (
            2,
            "Search Indexer",
            "metadata.name",
            13,
            "metadata.name 'Search Indexer' is invalid: use letters, digits, '.', '_' or '-' "
            "(at most 63), starting with a letter or digit",
        ),
        (
            3,
            "recommendations",
            "apiVersion",
            18,
            "apiVersion 'backstage.io/v2' is not one fullcycle reads: "
            "backstage.io/v1alpha1 or backstage.io/v1beta1",
        ),
        (
            4,
            "search",
            "metadata.name",
            29,
            "metadata.name: Component 'search' is defined twice, first in document 1",
        ),
        (5, "", "metadata.name", 36, "metadata.name is required"),
        (
            6,
            "reviews",
            "spec.owner",
            51,
            "spec.owner: malformed entity reference 'payments team'; "
            "expected [kind:][namespace/]name",
        ),
        (
            6,
            "reviews",
            "metadata.links[0].url",
            47,
            "metadata.links[0].url: 'ftp://files.shop.example/reviews' is not an http(s) URL",
        ),
    ]
    assert row_counts(admin) == before


def test_wrong_types_inside_annotations_and_definitions(admin: TestClient) -> None:
    body = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: search
  annotations:
    github.com/project-slug:
      org: shop-example
  tags: search
spec:
  owner: payments
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: search-api
spec:
  type: openapi
  definition:
    openapi: 3.0.0
"""
    response = import_text(admin, body)

    assert response.status_code == 422
    assert [(e["document"], e["field"], e["line"]) for e in response.json()["errors"]] == [
        (1, "metadata.annotations[github.com/project-slug]", 6),
        (1, "metadata.tags", 8),
        (2, "spec.definition", 18),
    ]


def test_unknown_references_are_kept_and_reported_not_errors(admin: TestClient) -> None:
    report = import_ok(admin, fixture("unknown-dependency.yaml"))

    assert report["created"] == ["component:invoicing"]
    assert report["unresolved"] == [
        {"entity": "component:invoicing", "field": "spec.owner", "ref": "group:finance"},
        {
            "entity": "component:invoicing",
            "field": "spec.dependsOn",
            "ref": "component:legacy-billing",
        },
        {
            "entity": "component:invoicing",
            "field": "spec.dependsOn",
            "ref": "resource:invoices-bucket",
        },
    ]
    invoicing = admin.get("/api/v1/services/invoicing").json()
    assert invoicing["unowned"] is True
    assert [(dep["ref"], dep["exists"]) for dep in invoicing["dependencies"]] == [
        ("component:legacy-billing", False),
        ("resource:invoices-bucket", False),
    ]


# --- re-import, update in place, dry run ----------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(admin: TestClient) -> None:
    import_ok(admin, fixture("shop-catalog.yaml"))
    services_before = admin.get("/api/v1/services").json()
    teams_before = admin.get("/api/v1/teams").json()
    actions_before = audit_actions(admin)

    report = import_ok(admin, fixture("shop-catalog.yaml"))

    assert report["unchanged"] == SHOP_ENTITIES
    assert report["created"] == report["updated"] == []
    assert admin.get("/api/v1/services").json() == services_before
    assert admin.get("/api/v1/teams").json() == teams_before
    assert audit_actions(admin) == [*actions_before, ("catalog.import", "api")]
    last = admin.get("/api/v1/audit", params={"limit": 1}).json()[0]
    assert last["details"] == {
        "created": 0,
        "updated": 0,
        "unchanged": 11,
        "skipped": 4,
        "unresolved": 2,
    }


def test_a_changed_file_updates_in_place(admin: TestClient) -> None:
    original = fixture("shop-catalog.yaml")
    import_ok(admin, original)
    counts_before = row_counts(admin)
    storefront_before = admin.get("/api/v1/services/storefront").json()
    orders_before = admin.get("/api/v1/services/orders").json()
    changed = (
        original.replace("lifecycle: experimental", "lifecycle: production")
        .replace("pagerduty.com/service-id: PX1ORDR", "pagerduty.com/service-id: PX2ORDR")
        .replace("  members: [jdoe]\n", "  members: []\n")
    )

    report = import_ok(admin, changed)

    assert report["updated"] == ["component:orders", "component:storefront"]
    assert "group:payments" in report["unchanged"]
    storefront = admin.get("/api/v1/services/storefront").json()
    orders = admin.get("/api/v1/services/orders").json()
    assert storefront["lifecycle"] == "production"
    assert storefront["created_at"] == storefront_before["created_at"]
    assert storefront["updated_at"] > storefront_before["updated_at"]
    assert orders["oncall_contact"] == "pagerduty.com/service-id: PX2ORDR"
    assert orders["annotations"]["pagerduty.com/service-id"] == "PX2ORDR"
    assert orders["updated_at"] > orders_before["updated_at"]
    # jdoe is still a member of payments: her User entity names it in spec.memberOf.
    payments = admin.get("/api/v1/teams/payments").json()
    assert [member["name"] for member in payments["members"]] == ["jdoe", "asmith"]
    counts_after = row_counts(admin)
    assert counts_after.pop("audit_events") == counts_before.pop("audit_events") + 3
    assert counts_after == counts_before
    assert audit_actions(admin)[-3:] == [
        ("service.update", "orders"),
        ("service.update", "storefront"),
        ("catalog.import", "api"),
    ]


def test_removing_a_member_from_a_group_updates_the_team(admin: TestClient) -> None:
    original = fixture("shop-catalog.yaml")
    import_ok(admin, original)
    without_asmith = original.replace("    - group:default/payments\n", "")

    report = import_ok(admin, without_asmith)

    assert report["updated"] == ["group:payments"]
    members = admin.get("/api/v1/teams/payments").json()["members"]
    assert [member["name"] for member in members] == ["jdoe"]


def test_dry_run_reports_what_would_change_and_writes_nothing(admin: TestClient) -> None:
    before = row_counts(admin)

    report = import_ok(admin, fixture("shop-catalog.yaml"), dry_run="true")

    assert report["dry_run"] is True
    assert report["created"] == SHOP_ENTITIES
    assert len(report["unresolved"]) == 2
    assert row_counts(admin) == before


# --- uploads and rights ---------------------------------------------------------------------------


def test_multipart_upload_names_the_file_as_source(admin: TestClient) -> None:
    files = {"file": ("catalog-info.yaml", fixture("unknown-dependency.yaml"), "application/yaml")}

    response = admin.post("/api/v1/catalog/import", files=files)

    assert response.status_code == 200, response.text
    assert response.json()["source"] == "catalog-info.yaml"
    assert audit_actions(admin)[-1] == ("catalog.import", "catalog-info.yaml")


def test_bodies_that_are_not_yaml_text_are_refused(admin: TestClient) -> None:
    as_json = admin.post(
        "/api/v1/catalog/import", content="{}", headers={"Content-Type": "application/json"}
    )
    not_utf8 = admin.post(
        "/api/v1/catalog/import", content=b"kind: \xff\xfe", headers={"Content-Type": "text/yaml"}
    )
    no_file = admin.post("/api/v1/catalog/import", files={"other": ("x.yaml", "a: 1")})

    assert as_json.status_code == 415
    assert "application/yaml" in as_json.json()["detail"]
    assert not_utf8.status_code == 422
    assert not_utf8.json()["detail"] == (
        "the catalog file is not UTF-8 text (bad byte at offset 6)"
    )
    assert no_file.status_code == 422
    assert "'file'" in no_file.json()["detail"]


def test_import_needs_admin_and_export_needs_read(admin: TestClient) -> None:
    developer = {"Authorization": f"Bearer {token_for(admin, 'dev', ['read', 'deploy'])}"}
    before = row_counts(admin)

    refused = admin.post(
        "/api/v1/catalog/import",
        content=fixture("shop-catalog.yaml"),
        headers=YAML | developer,
    )
    exported = admin.get("/api/v1/catalog/export", headers=developer)

    assert refused.status_code == 403
    assert "'admin'" in refused.json()["detail"]
    assert row_counts(admin) == before
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/yaml")


# --- export -------------------------------------------------------------------------------------


def test_export_imports_back_to_the_same_catalog(settings: Settings, tmp_path: Path) -> None:
    # One process holds one embedded telemetry engine, so the two catalogs run one after the
    # other rather than side by side.
    with TestClient(create_app(settings)) as admin:
        admin.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        exported, original = _build_and_export_a_catalog(admin)
    copy_settings = Settings(
        data_dir=tmp_path / "copy",
        database_url=f"sqlite:///{tmp_path / 'copy.db'}",
        admin_token=ADMIN_TOKEN,
        port=0,
    )
    with TestClient(create_app(copy_settings)) as copy:
        copy.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        import_ok(copy, exported)
        assert catalog_state(copy) == original
        assert copy.get("/api/v1/catalog/export").text == exported


def _build_and_export_a_catalog(admin: TestClient) -> tuple[str, object]:
    import_ok(admin, fixture("shop-catalog.yaml"))
    import_ok(admin, fixture("unknown-dependency.yaml"))
    created = admin.post(
        "/api/v1/services",
        json={
            "name": "recommendations",
            "description": "Suggests products.\nTrained nightly.",
            "owners": ["checkout", "user:jdoe"],
            "tier": "2",
            "runbook_url": "https://shop.example/wiki/runbooks/recommendations",
            "depends_on": ["orders"],
            "links": [{"url": "https://shop.example/recs", "title": "Docs", "type": "docs"}],
        },
    )
    assert created.status_code == 201, created.text
    exported = admin.get("/api/v1/catalog/export").text
    entity_count = exported.count("\n---\n")

    again = import_ok(admin, exported)
    assert again["created"] == again["updated"] == []
    assert len(again["unchanged"]) == entity_count

    return exported, catalog_state(admin)


def test_export_is_backstage_yaml(admin: TestClient) -> None:
    import_ok(admin, fixture("shop-catalog.yaml"))

    exported = admin.get("/api/v1/catalog/export").text

    assert exported.startswith("# fullcycle catalog export")
    orders = exported[exported.index("  name: orders\n") :].split("\n---\n")[0]
    assert "kind: Component" in exported
    assert "    github.com/project-slug: shop-example/orders\n" in orders
    assert "  owner: group:payments\n" in orders
    assert "  dependsOn:\n    - component:payments\n    - resource:orders-db\n" in orders
    assert "  definition:\n    $text: https://github.com/shop-example/orders" in exported


def test_several_owners_are_read_from_the_co_owners_annotation(admin: TestClient) -> None:
    body = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: search
  annotations:
    fullcycle.dev/co-owners: "user:jdoe, sre"
spec:
  type: service
  lifecycle: production
  owner: payments
"""
    import_ok(admin, body)

    search = admin.get("/api/v1/services/search").json()

    assert [owner["ref"] for owner in search["owners"]] == [
        "group:payments",
        "user:jdoe",
        "group:sre",
    ]
    assert search["annotations"] == {"fullcycle.dev/co-owners": "user:jdoe, sre"}
    assert import_ok(admin, body)["unchanged"] == ["component:search"]

"""The web UI through the real ASGI app: password sessions, CSRF on every form, escaping of
user data, tokens created and revoked from the page, and the catalog pages."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.at_once import at_once
from tests.conftest import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def create_user(client: TestClient, name: str, **rights: bool) -> str:
    """Create a user with a password through the API (as the admin); returns the password."""
    password = f"pw-{name}-123456"
    response = client.post(
        "/api/v1/users",
        json={"name": name, "password": password, "display_name": name.title(), **rights},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    return password


def log_in(client: TestClient, name: str, password: str) -> None:
    form = client.get("/login")
    token = CSRF_FIELD.search(form.text)
    assert token is not None
    response = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert "fullcycle_session" in client.cookies


def logged_in(client: TestClient, name: str = "jdoe", **rights: bool) -> TestClient:
    log_in(client, name, create_user(client, name, **rights))
    return client


def csrf_of(page: Response) -> str:
    found = CSRF_FIELD.search(page.text)
    assert found is not None, "the page has no form with a csrf_token"
    return found.group(1)


def audit_actions(client: TestClient) -> list[str]:
    events = client.get("/api/v1/audit", headers=ADMIN).json()
    return [event["action"] for event in events]


@pytest.mark.parametrize("path", ["/", "/tokens", "/users", "/audit", "/catalog", "/teams"])
def test_pages_redirect_to_login_when_logged_out(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_login_with_password_shows_the_user(client: TestClient) -> None:
    logged_in(client, "jdoe")
    page = client.get("/tokens")
    assert page.status_code == 200
    assert 'data-testid="whoami"' in page.text
    assert "Jdoe" in page.text
    assert "session.login" in audit_actions(client)


def test_wrong_password_is_refused(client: TestClient) -> None:
    create_user(client, "jdoe")
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "jdoe", "password": "wrong-password", "csrf_token": csrf_of(form)},
    )
    assert response.status_code == 401
    assert "Wrong user name or password" in response.text
    assert "fullcycle_session" not in client.cookies


def test_token_created_on_the_page_is_shown_once_and_works_until_revoked(
    client: TestClient,
) -> None:
    logged_in(client, "jdoe")
    page = client.get("/tokens")
    created = client.post(
        "/tokens",
        data={
            "name": "laptop",
            "scopes": ["read"],
            "expires_in_days": "30",
            "csrf_token": csrf_of(page),
        },
    )
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    secret = re.search(r'data-testid="token-secret">([^<]+)<', created.text)
    assert secret is not None
    token = secret.group(1)

    listing = client.get("/tokens")
    assert "laptop" in listing.text
    assert token not in listing.text, "the secret must be shown only once"

    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["user"]["name"] == "jdoe"
    assert me.json()["scopes"] == ["read"]

    token_id = re.search(r'action="/tokens/(\d+)/revoke"', listing.text)
    assert token_id is not None
    revoked = client.post(
        f"/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf_of(listing)}
    )
    assert revoked.status_code == 200
    assert "is revoked" in revoked.text
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    assert {"token.create", "token.revoke"} <= set(audit_actions(client))


def test_an_ingest_token_limited_to_one_service_from_the_page(client: TestClient) -> None:
    logged_in(client, "jdoe")
    page = client.get("/tokens")
    bad = client.post(
        "/tokens",
        data={
            "name": "otel",
            "scopes": ["ingest"],
            "service": "no spaces",
            "csrf_token": csrf_of(page),
        },
    )
    assert bad.status_code == 422
    assert "A service name" in bad.text
    created = client.post(
        "/tokens",
        data={
            "name": "otel",
            "scopes": ["ingest"],
            "service": "Checkout",
            "csrf_token": csrf_of(page),
        },
    )
    assert created.status_code == 200
    tokens = client.get("/api/v1/tokens").json()
    assert [(token["name"], token["service"]) for token in tokens] == [("otel", "checkout")]
    assert "only checkout" in client.get("/tokens").text


def test_token_form_offers_only_scopes_the_user_holds(client: TestClient) -> None:
    logged_in(client, "viewer", can_deploy=False)
    page = client.get("/tokens")
    assert 'value="read"' in page.text
    assert 'value="deploy"' not in page.text
    assert 'value="admin"' not in page.text
    refused = client.post(
        "/tokens", data={"name": "sneaky", "scopes": ["admin"], "csrf_token": csrf_of(page)}
    )
    assert refused.status_code == 422
    assert "cannot grant scopes you do not hold: admin" in refused.text
    assert "sneaky" not in client.get("/api/v1/tokens").text


def test_token_form_errors_are_shown_with_422(client: TestClient) -> None:
    logged_in(client, "jdoe")
    page = client.get("/tokens")
    response = client.post(
        "/tokens",
        data={"name": " ", "scopes": [], "expires_in_days": "soon", "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 422
    assert "Give the token a name" in response.text
    assert "Pick at least one scope" in response.text
    assert "whole number of days" in response.text
    assert client.get("/api/v1/tokens").json() == []


@pytest.mark.parametrize("csrf", [None, "wrong-token"])
def test_form_post_without_the_right_csrf_token_is_403_and_changes_nothing(
    client: TestClient, csrf: str | None
) -> None:
    logged_in(client, "boss", is_admin=True)
    data = {"name": "evil", "scopes": ["read"]}
    if csrf is not None:
        data["csrf_token"] = csrf
    response = client.post("/tokens", data=data)
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert client.get("/api/v1/tokens").json() == []

    user_form = {"name": "mallory", "password": "password-123", "is_admin": "true"}
    if csrf is not None:
        user_form["csrf_token"] = csrf
    assert client.post("/users", data=user_form).status_code == 403
    assert client.get("/api/v1/users/mallory", headers=ADMIN).status_code == 404


def test_someone_elses_token_cannot_be_revoked_from_the_page(client: TestClient) -> None:
    mine = client.post(
        "/api/v1/tokens", json={"name": "admin-tool", "scopes": ["read"]}, headers=ADMIN
    ).json()
    logged_in(client, "jdoe")
    page = client.get("/tokens")
    response = client.post(f"/tokens/{mine['id']}/revoke", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 404
    assert (
        client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {mine['token']}"}
        ).status_code
        == 200
    )


def test_audit_page_is_for_admins_only(client: TestClient) -> None:
    logged_in(client, "jdoe")
    response = client.get("/audit")
    assert response.status_code == 403
    assert "admin right" in response.text


def test_audit_page_filters_by_action_and_pages_to_older_events(client: TestClient) -> None:
    logged_in(client, "boss", is_admin=True)
    for number in range(55):
        client.post(
            "/api/v1/tokens", json={"name": f"t{number}", "scopes": ["read"]}, headers=ADMIN
        )
    newest = client.get("/audit?action=token.")
    assert newest.status_code == 200
    assert "t54" in newest.text
    assert "session.login" not in newest.text
    older = re.search(r'href="/audit\?action=token.&amp;before_id=(\d+)"', newest.text)
    assert older is not None
    second = client.get(f"/audit?action=token.&before_id={older.group(1)}")
    assert "t0" in second.text
    assert "t54" not in second.text
    assert "Older" not in second.text


def test_users_page_lists_people_with_teams_and_rights(client: TestClient) -> None:
    logged_in(client, "jdoe")
    create_user(client, "asmith", can_deploy=False)
    page = client.get("/users")
    assert page.status_code == 200
    assert 'href="/users/asmith"' in page.text
    assert "New user" not in page.text, "only admins see the create form"
    detail = client.get("/users/asmith")
    assert detail.status_code == 200
    assert "Asmith" in detail.text
    assert 'data-testid="rights"' not in detail.text


def test_admin_creates_a_user_and_toggles_rights_from_the_page(client: TestClient) -> None:
    logged_in(client, "boss", is_admin=True)
    page = client.get("/users")
    created = client.post(
        "/users",
        data={
            "name": "newbie",
            "display_name": "New Person",
            "email": "newbie@example.com",
            "password": "initial-pw-123",
            "can_deploy": "true",
            "csrf_token": csrf_of(page),
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/users/newbie"
    user = client.get("/api/v1/users/newbie", headers=ADMIN).json()
    assert user["display_name"] == "New Person"
    assert user["can_deploy"] is True
    assert user["is_admin"] is False
    assert user["can_log_in"] is True

    detail = client.get("/users/newbie")
    toggled = client.post(
        "/users/newbie/rights",
        data={"right": "is_active", "value": "false", "csrf_token": csrf_of(detail)},
    )
    assert toggled.status_code == 200
    assert client.get("/api/v1/users/newbie", headers=ADMIN).json()["is_active"] is False
    assert {"user.create", "user.update"} <= set(audit_actions(client))


def test_user_form_errors_are_shown_and_nothing_is_created(client: TestClient) -> None:
    logged_in(client, "boss", is_admin=True)
    page = client.get("/users")
    response = client.post(
        "/users",
        data={"name": "-bad name", "password": "short", "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 422
    assert "use letters, digits" in response.text
    assert "at least 8 characters" in response.text
    duplicate = client.post("/users", data={"name": "boss", "csrf_token": csrf_of(page)})
    assert duplicate.status_code == 409
    assert "exists already" in duplicate.text


def test_admin_cannot_lock_themselves_out(client: TestClient) -> None:
    logged_in(client, "boss", is_admin=True)
    page = client.get("/users/boss")
    response = client.post(
        "/users/boss/rights",
        data={"right": "is_admin", "value": "false", "csrf_token": csrf_of(page)},
    )
    assert "cannot remove your own admin right" in response.text
    assert client.get("/api/v1/users/boss", headers=ADMIN).json()["is_admin"] is True


def test_non_admins_cannot_create_users_or_change_rights(client: TestClient) -> None:
    logged_in(client, "jdoe")
    page = client.get("/users")
    refused = client.post(
        "/users", data={"name": "mallory", "is_admin": "true", "csrf_token": csrf_of(page)}
    )
    assert refused.status_code == 403
    promoted = client.post(
        "/users/jdoe/rights",
        data={"right": "is_admin", "value": "true", "csrf_token": csrf_of(page)},
    )
    assert promoted.status_code == 403
    assert client.get("/api/v1/users/mallory", headers=ADMIN).status_code == 404
    assert client.get("/api/v1/users/jdoe", headers=ADMIN).json()["is_admin"] is False


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/services/no-such-svc", "no-such-svc"),
        ("/teams/ghosts", "ghosts"),
        ("/users/nobody", "nobody"),
    ],
)
def test_unknown_names_render_the_404_page_naming_them(
    client: TestClient, path: str, name: str
) -> None:
    logged_in(client, "jdoe")
    response = client.get(path)
    assert response.status_code == 404
    assert f"'{name}'" in html.unescape(response.text)
    assert 'data-testid="whoami"' in response.text, "the error page keeps the layout"


def add_team(client: TestClient, name: str, members: list[str] | None = None) -> None:
    response = client.post(
        "/api/v1/teams", json={"name": name, "members": members or []}, headers=ADMIN
    )
    assert response.status_code == 201, response.text


def add_service(client: TestClient, name: str, **fields: object) -> None:
    response = client.post("/api/v1/services", json={"name": name, **fields}, headers=ADMIN)
    assert response.status_code == 201, response.text


def test_catalog_flags_services_nobody_owns(client: TestClient) -> None:
    add_team(client, "payments")
    add_service(client, "orders", title="Orders API", owners=["payments"], tags=["python"])
    add_service(client, "legacy-billing", owners=["group:disbanded-team"])
    logged_in(client, "jdoe")

    page = client.get("/catalog")
    assert page.status_code == 200
    orders_row = page.text.split('href="/services/orders"')[1].split("</tr>")[0]
    legacy_row = page.text.split('href="/services/legacy-billing"')[1].split("</tr>")[0]
    assert "UNOWNED" not in orders_row
    assert 'href="/teams/payments"' in orders_row
    assert "UNOWNED" in legacy_row
    assert 'class="unresolved"' in legacy_row and "group:disbanded-team" in legacy_row

    only_unowned = client.get("/catalog?unowned=true")
    assert "/services/legacy-billing" in only_unowned.text
    assert "/services/orders" not in only_unowned.text
    assert "1 service of 2" in only_unowned.text


def test_catalog_search_returns_only_the_rows_for_htmx(client: TestClient) -> None:
    add_team(client, "payments")
    add_service(client, "orders", title="Orders API", owners=["payments"])
    add_service(client, "inventory", title="Stock levels", owners=["payments"])
    logged_in(client, "jdoe")

    fragment = client.get("/catalog?q=stock", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<tbody id="service-rows">')
    assert "<html" not in fragment.text
    assert "/services/inventory" in fragment.text
    assert "/services/orders" not in fragment.text
    assert 'hx-swap-oob="true"' in fragment.text
    assert "1 service of 2" in fragment.text

    full = client.get("/catalog?q=stock")
    assert "<html" in full.text
    assert 'value="stock"' in full.text


def test_user_data_is_escaped_in_the_html(client: TestClient) -> None:
    add_team(client, "payments")
    add_service(
        client,
        "evil",
        title="<script>alert('pwned')</script>",
        description='"><img src=x onerror=alert(1)>',
        owners=["payments"],
        oncall_contact="<b>bold</b>",
    )
    logged_in(client, "jdoe")
    for path in ("/catalog", "/services/evil", "/services/evil/edit"):
        markup = client.get(path).text
        assert "<script>alert" not in markup, path
        assert "<img src=x" not in markup, path
        assert "<b>bold</b>" not in markup, path
    assert "&lt;script&gt;alert(" in client.get("/services/evil").text


def test_service_page_shows_owners_runbook_and_dependencies(client: TestClient) -> None:
    add_team(client, "payments", members=["jdoe"])
    add_service(client, "inventory", owners=["payments"])
    add_service(
        client,
        "orders",
        title="Orders API",
        owners=["payments", "user:jdoe"],
        depends_on=["inventory", "resource:orders-db"],
        runbook_url="https://wiki.example.com/runbooks/orders",
        oncall_contact="payments-oncall@example.com",
        links=[{"title": "Grafana", "url": "https://grafana.example.com/d/orders"}],
    )
    logged_in(client, "jdoe")
    page = client.get("/services/orders")
    assert page.status_code == 200
    markup = page.text
    assert 'href="/teams/payments"' in markup
    assert 'href="/users/jdoe"' in markup
    assert 'href="https://wiki.example.com/runbooks/orders"' in markup
    assert 'href="/services/inventory"' in markup
    assert 'class="unresolved"' in markup and "resource:orders-db" in markup
    assert "mailto:payments-oncall@example.com" in markup
    assert '<section class="placeholder" aria-label="Incidents">' in markup
    assert 'data-testid="service-alerting"' in markup
    # Logs, dashboard and deploys replaced their placeholders.
    assert 'data-testid="service-logs-link"' in markup
    assert 'href="/services/orders/dashboard"' in markup
    assert 'data-testid="service-deploys"' in markup or "No deploys of this service yet" in markup
    assert 'href="/services/orders"' in client.get("/services/inventory").text, "dependents"

    user_page = client.get("/users/jdoe").text
    assert 'href="/teams/payments"' in user_page
    assert 'href="/services/orders"' in user_page


def service_form(csrf: str, **overrides: str) -> dict[str, str]:
    fields = {
        "name": "checkout",
        "title": "Checkout",
        "description": "Takes the money.",
        "type": "service",
        "lifecycle": "production",
        "tier": "1",
        "system": "shop",
        "owners": "payments",
        "depends_on": "orders, resource:checkout-db",
        "tags": "python, payments",
        "links": "Grafana https://grafana.example.com/d/checkout",
        "annotations": "github.com/project-slug: example/checkout",
        "runbook_url": "https://wiki.example.com/checkout",
        "repository_url": "https://github.com/example/checkout",
        "oncall_contact": "payments-oncall@example.com",
        "csrf_token": csrf,
    }
    return fields | overrides


def test_service_created_edited_and_deleted_through_the_pages(client: TestClient) -> None:
    add_team(client, "payments")
    logged_in(client, "dev")
    form = client.get("/services/new")
    assert form.status_code == 200
    created = client.post("/services/new", data=service_form(csrf_of(form)), follow_redirects=False)
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/services/checkout"
    stored = client.get("/api/v1/services/checkout").json()
    assert stored["tags"] == ["python", "payments"]
    assert stored["links"][0]["title"] == "Grafana"
    assert stored["annotations"]["github.com/project-slug"] == "example/checkout"
    assert stored["runbook_url"] == "https://wiki.example.com/checkout"
    assert [owner["ref"] for owner in stored["owners"]] == ["group:payments"]

    edit = client.get("/services/checkout/edit")
    assert "github.com/project-slug: example/checkout" in edit.text
    assert "fullcycle.dev/runbook" not in edit.text, "derived annotations show as their fields"
    saved = client.post(
        "/services/checkout/edit",
        data=service_form(csrf_of(edit), title="Checkout v2", tags="go"),
    )
    assert saved.status_code == 200
    assert "Checkout v2" in saved.text
    resaved = client.get("/api/v1/services/checkout").json()
    assert resaved["tags"] == ["go"]
    assert resaved["runbook_url"] == "https://wiki.example.com/checkout"
    assert resaved["annotations"] == stored["annotations"], "editing keeps the annotations"

    confirm = client.get("/services/checkout/delete")
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.text
    assert client.get("/api/v1/services/checkout").status_code == 200, "asking deletes nothing"
    deleted = client.post("/services/checkout/delete", data={"csrf_token": csrf_of(confirm)})
    assert deleted.status_code == 200
    assert "deleted" in deleted.text
    assert client.get("/api/v1/services/checkout").status_code == 404
    assert {"service.create", "service.update", "service.delete"} <= set(audit_actions(client))


def test_service_form_errors_are_shown_next_to_the_fields_with_422(client: TestClient) -> None:
    logged_in(client, "dev")
    form = client.get("/services/new")
    response = client.post(
        "/services/new",
        data=service_form(
            csrf_of(form), name="Bad Name!", owners="", runbook_url="ftp://example.com"
        ),
    )
    assert response.status_code == 422
    assert 'id="name-error"' in response.text
    assert 'id="owners-error"' in response.text
    assert 'id="runbook_url-error"' in response.text
    assert "not an http(s) URL" in response.text
    assert 'value="Bad Name!"' in response.text, "what was typed is kept"
    assert client.get("/api/v1/services").json() == []


def test_duplicate_service_name_is_refused_on_the_form(client: TestClient) -> None:
    add_team(client, "payments")
    add_service(client, "checkout", owners=["payments"])
    logged_in(client, "dev")
    form = client.get("/services/new")
    response = client.post("/services/new", data=service_form(csrf_of(form)))
    assert response.status_code == 409
    assert "a service named &#39;checkout&#39; already exists" in response.text
    assert len(client.get("/api/v1/services").json()) == 1


def test_without_the_deploy_right_services_are_read_only(client: TestClient) -> None:
    add_team(client, "payments")
    add_service(client, "orders", owners=["payments"])
    logged_in(client, "viewer", can_deploy=False)
    assert "/services/orders/edit" not in client.get("/services/orders").text
    assert "/services/new" not in client.get("/catalog").text
    assert client.get("/services/new").status_code == 403
    page = client.get("/catalog")
    refused = client.post("/services/orders/delete", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 403
    assert client.get("/api/v1/services/orders").status_code == 200


BACKSTAGE = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: payments
spec:
  type: team
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders
spec:
  type: service
  lifecycle: production
  owner: group:payments
  dependsOn: [resource:orders-db]
"""


def test_import_page_checks_then_imports(client: TestClient) -> None:
    logged_in(client, "boss", is_admin=True)
    form = client.get("/catalog/import")
    assert form.status_code == 200
    checked = client.post(
        "/catalog/import",
        files={"file": ("", b"", "application/octet-stream")},  # what a browser sends: no file
        data={"text": BACKSTAGE, "mode": "check", "csrf_token": csrf_of(form)},
    )
    assert checked.status_code == 200
    assert "Dry run: nothing was changed" in checked.text
    assert "component:orders" in checked.text
    assert client.get("/api/v1/services").json() == []

    imported = client.post(
        "/catalog/import",
        files={"file": ("catalog-info.yaml", BACKSTAGE.encode(), "application/yaml")},
        data={"mode": "import", "csrf_token": csrf_of(form)},
    )
    assert imported.status_code == 200
    assert "Imported from catalog-info.yaml" in imported.text
    assert "resource:orders-db" in imported.text
    assert client.get("/api/v1/services/orders").status_code == 200
    assert "catalog.import" in audit_actions(client)


def test_import_page_shows_where_the_errors_are_and_changes_nothing(client: TestClient) -> None:
    logged_in(client, "boss", is_admin=True)
    form = client.get("/catalog/import")
    broken = BACKSTAGE.replace("  owner: group:payments\n", "")
    response = client.post(
        "/catalog/import", data={"text": broken, "mode": "import", "csrf_token": csrf_of(form)}
    )
    assert response.status_code == 422
    assert "Nothing was changed" in response.text
    assert 'data-testid="import-errors"' in response.text
    assert "#2" in response.text, "the document number"
    assert "spec.owner" in response.text
    assert client.get("/api/v1/services").json() == []
    assert client.get("/api/v1/teams").json() == []


def test_import_is_for_admins_only(client: TestClient) -> None:
    logged_in(client, "dev")
    assert client.get("/catalog/import").status_code == 403
    page = client.get("/catalog")
    refused = client.post(
        "/catalog/import", data={"text": BACKSTAGE, "mode": "import", "csrf_token": csrf_of(page)}
    )
    assert refused.status_code == 403
    assert client.get("/api/v1/services").json() == []


def test_teams_created_and_listed_through_the_pages(client: TestClient) -> None:
    create_user(client, "jdoe")
    logged_in(client, "boss", is_admin=True)
    form = client.get("/teams/new")
    created = client.post(
        "/teams/new",
        data={
            "name": "payments",
            "title": "Payments",
            "email": "payments@example.com",
            "members": "jdoe, ghost",
            "csrf_token": csrf_of(form),
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    add_service(client, "orders", owners=["payments"])

    listing = client.get("/teams")
    row = listing.text.split('href="/teams/payments"')[1].split("</tr>")[0]
    assert '<td class="num">2</td>' in row
    assert 'href="/catalog?owner=payments">1</a>' in row

    detail = client.get("/teams/payments").text
    assert 'href="/users/jdoe"' in detail
    assert 'class="unresolved"' in detail and "ghost" in detail
    assert 'href="/services/orders"' in detail

    bad = client.post(
        "/teams/new", data={"name": "x y", "email": "nope", "csrf_token": csrf_of(form)}
    )
    assert bad.status_code == 422
    assert 'id="email-error"' in bad.text
    assert "team.create" in audit_actions(client)


def test_a_team_that_owns_services_cannot_be_deleted(client: TestClient) -> None:
    add_team(client, "payments")
    add_team(client, "alumni")
    add_service(client, "orders", owners=["payments"])
    logged_in(client, "boss", is_admin=True)
    confirm = client.get("/teams/payments/delete")
    assert "still owns 1 service" in confirm.text
    refused = client.post("/teams/payments/delete", data={"csrf_token": csrf_of(confirm)})
    assert refused.status_code == 409
    assert "give them another owner first" in refused.text
    assert client.get("/api/v1/teams/payments").status_code == 200

    deleted = client.post("/teams/alumni/delete", data={"csrf_token": csrf_of(confirm)})
    assert deleted.status_code == 200
    assert "Team &#39;alumni&#39; deleted." in deleted.text
    assert "deleted." not in client.get("/teams").text, "the message is shown only once"
    assert client.get("/api/v1/teams/alumni").status_code == 404


def test_people_locking_the_same_slot_from_the_page_at_once_are_each_told_what_happened(
    client: TestClient,
) -> None:
    """One lock is taken; everyone else is sent back with "already locked by". It was a 500
    for some: all of them found no lock row and made one, and all but one hit its unique
    constraint."""
    logged_in(client, "oncall", can_deploy=True)
    token = csrf_of(client.get("/tokens"))
    # Not entered as a context manager: each request runs on an event loop of its own, as
    # requests to several server processes would, so that the six really meet.
    browsers = TestClient(client.app, cookies=client.cookies)
    people = 6
    for round_number in range(6):

        def lock(person: int, environment: str = f"stage-{round_number}") -> Response:
            form = {
                "service": "shop",
                "environment": environment,
                "reason": f"person {person}",
                "csrf_token": token,
            }
            return browsers.post("/locks", data=form, follow_redirects=False)

        answers = at_once(people, lock)

        assert [a.status_code for a in answers] == [303] * people, [a.text for a in answers]
        flashes = sorted(unquote(a.cookies["fullcycle_flash"].strip('"')) for a in answers)
        assert flashes[-1] == f"success|shop/stage-{round_number} locked"
        assert all("is already locked by oncall" in f for f in flashes[:-1]), flashes


def test_a_form_that_meets_a_concurrent_write_gets_the_conflict_page_with_who_is_logged_in(
    client: TestClient,
) -> None:
    """Admins creating the same team at once: one wins; an insert that hits the unique
    constraint is rolled back and answered 409, on a page that still shows the logged-in user
    (the rollback expires the user's row, which the page's header used to read: a 500)."""
    logged_in(client, "boss", is_admin=True)
    token = csrf_of(client.get("/teams/new"))
    browsers = TestClient(client.app, cookies=client.cookies)  # a loop per request: see above
    people = 6
    for round_number in range(6):

        def create(_: int, name: str = f"team-{round_number}") -> Response:
            form = {"name": name, "email": "t@example.com", "csrf_token": token}
            return browsers.post("/teams/new", data=form, follow_redirects=False)

        answers = at_once(people, create)

        assert sorted(a.status_code for a in answers) == [303] + [409] * (people - 1)
        for refused in (a for a in answers if a.status_code == 409):
            assert 'data-testid="whoami"' in refused.text and "boss" in refused.text

"""Authentication and authorisation through the real app: 401 without credentials, 403 naming
the missing scope, token expiry and revocation, CSRF on cookie sessions, hashed storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from fullcycle.app import create_app
from fullcycle.auth.models import ApiToken, User, WebSession
from fullcycle.settings import Settings
from tests.conftest import ADMIN_TOKEN, token_for


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_checks_need_no_auth(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok", "telemetry": "ok"}


def test_api_without_credentials_is_401(client: TestClient) -> None:
    for path in ("/api/v1/auth/me", "/api/v1/users", "/api/v1/audit", "/api/v1/openapi.json"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in response.json()["detail"]


def test_bad_token_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/auth/me", headers=bearer("fc_not-a-real-token"))
    assert response.status_code == 401
    assert "invalid, expired or revoked" in response.json()["detail"]


def test_admin_token_from_environment_works(admin: TestClient) -> None:
    me = admin.get("/api/v1/auth/me").json()
    assert me["user"]["name"] == "admin"
    assert me["scopes"] == ["admin", "deploy", "ingest", "read"]
    assert me["via"] == "token"


def test_scope_missing_is_403_naming_the_scope(admin: TestClient) -> None:
    read_only = token_for(admin, "reader", ["read"])
    response = admin.post("/api/v1/users", json={"name": "mallory"}, headers=bearer(read_only))
    assert response.status_code == 403
    assert "'admin'" in response.json()["detail"]
    assert admin.get("/api/v1/users/mallory").status_code == 404

    ingest_only = token_for(admin, "shipper", ["ingest"])
    response = admin.get("/api/v1/users", headers=bearer(ingest_only))
    assert response.status_code == 403
    assert "'read'" in response.json()["detail"]


def test_user_cannot_grant_scopes_they_lack(admin: TestClient) -> None:
    token = token_for(admin, "dev", ["read", "deploy"])
    response = admin.post(
        "/api/v1/tokens", json={"name": "sneaky", "scopes": ["admin"]}, headers=bearer(token)
    )
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]


def test_unknown_scope_is_422_naming_it(admin: TestClient) -> None:
    response = admin.post("/api/v1/tokens", json={"name": "x", "scopes": ["superuser"]})
    assert response.status_code == 422
    assert "superuser" in response.json()["detail"]


def test_token_is_shown_once_and_stored_hashed(admin: TestClient, app: FastAPI) -> None:
    created = admin.post("/api/v1/tokens", json={"name": "ci", "scopes": ["read"]})
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("fc_")
    listed = admin.get("/api/v1/tokens").json()
    assert all("token" not in row for row in listed)
    assert any(row["name"] == "ci" and row["prefix"] == secret[:8] for row in listed)
    with app.state.database.session() as db:
        stored = db.scalar(select(ApiToken).where(ApiToken.name == "ci"))
        assert stored is not None
        assert secret not in stored.token_hash
        assert len(stored.token_hash) == 64


def test_revoked_token_is_401(admin: TestClient) -> None:
    created = admin.post("/api/v1/tokens", json={"name": "short", "scopes": ["read"]}).json()
    assert admin.get("/api/v1/auth/me", headers=bearer(created["token"])).status_code == 200
    revoked = admin.delete(f"/api/v1/tokens/{created['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert admin.get("/api/v1/auth/me", headers=bearer(created["token"])).status_code == 401


def test_expired_token_is_401(admin: TestClient, app: FastAPI) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    created = admin.post(
        "/api/v1/tokens",
        json={"name": "brief", "scopes": ["read"], "expires_at": soon.isoformat()},
    ).json()
    assert admin.get("/api/v1/auth/me", headers=bearer(created["token"])).status_code == 200
    with app.state.database.session() as db:
        token = db.get(ApiToken, created["id"])
        assert token is not None
        token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert admin.get("/api/v1/auth/me", headers=bearer(created["token"])).status_code == 401


def test_expiry_in_the_past_is_refused(admin: TestClient) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    response = admin.post(
        "/api/v1/tokens", json={"name": "old", "scopes": ["read"], "expires_at": past}
    )
    assert response.status_code == 422
    assert "expires_at" in response.json()["detail"]


def test_token_loses_rights_its_user_loses(admin: TestClient) -> None:
    token = token_for(admin, "ops", ["admin"], is_admin=True)
    assert admin.get("/api/v1/audit", headers=bearer(token)).status_code == 200
    assert admin.patch("/api/v1/users/ops", json={"is_admin": False}).status_code == 200
    response = admin.get("/api/v1/audit", headers=bearer(token))
    assert response.status_code == 403
    assert admin.patch("/api/v1/users/ops", json={"is_active": False}).status_code == 200
    assert admin.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401


def test_passwords_are_argon2_hashed(admin: TestClient, app: FastAPI) -> None:
    response = admin.post("/api/v1/users", json={"name": "ann", "password": "correct horse"})
    assert response.status_code == 201
    with app.state.database.session() as db:
        user = db.scalar(select(User).where(User.name == "ann"))
        assert user is not None and user.password_hash is not None
        assert user.password_hash.startswith("$argon2")
    wrong = admin.post(
        "/api/v1/auth/login",
        json={"username": "ann", "password": "wrong horse"},
        headers={"Authorization": ""},
    )
    assert wrong.status_code == 401


def test_user_validation_errors_name_the_field(admin: TestClient) -> None:
    response = admin.post("/api/v1/users", json={"name": "has space", "password": "long enough"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
    duplicate = admin.post("/api/v1/users", json={"name": "admin"})
    assert duplicate.status_code == 409
    malformed = admin.post(
        "/api/v1/users", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 422


def test_users_may_edit_themselves_but_not_their_rights(admin: TestClient) -> None:
    token = token_for(admin, "bea", ["read", "deploy"])
    ok = admin.patch("/api/v1/users/bea", json={"display_name": "Bea"}, headers=bearer(token))
    assert ok.status_code == 200 and ok.json()["display_name"] == "Bea"
    escalate = admin.patch("/api/v1/users/bea", json={"is_admin": True}, headers=bearer(token))
    assert escalate.status_code == 403
    other = admin.patch("/api/v1/users/admin", json={"email": "x@y"}, headers=bearer(token))
    assert other.status_code == 403


def _log_in_with_form(client: TestClient, user: str, password: str) -> None:
    """Log in through the login form, as a browser does."""
    form = client.get("/login")
    csrf = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": csrf, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert "fullcycle_session" in client.cookies


def test_cookie_session_writes_need_csrf_token(admin: TestClient, app: FastAPI) -> None:
    admin.post("/api/v1/users", json={"name": "cat", "password": "password-cat"})
    browser = TestClient(app)
    _log_in_with_form(browser, "cat", "password-cat")
    assert browser.get("/api/v1/auth/me").json()["via"] == "session"
    refused = browser.post("/api/v1/tokens", json={"name": "t", "scopes": ["read"]})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    wrong = browser.post(
        "/api/v1/tokens",
        json={"name": "t", "scopes": ["read"]},
        headers={"X-CSRF-Token": "forged"},
    )
    assert wrong.status_code == 403
    every_token = admin.get("/api/v1/tokens", params={"all_users_tokens": True}).json()
    assert [row for row in every_token if row["user"] == "cat"] == []
    with app.state.database.session() as db:
        csrf = db.scalars(select(WebSession.csrf_token)).one()
    accepted = browser.post(
        "/api/v1/tokens", json={"name": "t", "scopes": ["read"]}, headers={"X-CSRF-Token": csrf}
    )
    assert accepted.status_code == 201


def test_login_form_without_its_csrf_cookie_is_refused(admin: TestClient, app: FastAPI) -> None:
    admin.post("/api/v1/users", json={"name": "dan", "password": "password-dan"})
    browser = TestClient(app)
    response = browser.post(
        "/login",
        data={"username": "dan", "password": "password-dan", "csrf_token": "guess"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "fullcycle_session" not in browser.cookies


def test_login_redirect_stays_on_site(admin: TestClient, app: FastAPI) -> None:
    admin.post("/api/v1/users", json={"name": "eve", "password": "password-eve"})
    browser = TestClient(app)
    form = browser.get("/login")
    csrf = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = browser.post(
        "/login",
        data={
            "username": "eve",
            "password": "password-eve",
            "csrf_token": csrf,
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_admin_token_provisioning_is_idempotent(settings: Settings) -> None:
    for _start in range(2):  # one process after the other, as a restart does
        with TestClient(create_app(settings)) as started:
            started.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
            rows = started.get("/api/v1/tokens").json()
    assert [row["name"] for row in rows].count("FULLCYCLE_ADMIN_TOKEN") == 1


def test_writes_are_audited(admin: TestClient) -> None:
    admin.post("/api/v1/users", json={"name": "fay", "password": "password-fay"})
    admin.post("/api/v1/tokens", json={"name": "deploybot", "scopes": ["deploy"]})
    events = admin.get("/api/v1/audit").json()
    actions = [(event["action"], event["target"]) for event in events]
    assert ("user.create", "fay") in actions
    assert ("token.create", "deploybot") in actions
    newest = events[0]
    assert newest["actor"] == "admin (token FULLCYCLE_ADMIN_TOKEN)"
    assert newest["remote_addr"] == "testclient"
    only_users = admin.get("/api/v1/audit", params={"action": "user."}).json()
    assert {event["action"] for event in only_users} == {"user.create"}

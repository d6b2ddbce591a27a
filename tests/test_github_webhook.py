"""The GitHub webhook: signed deliveries record commits with their times and GitHub deployments;
a missing or wrong signature is refused with 401 and records nothing."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fullcycle.settings import Settings
from tests.deploy_helpers import add_service

SECRET = "webhook-secret-for-tests"
SHA = "9f2c1e0d4b5a69788796a5b4c3d2e1f0a9b8c7d6"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, github_webhook_secret=SECRET)


def deliver(
    client: TestClient,
    event: str,
    payload: dict[str, Any],
    *,
    delivery: str,
    secret: str = SECRET,
) -> Any:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        "/api/v1/webhooks/github",
        content=body,
        headers={
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
            "Authorization": "",
        },
    )


PUSH = {
    "repository": {"full_name": "acme/shop"},
    "commits": [{"id": SHA, "timestamp": "2026-11-26T09:15:00+01:00", "message": "Fix cart"}],
}
DEPLOYMENT_STATUS = {
    "repository": {"full_name": "acme/shop"},
    "deployment": {
        "sha": SHA,
        "ref": "v1.4.2",
        "environment": "production",
        "creator": {"login": "octocat"},
        "created_at": "2026-11-26T10:00:00Z",
    },
    "deployment_status": {"state": "success"},
}


def test_a_bad_signature_is_refused_and_changes_nothing(admin: TestClient) -> None:
    add_service(admin)
    wrong = deliver(admin, "deployment_status", DEPLOYMENT_STATUS, delivery="d-1", secret="guessed")
    assert wrong.status_code == 401
    unsigned = admin.post(
        "/api/v1/webhooks/github",
        json=DEPLOYMENT_STATUS,
        headers={"X-GitHub-Event": "deployment_status", "Authorization": ""},
    )
    assert unsigned.status_code == 401
    assert admin.get("/api/v1/deploys").json() == []
    # the same delivery id, signed right this time, is not taken for a repeat
    assert (
        deliver(admin, "deployment_status", DEPLOYMENT_STATUS, delivery="d-1").json()["recorded"]
        == 2
    )


def test_commits_then_a_github_deployment_give_a_deploy_with_its_commit_time(
    admin: TestClient,
) -> None:
    add_service(admin)
    assert deliver(admin, "ping", {"zen": "hi"}, delivery="p-1").status_code == 200
    pushed = deliver(admin, "push", PUSH, delivery="push-1")
    assert pushed.status_code == 200 and pushed.json()["recorded"] == 2
    deployed = deliver(admin, "deployment_status", DEPLOYMENT_STATUS, delivery="ds-1")
    assert deployed.json()["recorded"] == 2
    again = deliver(admin, "deployment_status", DEPLOYMENT_STATUS, delivery="ds-1")
    assert again.json()["recorded"] == 0

    deploys = admin.get("/api/v1/deploys").json()
    assert len(deploys) == 1
    deploy = deploys[0]
    assert (deploy["service"], deploy["version"], deploy["kind"], deploy["status"]) == (
        "shop",
        "v1.4.2",
        "external",
        "succeeded",
    )
    assert deploy["commit"] == SHA and deploy["actor"] == "github:octocat"
    assert deploy["commit_time"].startswith("2026-11-26T08:15:00")
    store = admin.app.state.telemetry  # type: ignore[attr-defined]
    store.flush()
    assert list(store.query("SELECT kind, title, reference FROM fullcycle.markers")) == [
        ("deploy", "shop v1.4.2 by github:octocat", f"/deploys/{deploy['id']}")
    ]


def test_a_deploy_started_with_a_known_commit_gets_its_commit_time(admin: TestClient) -> None:
    deliver(admin, "push", PUSH, delivery="push-2")
    response = admin.post(
        "/api/v1/deploys", json={"service": "shop", "version": "1", "commit": SHA}
    )
    assert response.json()["commit_time"].startswith("2026-11-26T08:15:00")


def test_unknown_events_and_malformed_bodies_are_refused(admin: TestClient) -> None:
    assert deliver(admin, "issues", {}, delivery="x-1").status_code == 422
    body = b"not json"
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = admin.post(
        "/api/v1/webhooks/github",
        content=body,
        headers={
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "x-2",
            "X-Hub-Signature-256": signature,
        },
    )
    assert response.status_code == 422 and "not JSON" in response.json()["detail"]

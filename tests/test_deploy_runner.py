"""Deploys through pipelines with the `command` target, run by the real runner in the real app
(SQLite and PostgreSQL): stages, gates, verification against a real HTTP health endpoint,
automatic rollback, markers, locks and freezes."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from fullcycle.deploy.models import Deploy, DeployLock
from fullcycle.deploy.runner import DeployRunner
from fullcycle.store.database import utcnow
from tests.conftest import token_for
from tests.deploy_helpers import (
    add_service,
    apply_pipeline,
    stage,
    start,
    version_health,
    wait_for,
    wait_for_stage,
)


def command_pipeline(
    tmp_path: Path,
    health_url: str,
    *,
    test: str = "'true'",
    extra: str = "",
    deploy_command: str | None = None,
) -> str:
    live = tmp_path / "live"
    command = deploy_command or f"echo {{version}} > {live} && echo deployed {{version}}"
    return f"""
service: shop
environments:
  - name: production
    build: echo building {{version}} of {{service}}
    test: {test}
{extra}
    deploy:
      target: command
      command: {command}
      timeout: 20
      secrets: {{API_KEY: hunter2-secret}}
    verify:
      bake: 1
      interval: 1
      health_url: {health_url}
"""


def test_a_good_release_goes_live_with_every_stage_recorded(
    admin: TestClient, tmp_path: Path
) -> None:
    add_service(admin)
    with version_health(tmp_path / "live") as health:
        apply_pipeline(admin, command_pipeline(tmp_path, health.url))
        deploy = wait_for(admin, start(admin, "1.0.0", commit="abc123"))

    assert deploy["status"] == "succeeded", deploy
    assert (tmp_path / "live").read_text().strip() == "1.0.0"
    assert [s["name"] for s in deploy["stages"]] == ["build", "test", "deploy", "verify"]
    assert all(s["status"] == "passed" for s in deploy["stages"])
    assert "building 1.0.0 of shop" in stage(deploy, "build")["log"]
    assert "deployed 1.0.0" in stage(deploy, "deploy")["log"]
    health_result = stage(deploy, "verify")["results"][0]
    assert health_result["check"] == "health" and health_result["status"] == "passed"
    assert deploy["live_at"] is not None and deploy["commit"] == "abc123"

    store = admin.app.state.telemetry  # type: ignore[attr-defined]
    store.flush()
    markers = list(
        store.query(
            "SELECT kind, service, environment, title, reference, "
            "attributes['outcome'] FROM fullcycle.markers ORDER BY timestamp"
        )
    )
    assert markers == [
        (
            "deploy",
            "shop",
            "production",
            "shop 1.0.0 by admin",
            f"/deploys/{deploy['id']}",
            "succeeded",
        )
    ]


def test_a_faulty_release_fails_verification_and_is_rolled_back(
    admin: TestClient, tmp_path: Path
) -> None:
    add_service(admin)
    with version_health(tmp_path / "live") as health:
        apply_pipeline(admin, command_pipeline(tmp_path, health.url))
        assert wait_for(admin, start(admin, "1.0.0"))["status"] == "succeeded"
        faulty = wait_for(admin, start(admin, "2.0.0-bad"))

    assert faulty["status"] == "rolled_back", faulty
    assert "verification failed: rolled back to 1.0.0" in faulty["reason"]
    assert stage(faulty, "verify")["status"] == "failed"
    assert stage(faulty, "verify")["results"][0]["message"] == "HTTP 500"
    rollback = admin.get(f"/api/v1/deploys/{faulty['rolled_back_by']}").json()
    assert rollback["kind"] == "rollback" and rollback["status"] == "succeeded"
    assert rollback["version"] == "1.0.0" and rollback["rollback_of"] == faulty["id"]
    assert stage(rollback, "verify")["status"] == "passed"
    assert (tmp_path / "live").read_text().strip() == "1.0.0"
    store = admin.app.state.telemetry  # type: ignore[attr-defined]
    store.flush()
    markers = store.query(
        "SELECT kind, title, attributes['outcome'] FROM fullcycle.markers ORDER BY timestamp"
    )
    assert list(markers) == [
        ("deploy", "shop 1.0.0 by admin", "succeeded"),
        ("deploy", "shop 2.0.0-bad by admin", "rolled_back"),
        ("rollback", "shop 1.0.0 by fullcycle (automatic rollback of deploy 2)", "succeeded"),
    ]
    listed = admin.get("/api/v1/deploys", params={"service": "shop"}).json()
    assert [(d["version"], d["status"]) for d in listed] == [
        ("1.0.0", "succeeded"),
        ("2.0.0-bad", "rolled_back"),
        ("1.0.0", "succeeded"),
    ]
    # It went live (and was rolled back): the refusal used to say it "never went live".
    back_to_bad = admin.post("/api/v1/services/shop/rollbacks", json={"to_version": "2.0.0-bad"})
    assert back_to_bad.status_code == 422
    assert "never went live in shop/production and stayed" in back_to_bad.json()["detail"]
    assert "rolled back" in back_to_bad.json()["detail"]


def test_a_red_test_stage_deploys_nothing(admin: TestClient, tmp_path: Path) -> None:
    add_service(admin)
    with version_health(tmp_path / "live") as health:
        apply_pipeline(
            admin, command_pipeline(tmp_path, health.url, test="echo 2 tests failed && exit 3")
        )
        deploy = wait_for(admin, start(admin, "1.0.0"))

    assert deploy["status"] == "failed"
    assert deploy["reason"] == "the test stage failed: nothing was deployed"
    assert stage(deploy, "test")["status"] == "failed"
    assert "2 tests failed" in stage(deploy, "test")["log"]
    assert "exited with status 3" in stage(deploy, "test")["log"]
    assert [stage(deploy, n)["status"] for n in ("deploy", "verify")] == ["skipped", "skipped"]
    assert not (tmp_path / "live").exists()
    assert deploy["live_at"] is None


def test_secrets_are_masked_in_stage_logs(admin: TestClient, tmp_path: Path) -> None:
    add_service(admin)
    with version_health(tmp_path / "live") as health:
        apply_pipeline(
            admin,
            command_pipeline(
                tmp_path,
                health.url,
                deploy_command=f"echo key is $API_KEY && echo {{version}} > {tmp_path / 'live'}",
            ),
        )
        deploy = wait_for(admin, start(admin, "1.0.0"))

    assert deploy["status"] == "succeeded"
    assert "key is ****" in stage(deploy, "deploy")["log"]
    assert "hunter2-secret" not in str(deploy)


def test_the_deployer_cannot_approve_their_own_deploy(admin: TestClient, tmp_path: Path) -> None:
    add_service(admin)
    alice = {"Authorization": f"Bearer {token_for(admin, 'alice', ['deploy'])}"}
    bob = {"Authorization": f"Bearer {token_for(admin, 'bob', ['deploy'])}"}
    approval = "    approval: {reviewer: true, checklist: [smoke tested on staging]}"
    with version_health(tmp_path / "live") as health:
        apply_pipeline(admin, command_pipeline(tmp_path, health.url, extra=approval))
        response = admin.post(
            "/api/v1/services/shop/deploys", json={"version": "1.0.0"}, headers=alice
        )
        assert response.status_code == 201
        deploy_id = response.json()["id"]

        own = admin.post(f"/api/v1/deploys/{deploy_id}/approvals", json={}, headers=alice)
        assert own.status_code == 403
        assert "reviewer other than the deployer" in own.json()["detail"]
        unknown = admin.post(
            f"/api/v1/deploys/{deploy_id}/approvals",
            json={"checklist": ["load tested"]},
            headers=bob,
        )
        assert unknown.status_code == 422
        waiting = wait_for_stage(admin, deploy_id, "approval")
        assert "waiting for a reviewer other than alice" in stage(waiting, "approval")["log"]
        assert not (tmp_path / "live").exists()

        approved = admin.post(
            f"/api/v1/deploys/{deploy_id}/approvals",
            json={"checklist": ["smoke tested on staging"], "comment": "lgtm"},
            headers=bob,
        )
        assert approved.status_code == 201, approved.text
        deploy = wait_for(admin, deploy_id)

    assert deploy["status"] == "succeeded"
    assert [(a["approver"], a["checklist"]) for a in deploy["approvals"]] == [
        ("bob", ["smoke tested on staging"])
    ]
    assert "bob approved, ticked smoke tested on staging" in stage(deploy, "approval")["log"]
    audit = admin.get("/api/v1/audit", params={"action": "deploy.approve"}).json()
    assert [event["actor"] for event in audit] == ["bob (token test)"]


def test_queued_deploys_of_one_environment_never_overlap(admin: TestClient, tmp_path: Path) -> None:
    add_service(admin)
    journal = tmp_path / "journal"
    command = (
        f"echo start {{version}} >> {journal} && sleep 0.3 && "
        f"echo end {{version}} >> {journal} && echo {{version}} > {tmp_path / 'live'}"
    )
    with version_health(tmp_path / "live") as health:
        apply_pipeline(admin, command_pipeline(tmp_path, health.url, deploy_command=command))
        ids: list[int] = []
        threads = [
            threading.Thread(target=lambda v=version: ids.append(start(admin, v)))
            for version in ("1.0.1", "1.0.2", "1.0.3", "1.0.4")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deploys = [wait_for(admin, deploy_id) for deploy_id in sorted(ids)]

    assert [d["status"] for d in deploys] == ["succeeded"] * 4
    lines = journal.read_text().split()
    pairs = list(zip(lines[0::2], lines[1::2], strict=True))
    assert [kind for pair in pairs for kind in pair if kind in ("start", "end")] == [
        "start",
        "end",
    ] * 4
    started = [d["started_at"] for d in deploys]
    finished = [d["finished_at"] for d in deploys]
    assert all(finished[i] <= started[i + 1] for i in range(3)), (started, finished)


def test_only_one_of_several_runners_takes_a_service_environment(
    admin: TestClient, tmp_path: Path
) -> None:
    """Several server processes share one database: of runners claiming at the same moment,
    exactly one gets the deploy slot of shop/production."""
    add_service(admin)
    app = admin.app
    assert admin.portal is not None
    admin.portal.call(app.state.background.deploy_runner.stop)  # type: ignore[attr-defined]
    with version_health(tmp_path / "live") as health:
        apply_pipeline(admin, command_pipeline(tmp_path, health.url))
    database = app.state.database  # type: ignore[attr-defined]
    runners = [
        DeployRunner(database, app.state.telemetry, f"runner-{n}")  # type: ignore[attr-defined]
        for n in range(6)
    ]
    barrier = threading.Barrier(len(runners))
    claimed: dict[str, list[int]] = {}

    def claim(runner: DeployRunner) -> None:
        barrier.wait()
        claimed[runner.instance_id] = runner._claim()

    for round_number in range(3):
        for version in ("2.0.0", "2.0.1"):
            start(admin, f"{version}-{round_number}")
        threads = [threading.Thread(target=claim, args=(r,)) for r in runners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [ids for ids in claimed.values() if ids]
        assert len(winners) == 1 and len(winners[0]) == 1, claimed
        for runner in runners:
            runner._release_slot("shop", "production")
        runners[0]._write_outcome(winners[0][0], "cancelled", "claimed by the test")


def test_a_deploy_whose_server_died_is_failed_and_the_next_one_runs(
    admin: TestClient, tmp_path: Path
) -> None:
    """A runner that took a deploy and died leaves a lease that runs out; then its deploy is
    marked failed and the queue moves on."""
    add_service(admin)
    app = admin.app
    assert admin.portal is not None
    runner = app.state.background.deploy_runner  # type: ignore[attr-defined]
    admin.portal.call(runner.stop)
    with version_health(tmp_path / "live") as health:
        apply_pipeline(admin, command_pipeline(tmp_path, health.url))
        orphan = start(admin, "1.0.0")
        dead = DeployRunner(app.state.database, app.state.telemetry, "dead-server")  # type: ignore[attr-defined]
        assert dead._claim() == [orphan]
        next_one = start(admin, "1.0.1")
        past = utcnow() - timedelta(seconds=1)
        with app.state.database.engine.begin() as connection:  # type: ignore[attr-defined]
            connection.execute(update(Deploy).values(lease_until=past))
            connection.execute(update(DeployLock).values(lease_until=past))

        admin.portal.call(runner.start)
        finished = wait_for(admin, next_one)
        orphaned = wait_for(admin, orphan)

    assert finished["status"] == "succeeded"
    assert orphaned["status"] == "failed"
    assert orphaned["reason"] == "abandoned: the server process running it stopped"


def test_secrets_from_the_servers_environment_and_hidden_from_readers(
    admin: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_service(admin)
    monkeypatch.setenv("SHOP_DEPLOY_KEY", "from-the-server-env")
    live = tmp_path / "live"
    source = f"""service: shop
environments:
  - name: production
    test: echo testing with $DEPLOY_KEY and $LITERAL
    deploy:
      target: command
      command: echo {{version}} > {live}
      secrets: {{DEPLOY_KEY: "${{SHOP_DEPLOY_KEY}}", LITERAL: very-secret-literal}}
    verify: {{bake: 0}}
  - name: staging
    deploy:
      target: command
      command: "true"
      secrets: {{KEY: "${{NOT_SET_ANYWHERE}}"}}
    verify: {{bake: 0}}
"""
    apply_pipeline(admin, source)
    deploy = wait_for(admin, start(admin, "1.0.0"))
    assert deploy["status"] == "succeeded", deploy
    assert "testing with **** and ****" in stage(deploy, "test")["log"]

    missing = wait_for(admin, start(admin, "1.0.0", environment="staging"))
    assert missing["status"] == "failed"
    assert (
        "the server has no environment variable NOT_SET_ANYWHERE" in stage(missing, "deploy")["log"]
    )

    shown = admin.get("/api/v1/services/shop/pipeline").json()["source"]
    assert "very-secret-literal" not in shown and "LITERAL: ****" in shown
    assert "${SHOP_DEPLOY_KEY}" in shown

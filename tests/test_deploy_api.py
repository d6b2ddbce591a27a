"""The deploy API around the runner: pipeline validation with lines and fields, freeze windows
and their audited override, manual locks, externally performed deploys and their markers."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from tests.at_once import at_once
from tests.conftest import ADMIN_TOKEN, LiveServer, token_for
from tests.deploy_helpers import add_service, apply_pipeline, start, version_health, wait_for

BROKEN = """service: shop
environments:
  - name: production
    test: true
    deploy:
      target: command
      command: ./deploy.sh {service} {release}
      timeout: 0
    verify:
      health_url: ftp://shop/healthz
      bake_time: 30
"""


def pipeline(health_url: str, live: Path) -> str:
    return f"""service: shop
environments:
  - name: production
    deploy:
      target: command
      command: echo {{version}} > {live}
    verify: {{bake: 0, health_url: "{health_url}"}}
"""


def test_pipeline_check_names_the_line_and_field_of_each_problem(admin: TestClient) -> None:
    response = admin.post("/api/v1/pipelines/check", json={"source": BROKEN})

    assert response.status_code == 200
    assert response.json()["valid"] is False
    problems = [(p["line"], p["field"]) for p in response.json()["problems"]]
    assert problems == [
        (4, "environments[0].test"),
        (7, "environments[0].deploy.command"),
        (8, "environments[0].deploy.timeout"),
        (10, "environments[0].verify.health_url"),
        (11, "environments[0].verify.bake_time"),
    ]
    messages = " ".join(p["message"] for p in response.json()["problems"])
    assert "unknown placeholder {release}" in messages and "unknown field" in messages


def test_applying_a_broken_pipeline_is_refused_and_changes_nothing(admin: TestClient) -> None:
    add_service(admin)
    response = admin.put("/api/v1/pipelines", json={"source": BROKEN})

    assert response.status_code == 422
    assert response.json()["detail"].startswith("line 4: environments[0].test:")
    assert admin.get("/api/v1/services/shop/pipeline").status_code == 404
    bad_yaml = admin.put("/api/v1/pipelines", json={"source": "service: [shop\n"})
    assert bad_yaml.status_code == 422 and "not valid YAML" in bad_yaml.json()["detail"]
    unknown = admin.put("/api/v1/pipelines", json={"source": BROKEN.replace("shop", "nope")})
    assert unknown.status_code == 422


def test_a_deploy_of_an_unknown_environment_or_service_is_refused(
    admin: TestClient, tmp_path: Path
) -> None:
    add_service(admin)
    apply_pipeline(admin, pipeline("http://127.0.0.1:9/healthz", tmp_path / "live"))

    staging = admin.post(
        "/api/v1/services/shop/deploys", json={"version": "1", "environment": "staging"}
    )
    assert staging.status_code == 422 and "has no 'staging'" in staging.json()["detail"]
    other = admin.post("/api/v1/services/cart/deploys", json={"version": "1"})
    assert other.status_code == 404 and "no pipeline" in other.json()["detail"]
    spaced = admin.post("/api/v1/services/shop/deploys", json={"version": "1 ; rm -rf"})
    assert spaced.status_code == 422
    assert admin.get("/api/v1/deploys").json() == []


def test_a_freeze_blocks_deploys_and_an_override_with_a_reason_passes_audited(
    admin: TestClient, tmp_path: Path
) -> None:
    add_service(admin)
    with version_health(tmp_path / "live") as health:
        apply_pipeline(admin, pipeline(health.url, tmp_path / "live"))
        freeze = admin.post(
            "/api/v1/freeze-windows",
            json={
                "name": "always",
                "cron": "* * * * *",
                "duration_minutes": 5,
                "timezone": "Europe/Berlin",
                "environment": "production",
            },
        )
        assert freeze.status_code == 201, freeze.text

        blocked = admin.post("/api/v1/services/shop/deploys", json={"version": "1.0.0"})
        assert blocked.status_code == 409
        assert "frozen ('always'" in blocked.json()["detail"]
        assert admin.get("/api/v1/deploys").json() == []

        deploy_id = start(admin, "1.0.0", freeze_override="hotfix for the checkout outage")
        deploy = wait_for(admin, deploy_id)

    assert deploy["status"] == "succeeded"
    assert deploy["freeze_override"] == "hotfix for the checkout outage"
    audit = admin.get("/api/v1/audit", params={"action": "deploy.freeze_override"}).json()
    assert len(audit) == 1
    assert audit[0]["details"]["reason"] == "hotfix for the checkout outage"
    assert audit[0]["details"]["window"] == "always"


def test_freeze_windows_with_bad_cron_or_zone_are_refused(admin: TestClient) -> None:
    base = {"name": "x", "cron": "0 16 * * 5", "duration_minutes": 60}
    bad_cron = admin.post("/api/v1/freeze-windows", json=base | {"cron": "0 25 * * *"})
    assert bad_cron.status_code == 422 and bad_cron.json()["detail"].startswith("cron: hour")
    bad_zone = admin.post("/api/v1/freeze-windows", json=base | {"timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 422 and "timezone" in bad_zone.json()["detail"]
    assert admin.get("/api/v1/freeze-windows").json() == []


def test_a_manual_lock_blocks_deploys_and_only_its_holder_or_an_admin_lifts_it(
    admin: TestClient, tmp_path: Path
) -> None:
    add_service(admin)
    apply_pipeline(admin, pipeline("http://127.0.0.1:9/healthz", tmp_path / "live"))
    alice = {"Authorization": f"Bearer {token_for(admin, 'alice', ['deploy'])}"}
    bob = {"Authorization": f"Bearer {token_for(admin, 'bob', ['deploy'])}"}
    taken = admin.post(
        "/api/v1/locks",
        headers=alice,
        json={"service": "shop", "environment": "production", "reason": "incident in progress"},
    )
    assert taken.status_code == 201

    refused = admin.post("/api/v1/services/shop/deploys", json={"version": "2"}, headers=bob)
    assert refused.status_code == 409
    assert "locked by alice: incident in progress" in refused.json()["detail"]
    assert admin.delete("/api/v1/locks/shop/production", headers=bob).status_code == 403
    assert admin.get("/api/v1/locks").json()[0]["reason"] == "incident in progress"

    assert admin.delete("/api/v1/locks/shop/production").status_code == 204
    broken = admin.get("/api/v1/audit", params={"action": "deploy_lock.break"}).json()
    assert broken[0]["details"]["locked_by"] == "alice"
    assert admin.get("/api/v1/locks").json() == []


def test_an_external_deploy_is_recorded_with_a_marker(admin: TestClient) -> None:
    response = admin.post(
        "/api/v1/deploys",
        json={
            "service": "billing",
            "environment": "production",
            "version": "7.1.0",
            "commit": "DEADBEEF",
            "actor": "ci",
        },
    )
    assert response.status_code == 201, response.text
    deploy = response.json()
    assert (deploy["kind"], deploy["status"], deploy["commit"]) == (
        "external",
        "succeeded",
        "deadbeef",
    )
    listed = admin.get("/api/v1/deploys", params={"service": "billing"}).json()
    assert [d["id"] for d in listed] == [deploy["id"]]
    store = admin.app.state.telemetry  # type: ignore[attr-defined]
    store.flush()
    assert list(store.query("SELECT kind, title FROM fullcycle.markers")) == [
        ("deploy", "billing 7.1.0 by ci")
    ]
    bad = admin.post(
        "/api/v1/deploys", json={"service": "billing", "version": "1", "outcome": "exploded"}
    )
    assert bad.status_code == 422


def test_reading_deploys_needs_a_token_and_starting_them_the_deploy_scope(
    admin: TestClient, tmp_path: Path
) -> None:
    add_service(admin)
    apply_pipeline(admin, pipeline("http://127.0.0.1:9/healthz", tmp_path / "live"))
    reader = {"Authorization": f"Bearer {token_for(admin, 'rita', ['read'])}"}
    assert admin.get("/api/v1/deploys", headers=reader).status_code == 200
    started = admin.post("/api/v1/services/shop/deploys", json={"version": "1"}, headers=reader)
    assert started.status_code == 403
    assert admin.get("/api/v1/deploys", headers={"Authorization": ""}).status_code == 401


def test_the_sample_pipeline_is_valid(admin: TestClient) -> None:
    source = (Path(__file__).parent.parent / "examples" / "shop" / "fullcycle.yaml").read_text()
    answer = admin.post("/api/v1/pipelines/check", json={"source": source}).json()
    assert answer == {
        "valid": True,
        "problems": [],
        "service": "shop",
        "environments": ["production"],
    }


def test_people_locking_the_same_new_slot_at_once_get_one_lock_and_clear_refusals(
    live_server: LiveServer,
) -> None:
    """The lock's row is made by whoever comes first (a person or the runner); the others used
    to fail on its unique constraint with a conflict instead of being told who holds it."""
    people = 6
    for round_number in range(8):
        environment = f"stage-{round_number}"

        def lock(person: int, environment: str = environment) -> httpx.Response:
            return httpx.post(
                f"{live_server.url}/api/v1/locks",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                json={"service": "shop", "environment": environment, "reason": f"person {person}"},
                timeout=30,
            )

        answers = at_once(people, lock)

        assert sorted(a.status_code for a in answers) == [201] + [409] * (people - 1)
        refusals = [a.json()["detail"] for a in answers if a.status_code == 409]
        assert all(f"shop/{environment} is already locked by" in r for r in refusals), refusals

"""On-call through the API: a team's schedule, who is on call now and next at a given time,
an override, the same answer for a service its team owns; bad schedules are refused."""

from __future__ import annotations

from fastapi.testclient import TestClient

SCHEDULE = {
    "name": "primary",
    "rotation": "daily",
    "handoff": "09:00",
    "timezone": "Europe/Berlin",
    "start_date": "2026-03-27",
    "participants": ["ana", "ben", "cem"],
}


def setup_team(admin: TestClient) -> int:
    assert admin.post("/api/v1/teams", json={"name": "team-shop"}).status_code == 201
    service = {"name": "shop", "owners": ["team-shop"]}
    assert admin.post("/api/v1/services", json=service).status_code == 201
    created = admin.post("/api/v1/teams/team-shop/oncall-schedules", json=SCHEDULE)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def test_who_is_on_call_now_and_next_for_a_team_and_its_service(admin: TestClient) -> None:
    schedule_id = setup_team(admin)
    at = {"at": "2026-03-29T06:30:00Z"}  # Sunday 08:30 CEST, the day of the spring change
    (schedule,) = admin.get("/api/v1/teams/team-shop/oncall", params=at).json()
    assert schedule["now"] == {
        "user": "ben",
        "from": "2026-03-28T08:00:00+00:00",
        "until": "2026-03-29T07:00:00+00:00",
        "override": False,
    }
    assert schedule["next"]["user"] == "cem"

    override = {
        "user": "dora",
        "starts_at": "2026-03-29T07:00:00Z",
        "ends_at": "2026-03-30T07:00:00Z",
    }
    response = admin.post(f"/api/v1/oncall-schedules/{schedule_id}/overrides", json=override)
    assert response.status_code == 201, response.text
    (for_service,) = admin.get("/api/v1/services/shop/oncall", params=at).json()
    assert for_service["now"]["user"] == "ben"
    assert for_service["next"] == {
        "user": "dora",
        "from": "2026-03-29T07:00:00+00:00",
        "until": "2026-03-30T07:00:00+00:00",
        "override": True,
    }


def test_bad_schedules_and_overrides_are_refused(admin: TestClient) -> None:
    schedule_id = setup_team(admin)
    bad_zone = admin.post(
        "/api/v1/teams/team-shop/oncall-schedules",
        json={**SCHEDULE, "name": "other", "timezone": "Mars/Olympus"},
    )
    assert bad_zone.status_code == 422 and "unknown time zone" in bad_zone.text
    twice = admin.post("/api/v1/teams/team-shop/oncall-schedules", json=SCHEDULE)
    assert twice.status_code == 409
    no_team = admin.post("/api/v1/teams/nobody/oncall-schedules", json=SCHEDULE)
    assert no_team.status_code == 404
    backwards = admin.post(
        f"/api/v1/oncall-schedules/{schedule_id}/overrides",
        json={"user": "x", "starts_at": "2026-03-30T00:00:00Z", "ends_at": "2026-03-29T00:00:00Z"},
    )
    assert backwards.status_code == 422
    assert len(admin.get("/api/v1/teams/team-shop/oncall").json()) == 1


def test_the_service_page_shows_who_is_on_call(admin: TestClient) -> None:
    setup_team(admin)
    page = admin.get("/services/shop")
    assert page.status_code == 200
    oncall = page.text.split('data-testid="service-oncall"')[1].split("</table>")[0]
    assert "team-shop/primary" in oncall
    assert any(name in oncall for name in ("ana", "ben", "cem"))
    assert "Nothing is firing" in page.text

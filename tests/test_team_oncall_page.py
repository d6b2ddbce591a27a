"""The team page says who is on call now and next in each of the team's schedules, as the
on-call API does; a team without a schedule says how to make one."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.test_oncall_api import SCHEDULE, setup_team


def cells(page: str, testid: str) -> list[str]:
    found = re.findall(rf'data-testid="{testid}">(.*?)</td>', page)
    return [html.unescape(cell) for cell in found]


def test_the_team_page_shows_who_is_on_call_now_and_next(admin: TestClient) -> None:
    setup_team(admin)
    second = {**SCHEDULE, "name": "secondary", "rotation": "weekly", "participants": ["dora"]}
    assert admin.post("/api/v1/teams/team-shop/oncall-schedules", json=second).status_code == 201
    schedules = admin.get("/api/v1/teams/team-shop/oncall").json()

    page = admin.get("/teams/team-shop")
    assert page.status_code == 200
    assert cells(page.text, "oncall-now") == [s["now"]["user"] for s in schedules]
    assert cells(page.text, "oncall-next") == [s["next"]["user"] for s in schedules]
    assert [s["name"] for s in schedules] == ["primary", "secondary"]
    assert "daily, handoff 09:00 Europe/Berlin" in page.text


def test_a_team_without_a_schedule_says_so(admin: TestClient) -> None:
    assert admin.post("/api/v1/teams", json={"name": "team-quiet"}).status_code == 201
    page = admin.get("/teams/team-quiet")
    assert "team-quiet has no on-call schedule" in page.text
    assert 'data-testid="team-oncall"' not in page.text


def shown_time(iso: str) -> str:
    """How the pages print a moment: `m.when`'s <time> element, minutes in UTC."""
    moment = datetime.fromisoformat(iso).astimezone(UTC)
    return f'<time datetime="{moment.isoformat()}"'


def test_handoff_times_read_like_every_other_time_on_the_pages(admin: TestClient) -> None:
    """The on-call API's ISO text was printed as it is ("2026-11-30T08:00:00+00:00") on the
    team and service pages, beside columns of "2026-11-27 16:55"."""
    setup_team(admin)
    (schedule,) = admin.get("/api/v1/teams/team-shop/oncall").json()
    until, next_from = schedule["now"]["until"], schedule["next"]["from"]

    for path in ("/teams/team-shop", "/services/shop"):
        page = admin.get(path).text
        assert f">{until}<" not in page, path
        assert shown_time(until) in page, path
    team_page = admin.get("/teams/team-shop").text
    assert f">{next_from}<" not in team_page and shown_time(next_from) in team_page


def test_a_service_without_an_on_call_contact_names_who_its_schedule_has_on_call(
    admin: TestClient,
) -> None:
    """The service page said "On call: not set" in warning colours right above the table of
    its team's schedule with someone on call in it."""
    setup_team(admin)
    (schedule,) = admin.get("/api/v1/teams/team-shop/oncall").json()

    page = admin.get("/services/shop").text
    (on_call,) = re.findall(r"<dt>On call</dt>\s*<dd[^>]*>(.*?)</dd>", page, re.S)
    assert "not set" not in on_call
    assert schedule["now"]["user"] in on_call and "team-shop/primary" in on_call

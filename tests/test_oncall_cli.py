"""`fullcycle oncall` and `fullcycle contacts` against a real server over HTTP: who is on call
for a service and a team, an override given as TEAM/NAME with relative times, and a person
adding and removing their own contact methods (and refused someone else's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from fullcycle.cli.main import app
from tests.conftest import ADMIN_TOKEN, LiveServer

pytestmark = [
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("cli_against_live_server"),
]

SCHEDULE = {
    "name": "primary",
    "rotation": "weekly",
    "handoff": "09:00",
    "timezone": "Europe/Berlin",
    "start_date": "2026-01-05",
    "participants": ["ana", "ben"],
}


@pytest.fixture
def admin_api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with live_server.admin_client() as client:
        assert client.post("/api/v1/teams", json={"name": "team-shop"}).status_code == 201
        service = {"name": "shop", "owners": ["team-shop"]}
        assert client.post("/api/v1/services", json=service).status_code == 201
        created = client.post("/api/v1/teams/team-shop/oncall-schedules", json=SCHEDULE)
        assert created.status_code == 201, created.text
        yield client


def fullcycle(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def on_call(*args: str) -> list[dict[str, Any]]:
    shown = fullcycle("oncall", "show", *args, "--json")
    assert shown.exit_code == 0, shown.output
    return list(json.loads(shown.output))


def test_who_is_on_call_for_a_service_and_a_team_and_an_override(admin_api: httpx.Client) -> None:
    at = "2026-11-25T12:00:00Z"  # a Wednesday: the week that began on Monday the 23rd
    (for_service,) = on_call("shop", "--at", at)
    assert (for_service["name"], for_service["now"]["user"], for_service["next"]["user"]) == (
        "primary",
        on_call("--team", "team-shop", "--at", at)[0]["now"]["user"],
        {"ana": "ben", "ben": "ana"}[for_service["now"]["user"]],
    )
    table = fullcycle("oncall", "show", "shop")
    assert table.exit_code == 0, table.output
    assert "team-shop/primary" in table.output and "weekly, 09:00 Europe/Berlin" in table.output

    cover = fullcycle(
        "oncall",
        "override",
        "team-shop/primary",
        "--user",
        "cem",
        "--from",
        "now",
        "--to",
        "now+8h",
    )
    assert cover.exit_code == 0, cover.output
    assert "now: cem" in cover.output
    (now,) = on_call("shop")
    assert now["now"]["user"] == "cem" and now["now"]["override"] is True
    until = datetime.fromisoformat(now["now"]["until"])
    assert timedelta(hours=7, minutes=58) < until - datetime.now(UTC) <= timedelta(hours=8)


def test_bad_on_call_requests_are_refused_with_what_to_give(admin_api: httpx.Client) -> None:
    neither = fullcycle("oncall", "show")
    assert neither.exit_code == 1 and "--team TEAM" in neither.output
    unknown = fullcycle("oncall", "show", "no-such-service")
    assert unknown.exit_code == 1 and "no-such-service" in unknown.output
    bad_time = fullcycle("oncall", "show", "shop", "--at", "tomorrow")
    assert bad_time.exit_code == 1 and "--at 'tomorrow'" in bad_time.output
    no_zone = fullcycle(
        "oncall", "override", "team-shop/primary", "--user", "cem", "--to", "2026-12-01T10:00"
    )
    assert no_zone.exit_code == 1 and "with its zone" in no_zone.output
    no_schedule = fullcycle(
        "oncall", "override", "team-shop/backup", "--user", "cem", "--to", "now+1h"
    )
    assert no_schedule.exit_code == 1 and "no on-call schedule named 'backup'" in no_schedule.output
    backwards = fullcycle(
        "oncall", "override", "team-shop/primary", "--user", "cem", "--to", "now-1h"
    )
    assert backwards.exit_code == 1 and "ends_at must be after starts_at" in backwards.output
    (unchanged,) = on_call("shop")
    assert unchanged["now"]["override"] is False


def test_a_person_manages_their_own_contact_methods(
    admin_api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ana", "ben"):
        user = {"name": name, "password": f"{name}-password-1"}
        assert admin_api.post("/api/v1/users", json=user).status_code == 201
    login = {"username": "ana", "password": "ana-password-1", "token_name": "cli"}
    token = admin_api.post("/api/v1/auth/login", json=login)
    assert token.status_code == 201, token.text
    monkeypatch.setenv("FULLCYCLE_TOKEN", token.json()["token"])

    added = fullcycle("contacts", "add", "work-mail", "--email", "ana@shop.example")
    assert added.exit_code == 0, added.output
    hook = fullcycle("contacts", "add", "phone", "--webhook", "https://push.example/t/secret-9")
    assert hook.exit_code == 0, hook.output
    mine = json.loads(fullcycle("contacts", "list", "--json").output)
    assert [(m["label"], m["kind"], m["address"]) for m in mine] == [
        ("phone", "webhook", "https://push.example/…"),
        ("work-mail", "email", "ana@shop.example"),
    ]
    assert "secret-9" not in fullcycle("contacts", "list").output

    others = fullcycle("contacts", "add", "x", "--email", "x@shop.example", "--user", "ben")
    assert others.exit_code == 1 and "only the person themselves or an admin" in others.output
    two = fullcycle("contacts", "add", "x", "--email", "x@shop.example", "--slack", "https://a.b")
    assert two.exit_code == 1 and "exactly one of" in two.output
    bad = fullcycle("contacts", "add", "pager", "--webhook", "ftp://nowhere")
    assert bad.exit_code == 1 and "http(s) URL" in bad.output

    removed = fullcycle("contacts", "remove", "phone")
    assert removed.exit_code == 0, removed.output
    monkeypatch.setenv("FULLCYCLE_TOKEN", ADMIN_TOKEN)
    seen_by_admin = json.loads(fullcycle("contacts", "list", "ana", "--json").output)
    assert [m["label"] for m in seen_by_admin] == ["work-mail"]
    assert json.loads(fullcycle("contacts", "list", "--json").output) == []

"""Routing to the person on call, end to end: a rule fires from ingested samples, the person
on call (an override in the team's rotation) gets the alert by e-mail on a real SMTP server
(aiosmtpd) through their own contact method; nobody acknowledges, so the next level (the
whole team) is notified; acknowledging stops it. People manage their own contact methods."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient

from fullcycle.alerting.notify.email import mail_relay
from tests.conftest import token_for
from tests.test_alert_evaluation import (
    METRIC_RULES,
    T0,
    Alerting,
    Clock,
    alerts,
    apply,
    quiet,
    quiet_settings,
    write_samples,
)
from tests.test_alert_rules import add_service
from tests.test_notify_channels import Mailbox, smtp_server

__all__ = ["quiet", "quiet_settings", "smtp_server"]  # fixtures


def iso(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def setup_team(client: TestClient) -> None:
    for name in ("ana", "ben"):
        user = {"name": name, "email": f"{name}@people.example"}
        assert client.post("/api/v1/users", json=user).status_code == 201
    team = {"name": "team-shop", "members": ["ana", "ben"]}
    assert client.post("/api/v1/teams", json=team).status_code == 201
    add_service(client)
    schedule = {
        "name": "primary",
        "rotation": "weekly",
        "handoff": "09:00",
        "timezone": "Europe/Berlin",
        "start_date": "2026-01-05",
        "participants": ["ben"],
    }
    created = client.post("/api/v1/teams/team-shop/oncall-schedules", json=schedule)
    assert created.status_code == 201, created.text
    override = {"user": "ana", "starts_at": iso(-60), "ends_at": iso(120)}  # "I'll take it"
    response = client.post(
        f"/api/v1/oncall-schedules/{created.json()['id']}/overrides", json=override
    )
    assert response.status_code == 201, response.text


def add_email(client: TestClient, user: str, address: str) -> None:
    body = {"label": "work", "kind": "email", "address": address}
    response = client.post(f"/api/v1/users/{user}/contact-methods", json=body)
    assert response.status_code == 201, response.text


def test_the_person_on_call_is_mailed_then_the_team_when_nobody_acknowledges(
    quiet: TestClient, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    setup_team(quiet)
    add_email(quiet, "ana", "ana@phone.example")
    add_email(quiet, "ben", "ben@phone.example")
    policy = {
        "levels": [
            {"after_minutes": 0, "schedules": ["primary"]},
            {"after_minutes": 5, "team": True},
        ]
    }
    response = quiet.put("/api/v1/teams/team-shop/escalation-policy", json=policy)
    assert response.status_code == 200, response.text
    write_samples(quiet, [(i / 4, 500.0 if i >= 20 else 50.0) for i in range(200)])
    apply(quiet, METRIC_RULES.replace("for: 1m", "for: 0s"))
    clock = Clock(T0)
    alerting = Alerting(quiet, clock)
    alerting.dispatcher.mail_relay = mail_relay(
        f"smtp://127.0.0.1:{port}", "alerts@fullcycle.example"
    )

    def mailed_at(minutes: float) -> list[tuple[list[str], str]]:
        clock.at(minutes)
        before = len(mailbox.messages)
        alerting.tick()
        return [(env.rcpt_tos, str(mail["Subject"])) for env, mail in mailbox.messages[before:]]

    assert mailed_at(5.5) == []  # fires; the on-call person's group waits 30 s
    assert mailed_at(6) == [(["ana@phone.example"], "[FIRING] QueueTooDeep on shop")]
    assert mailed_at(10) == []
    assert mailed_at(10.5) == []  # level 2 reached: the team's groups wait 30 s
    assert sorted(mailed_at(11)) == [
        (["ana@phone.example"], "[FIRING] QueueTooDeep on shop"),
        (["ben@phone.example"], "[FIRING] QueueTooDeep on shop"),
    ]
    (alert,) = alerts(quiet)
    assert quiet.post(f"/api/v1/alerts/{alert['id']}/ack").status_code == 200
    assert [mailed_at(minutes) for minutes in (16, 21, 26)] == [[], [], []]

    mail = mailbox.messages[0][1]
    assert mail["From"] == "alerts@fullcycle.example"
    text = mail.get_body(("plain",))
    assert text is not None and "acknowledge: http://fullcycle.test/alerts/" in text.get_content()
    detail = quiet.get(f"/api/v1/alerts/{alert['id']}").json()
    assert [(n["receiver"], n["status"]) for n in detail["notifications"]] == [
        ("@ana/work", "sent"),
        ("@ana/work", "sent"),
        ("@ben/work", "sent"),
    ]


def test_a_level_reached_after_a_handoff_goes_to_the_new_person_on_call(
    quiet: TestClient, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    setup_team(quiet)  # ana's override ends at 120 minutes; then ben is on call
    add_email(quiet, "ana", "ana@phone.example")
    add_email(quiet, "ben", "ben@phone.example")
    policy = {"levels": [{"after_minutes": 60, "schedules": ["primary"]}], "repeat": 1}
    assert quiet.put("/api/v1/teams/team-shop/escalation-policy", json=policy).status_code == 200
    write_samples(quiet, [(i, 500.0 if i >= 5 else 50.0) for i in range(200)])
    apply(quiet, METRIC_RULES.replace("for: 1m", "for: 0s").replace("15s", "1m"))
    clock = Clock(T0)
    alerting = Alerting(quiet, clock)
    alerting.dispatcher.mail_relay = mail_relay(f"smtp://127.0.0.1:{port}", "a@fullcycle.example")
    for minutes in range(5, 190, 1):
        clock.at(minutes)
        alerting.tick()
    assert [envelope.rcpt_tos for envelope, _ in mailbox.messages] == [
        ["ana@phone.example"],  # level 1 after an hour: ana's override
        ["ben@phone.example"],  # the repeat an hour later: ben on call again
    ]


def test_people_manage_their_own_contact_methods_and_urls_are_masked(
    admin: TestClient,
) -> None:
    ben = token_for(admin, "ben", ["read"], can_deploy=False)
    token_for(admin, "cem", ["read"])
    as_ben = {"Authorization": f"Bearer {ben}"}
    hook = {"label": "pager", "kind": "webhook", "address": "https://hooks.example/T0/secret-x"}
    created = admin.post("/api/v1/users/ben/contact-methods", json=hook, headers=as_ben)
    assert created.status_code == 201, created.text
    assert created.json()["address"] == "https://hooks.example/…"
    assert created.json()["group_wait"] == "30s"
    mail = {"label": "mail", "kind": "email", "address": "ben@people.example"}
    assert admin.post("/api/v1/users/ben/contact-methods", json=mail).status_code == 201  # admin

    others = admin.post(
        "/api/v1/users/cem/contact-methods", json={**hook, "label": "x"}, headers=as_ben
    )
    assert others.status_code == 403
    twice = admin.post("/api/v1/users/ben/contact-methods", json=hook, headers=as_ben)
    assert twice.status_code == 409
    bad = admin.post(
        "/api/v1/users/ben/contact-methods",
        json={"label": "m2", "kind": "email", "address": "not-an-address"},
    )
    assert bad.status_code == 422 and "is not an e-mail address" in bad.text
    nobody = admin.post("/api/v1/users/nobody/contact-methods", json=hook)
    assert nobody.status_code == 404

    listed = admin.get("/api/v1/users/ben/contact-methods").json()
    assert [(m["label"], m["kind"], m["address"]) for m in listed] == [
        ("mail", "email", "ben@people.example"),
        ("pager", "webhook", "https://hooks.example/…"),
    ]
    assert admin.get("/api/v1/alert-receivers").json() == []  # listed per person only
    page = admin.get("/users/ben")
    section = page.text.split('data-testid="contact-methods"')[1].split("</table>")[0]
    assert "ben@people.example" in section and "https://hooks.example/…" in section
    assert "secret-x" not in page.text and "secret-x" not in json.dumps(listed)

    removed = admin.delete("/api/v1/users/ben/contact-methods/pager", headers=as_ben)
    assert removed.status_code == 200
    assert [m["label"] for m in admin.get("/api/v1/users/ben/contact-methods").json()] == ["mail"]


def test_escalation_levels_naming_unknown_schedules_or_people_are_refused(
    quiet: TestClient,
) -> None:
    setup_team(quiet)
    put = "/api/v1/teams/team-shop/escalation-policy"
    schedule = quiet.put(put, json={"levels": [{"after_minutes": 0, "schedules": ["nope"]}]})
    assert schedule.status_code == 422 and "no on-call schedule named nope" in schedule.text
    person = quiet.put(put, json={"levels": [{"after_minutes": 0, "users": ["zoe"]}]})
    assert person.status_code == 422 and "no user named zoe" in person.text
    empty = quiet.put(put, json={"levels": [{"after_minutes": 0}]})
    assert empty.status_code == 422 and "a level needs" in empty.text
    other_team = quiet.put(
        put, json={"levels": [{"after_minutes": 0, "schedules": ["team-shop/primary"]}]}
    )
    assert other_team.status_code == 200

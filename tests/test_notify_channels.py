"""Each channel against what the real service takes: e-mail to a real SMTP server (aiosmtpd)
with a plain-text and an HTML part; a Slack Block Kit message and PagerDuty Events v2 events
to real local HTTP receivers, with the links to the alert, dashboard, logs and suspect deploy.
Receivers' URLs and secrets are never shown back in full; incomplete receivers are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient

from tests.conftest import free_port
from tests.test_alert_evaluation import (
    AT_ONCE,
    METRIC_RULES,
    T0,
    Alerting,
    Clock,
    Receiver,
    apply,
    queue_depths,
    quiet,
    quiet_settings,
    write_samples,
)
from tests.test_alert_rules import add_service

__all__ = ["quiet", "quiet_settings"]  # fixtures
ROUTING_KEY = "R0123456789abcdefghijklmnopqrstu"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        mail = message_from_bytes(content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.messages.append((envelope, mail))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


def fire_and_resolve(client: TestClient, receiver: dict[str, Any]) -> None:
    """A receiver, the shop rule over ingested samples, a deploy just before: fires at 5.5
    minutes, resolves at 21."""
    add_service(client)
    created = client.post("/api/v1/alert-receivers", json={**receiver, **AT_ONCE})
    assert created.status_code == 201, created.text
    deploy = {"service": "shop", "version": "1.4.2", "outcome": "succeeded"}
    assert client.post("/api/v1/deploys", json=deploy).status_code == 201
    write_samples(client, queue_depths())
    apply(client, METRIC_RULES.replace("for: 1m", "for: 0s"))
    clock = Clock(T0 + timedelta(minutes=5.5))
    alerting = Alerting(client, clock)
    alerting.tick()
    clock.at(21)
    alerting.tick()


def test_email_goes_to_a_real_smtp_server_with_text_and_html_parts(
    quiet: TestClient, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    receiver = {
        "name": "oncall-mail",
        "kind": "email",
        "url": f"smtp://127.0.0.1:{port}",
        "options": {"to": ["oncall@shop.example"], "from": "alerts@fullcycle.example"},
    }
    fire_and_resolve(quiet, receiver)
    assert [m["Subject"] for _, m in mailbox.messages] == [
        "[FIRING] QueueTooDeep on shop",
        "[RESOLVED] QueueTooDeep on shop",
    ]
    envelope, mail = mailbox.messages[0]
    assert envelope.rcpt_tos == ["oncall@shop.example"]
    assert mail["From"] == "alerts@fullcycle.example"
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    plain = text.get_content()
    assert "queue of a at 500" in plain
    assert "owners: group:team-shop" in plain
    assert "suspect deploy: http://fullcycle.test/deploys/" in plain
    assert "logs: http://fullcycle.test/logs?q=service%3A%22shop%22" in plain
    assert "<h1>[FIRING] QueueTooDeep on shop</h1>" in html.get_content()


def test_an_unreachable_smtp_server_is_logged_as_a_failed_attempt(quiet: TestClient) -> None:
    receiver = {
        "name": "mail",
        "kind": "email",
        "url": f"smtp://127.0.0.1:{free_port()}",
        "options": {"to": ["a@b.example"]},
        "secret": "smtp-password-123456",
    }
    fire_and_resolve(quiet, receiver)
    (alert,) = quiet.get("/api/v1/alerts").json()
    delivery = quiet.get(f"/api/v1/alerts/{alert['id']}").json()["notifications"][0]
    # never delivered, and resolved meanwhile: not tried again (nor its resolution sent)
    assert (delivery["event"], delivery["status"]) == ("firing", "dropped")
    assert [a["outcome"] for a in delivery["attempts"]] == ["failed", "dropped"]
    assert delivery["attempts"][0]["error"].startswith("smtp://127.0.0.1:")
    assert "ConnectionRefusedError" in delivery["attempts"][0]["error"]
    listed = json.dumps(quiet.get("/api/v1/alert-receivers").json(), ensure_ascii=False)
    assert "smtp-password-123456" not in listed and "…3456" in listed


def test_slack_gets_a_block_kit_message_with_buttons(quiet: TestClient) -> None:
    with Receiver() as slack:
        fire_and_resolve(quiet, {"name": "slack", "kind": "slack", "url": slack.url})
    fired = slack.bodies[0]
    assert fired["text"] == "[FIRING] QueueTooDeep on shop"
    header, section, actions = fired["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "[FIRING] QueueTooDeep on shop"},
    }
    assert section["text"] == {"type": "mrkdwn", "text": "queue of a at 500"}
    assert {"type": "mrkdwn", "text": "*Owners*\ngroup:team-shop"} in section["fields"]
    assert {"type": "mrkdwn", "text": "*Value*\n500"} in section["fields"]
    buttons = {b["text"]["text"]: b["url"] for b in actions["elements"]}
    assert list(buttons) == ["Acknowledge", "Dashboard", "Logs", "Suspect deploy"]
    assert "/ack-link?token=" in buttons["Acknowledge"]
    assert buttons["Suspect deploy"].startswith("http://fullcycle.test/deploys/")
    assert all(b["type"] == "button" for b in actions["elements"])
    assert slack.bodies[1]["text"] == "[RESOLVED] QueueTooDeep on shop"


def test_pagerduty_gets_trigger_then_resolve_with_one_dedup_key(quiet: TestClient) -> None:
    with Receiver() as pagerduty:
        receiver = {"name": "pd", "kind": "pagerduty", "url": pagerduty.url, "secret": ROUTING_KEY}
        fire_and_resolve(quiet, receiver)
    trigger, resolve = pagerduty.bodies
    assert trigger["routing_key"] == ROUTING_KEY
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"]
    payload = trigger["payload"]
    assert payload["summary"] == "queue of a at 500"
    assert payload["source"] == "a"
    assert payload["severity"] in ("critical", "error", "warning", "info")
    assert payload["component"] == "shop" and payload["group"] == "QueueTooDeep"
    assert payload["custom_details"]["value"] == 500
    assert {link["text"] for link in trigger["links"]} == {
        "acknowledge",
        "alert",
        "dashboard",
        "logs",
        "suspect deploy",
    }
    listed = json.dumps(quiet.get("/api/v1/alert-receivers").json(), ensure_ascii=False)
    assert ROUTING_KEY not in listed and "hook/secret-token" not in listed


def test_incomplete_receivers_are_refused(quiet: TestClient) -> None:
    no_recipient = {"name": "m", "kind": "email", "url": "smtp://127.0.0.1:25"}
    refused = quiet.post("/api/v1/alert-receivers", json=no_recipient)
    assert refused.status_code == 422
    assert "options.to" in refused.text
    no_key = quiet.post("/api/v1/alert-receivers", json={"name": "p", "kind": "pagerduty"})
    assert no_key.status_code == 422 and "routing key" in no_key.text
    assert quiet.get("/api/v1/alert-receivers").json() == []


def test_the_acknowledge_link_in_a_notification_acknowledges_only_its_alert(
    quiet: TestClient,
) -> None:
    with Receiver() as slack:
        add_service(quiet)
        quiet.post(
            "/api/v1/alert-receivers",
            json={"name": "slack", "kind": "slack", "url": slack.url, **AT_ONCE},
        )
        write_samples(quiet, queue_depths())
        apply(quiet, METRIC_RULES.replace("for: 1m", "for: 0s"))
        Alerting(quiet, Clock(T0 + timedelta(minutes=5.5))).tick()
    (_, _, actions) = slack.bodies[0]["blocks"]
    link = actions["elements"][0]["url"].removeprefix("http://fullcycle.test")
    alert_path, token = link.split("/ack-link?token=")
    anonymous = {"Authorization": ""}

    opened = quiet.get(link, headers=anonymous)
    assert opened.status_code == 200
    assert "Acknowledge: I am on it" in opened.text
    (alert,) = quiet.get("/api/v1/alerts").json()
    assert alert["acknowledged_by"] == ""  # opening the link changes nothing

    wrong = quiet.post(
        f"{alert_path}/ack-link",
        data={"token": token[:-2] + "xx"},
        headers=anonymous,
        follow_redirects=False,
    )
    assert wrong.status_code == 303 and wrong.headers["location"].startswith("/login?next=")
    login = quiet.get(wrong.headers["location"], headers=anonymous)
    assert "That acknowledge link has expired or is not valid" in login.text
    other_alert = quiet.post(
        "/alerts/999/ack-link", data={"token": token}, headers=anonymous, follow_redirects=False
    )
    assert other_alert.status_code == 303

    done = quiet.post(f"{alert_path}/ack-link", data={"token": token}, headers=anonymous)
    assert done.status_code == 200 and "Acknowledged by link from slack" in done.text
    assert quiet.get("/api/v1/alerts").json()[0]["acknowledged_by"] == "link from slack"


def test_a_silence_is_announced_by_email_and_slack_in_a_few_lines(
    quiet: TestClient, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    add_service(quiet)
    with Receiver() as slack:
        receivers = [
            {
                "name": "mail",
                "kind": "email",
                "url": f"smtp://127.0.0.1:{port}",
                "options": {"to": ["oncall@shop.example"]},
            },
            {"name": "chat", "kind": "slack", "url": slack.url, "service": "shop"},
        ]
        for receiver in receivers:
            assert quiet.post("/api/v1/alert-receivers", json=receiver).status_code == 201
        silence = {
            "matchers": [{"name": "service", "value": "shop"}, {"name": "alertname", "value": "X"}],
            "duration": "1h",
            "comment": "planned <maintenance>",
        }
        created = quiet.post("/api/v1/silences", json=silence).json()
        Alerting(quiet, Clock(datetime.now(UTC))).tick()
    ((envelope, mail),) = mailbox.messages
    assert envelope.rcpt_tos == ["oncall@shop.example"]
    assert mail["Subject"] == '[SILENCE CREATED] service="shop", alertname="X"'
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    assert text.get_content().splitlines() == [
        f"Silence {created['id']} by admin mutes matching alerts: "
        f"from {created['starts_at']} until {created['ends_at']}",
        "comment: planned <maintenance>",
        "silences: http://fullcycle.test/alerts",
    ]
    assert "planned &lt;maintenance&gt;" in html.get_content()
    (message,) = slack.bodies
    assert message["text"] == '[SILENCE CREATED] service="shop", alertname="X"'
    assert "planned <maintenance>" in message["blocks"][1]["elements"][0]["text"]

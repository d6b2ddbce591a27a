"""The Slack channel: a Block Kit message to an incoming webhook, with the summary, the value,
the service and its owners, and buttons to the alert (to acknowledge), the dashboard, the logs
and the suspect deploy."""

from __future__ import annotations

from typing import Any

import httpx

from fullcycle.alerting.notify.message import (
    AlertItem,
    Message,
    SilenceMessage,
    Target,
    post_json,
)

BUTTONS = (
    ("acknowledge", "Acknowledge"),
    ("dashboard", "Dashboard"),
    ("logs", "Logs"),
    ("suspect_deploy", "Suspect deploy"),
)


def _text(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _alert_blocks(item: AlertItem) -> list[dict[str, Any]]:
    summary = item.annotations.get("summary") or item.labels.get("alertname", "")
    fields = [
        _text(f"*Service*\n{item.labels.get('service', '')}"),
        _text(f"*Severity*\n{item.labels.get('severity', '')}"),
        _text(f"*Value*\n{item.value:g}"),
        _text(f"*Owners*\n{item.owners or '—'}"),
    ]
    buttons = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": label},
            "url": item.links[key],
            "action_id": key,
        }
        for key, label in BUTTONS
        if item.links.get(key)
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": _text(summary), "fields": fields},
    ]
    if item.annotations.get("description"):
        blocks.append({"type": "context", "elements": [_text(item.annotations["description"])]})
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def payload(message: Message) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}}
    ]
    for item in message.alerts:
        blocks.extend(_alert_blocks(item))
    return {"text": message.title, "blocks": blocks}


def notice_payload(notice: SilenceMessage) -> dict[str, Any]:
    return {
        "text": notice.title,
        "blocks": [
            {"type": "section", "text": _text(f"*{notice.title}*")},
            {"type": "context", "elements": [_text("\n".join(notice.lines))]},
        ],
    }


class Slack:
    async def send(self, client: httpx.AsyncClient, target: Target, message: Message) -> None:
        await post_json(client, target.url, payload(message))

    async def announce(
        self, client: httpx.AsyncClient, target: Target, notice: SilenceMessage
    ) -> None:
        await post_json(client, target.url, notice_payload(notice))

"""The PagerDuty channel: Events API v2 (`trigger` when an alert fires, `resolve` when it
resolves, one incident per alert through `dedup_key`: a group's notification is one event per
alert); the routing key is the secret."""

from __future__ import annotations

from typing import Any

import httpx

from fullcycle.alerting.notify.message import (
    AlertItem,
    DeliveryFailed,
    Message,
    SilenceMessage,
    Target,
    post_json,
)

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info"}


def event(routing_key: str, status: str, item: AlertItem) -> dict[str, Any]:
    summary = item.annotations.get("summary") or item.labels.get("alertname", "")
    links = [{"href": href, "text": name.replace("_", " ")} for name, href in item.links.items()]
    return {
        "routing_key": routing_key,
        "event_action": "resolve" if status == "resolved" else "trigger",
        "dedup_key": f"fullcycle-{item.fingerprint}-{int(item.starts_at.timestamp())}",
        "payload": {
            "summary": summary[:1024],
            "source": item.labels.get("instance") or item.labels.get("service", ""),
            "severity": SEVERITIES.get(item.labels.get("severity", ""), "warning"),
            "timestamp": item.starts_at.isoformat(),
            "component": item.labels.get("service", ""),
            "group": item.labels.get("alertname", ""),
            "class": item.labels.get("severity", ""),
            "custom_details": {
                "value": item.value,
                "labels": item.labels,
                "annotations": item.annotations,
            },
        },
        "links": [link for link in links if link["href"].startswith("http")],
    }


class PagerDuty:
    async def send(self, client: httpx.AsyncClient, target: Target, message: Message) -> None:
        for item in message.alerts:
            await post_json(
                client, target.url or EVENTS_URL, event(target.secret, item.status, item)
            )

    async def announce(
        self, client: httpx.AsyncClient, target: Target, notice: SilenceMessage
    ) -> None:
        """Events API v2 has no place for a note: it would open an incident."""
        raise DeliveryFailed("PagerDuty receivers take no silence notices")

"""The webhook channel: the Alertmanager webhook payload (version 4), so that any receiver
written for Alertmanager takes fullcycle's notifications unchanged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from fullcycle.alerting.notify.message import (
    AlertItem,
    Message,
    SilenceMessage,
    Target,
    post_json,
)

ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(moment: datetime | None) -> str:
    if moment is None:
        return ZERO_TIME
    return moment.isoformat().replace("+00:00", "Z")


def _common(mappings: list[dict[str, str]]) -> dict[str, str]:
    """The pairs every mapping has (Alertmanager's commonLabels, commonAnnotations)."""
    if not mappings:
        return {}
    first, *rest = mappings
    return {k: v for k, v in first.items() if all(other.get(k) == v for other in rest)}


def _alert(item: AlertItem) -> dict[str, Any]:
    return {
        "status": item.status,
        "labels": item.labels,
        "annotations": item.annotations,
        "startsAt": rfc3339(item.starts_at),
        "endsAt": rfc3339(item.ends_at),
        "generatorURL": item.generator_url,
        "fingerprint": item.fingerprint,
    }


def group_key(group_labels: dict[str, str]) -> str:
    pairs = ",".join(f'{name}="{value}"' for name, value in sorted(group_labels.items()))
    return "{}:{" + pairs + "}"


def payload(message: Message) -> dict[str, Any]:
    return {
        "receiver": message.receiver,
        "status": message.status,
        "alerts": [_alert(item) for item in message.alerts],
        "groupLabels": message.group_labels,
        "commonLabels": _common([item.labels for item in message.alerts]),
        "commonAnnotations": _common([item.annotations for item in message.alerts]),
        "externalURL": message.external_url,
        "version": "4",
        "groupKey": group_key(message.group_labels),
        "truncatedAlerts": 0,
    }


def notice_payload(notice: SilenceMessage) -> dict[str, Any]:
    """A silence notice: its own small document (docs/alerting.md), so that a receiver
    written for Alertmanager never takes it for an alert (it has no `alerts`)."""
    return {
        "version": "fullcycle.silence/1",
        "receiver": notice.receiver,
        "event": notice.event,
        "silence": {
            "id": notice.silence_id,
            "matchers": notice.matchers,
            "startsAt": rfc3339(notice.starts_at),
            "endsAt": rfc3339(notice.ends_at),
            "createdBy": notice.created_by,
            "comment": notice.comment,
            "url": notice.url,
        },
        "externalURL": notice.external_url,
    }


class Webhook:
    async def send(self, client: httpx.AsyncClient, target: Target, message: Message) -> None:
        await post_json(client, target.url, payload(message))

    async def announce(
        self, client: httpx.AsyncClient, target: Target, notice: SilenceMessage
    ) -> None:
        await post_json(client, target.url, notice_payload(notice))

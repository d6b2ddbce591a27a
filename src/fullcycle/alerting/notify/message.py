"""What every channel sends: the alerts of one notification with their links, and the
helpers channels share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx


class DeliveryFailed(Exception):
    """The receiver did not take the notification; the message says why (no secrets)."""


@dataclass(frozen=True)
class AlertItem:
    status: str  # firing | resolved
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    fingerprint: str
    value: float
    links: dict[str, str] = field(default_factory=dict)
    owners: str = ""


@dataclass(frozen=True)
class Target:
    """Where a channel sends: the receiver's URL, its options and its secret."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)
    secret: str = ""


@dataclass(frozen=True)
class Message:
    receiver: str
    status: str  # firing | resolved
    alerts: list[AlertItem]
    group_labels: dict[str, str]
    external_url: str

    @property
    def title(self) -> str:
        first = self.alerts[0]
        state = "RESOLVED" if self.status == "resolved" else "FIRING"
        more = f" (+{len(self.alerts) - 1} more)" if len(self.alerts) > 1 else ""
        name, service = first.labels.get("alertname", ""), first.labels.get("service", "")
        return f"[{state}] {name} on {service}{more}"


@dataclass(frozen=True)
class SilenceMessage:
    """A short message that a silence was created or has expired."""

    receiver: str
    event: str  # created | expired
    silence_id: int
    matchers: list[dict[str, str]]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    url: str  # where the silences are listed
    external_url: str

    @property
    def matchers_text(self) -> str:
        return ", ".join(f'{m["name"]}{m["op"]}"{m["value"]}"' for m in self.matchers)

    @property
    def title(self) -> str:
        return f"[SILENCE {self.event.upper()}] {self.matchers_text}"

    @property
    def lines(self) -> list[str]:
        """The facts, one a line (the e-mail and Slack bodies)."""
        span = f"from {self.starts_at.isoformat()} until {self.ends_at.isoformat()}"
        done = "ended" if self.event == "expired" else "mutes matching alerts"
        lines = [f"Silence {self.silence_id} by {self.created_by} {done}: {span}"]
        if self.comment:
            lines.append(f"comment: {self.comment}")
        lines.append(f"silences: {self.url}")
        return lines


def masked(url: str) -> str:
    """A receiver URL as shown back: scheme and host only (paths and queries hold tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…" if host else "…"


def masked_secret(secret: str) -> str:
    """Enough of a secret to tell two apart: its last four characters, if it is long."""
    if not secret:
        return ""
    return "…" + secret[-4:] if len(secret) > 12 else "…"


async def post_json(client: httpx.AsyncClient, url: str, body: object) -> None:
    try:
        response = await client.post(url, json=body)
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"{masked(url)}: {type(error).__name__}") from None
    if response.status_code >= 300:
        raise DeliveryFailed(f"{masked(url)} answered {response.status_code}")

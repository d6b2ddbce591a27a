"""Notification channels: one small class per channel, all behind `notify()`.

A channel turns a `Message` (the alerts of one notification, with their links) into the
request the real service expects and sends it; a failure raises `DeliveryFailed`."""

from __future__ import annotations

from typing import Protocol

import httpx

from fullcycle.alerting.notify.email import Email
from fullcycle.alerting.notify.message import Message, SilenceMessage, Target
from fullcycle.alerting.notify.pagerduty import PagerDuty
from fullcycle.alerting.notify.slack import Slack
from fullcycle.alerting.notify.webhook import Webhook


class Channel(Protocol):
    async def send(self, client: httpx.AsyncClient, target: Target, message: Message) -> None: ...

    async def announce(
        self, client: httpx.AsyncClient, target: Target, notice: SilenceMessage
    ) -> None: ...


CHANNELS: dict[str, Channel] = {
    "webhook": Webhook(),
    "slack": Slack(),
    "email": Email(),
    "pagerduty": PagerDuty(),
}


async def notify(client: httpx.AsyncClient, kind: str, target: Target, message: Message) -> None:
    """Send `message` through the channel `kind` to `target`; raises DeliveryFailed."""
    await CHANNELS[kind].send(client, target, message)


async def announce(
    client: httpx.AsyncClient, kind: str, target: Target, notice: SilenceMessage
) -> None:
    """Send a silence notice through the channel `kind`; raises DeliveryFailed."""
    await CHANNELS[kind].announce(client, target, notice)

"""The e-mail channel: SMTP with STARTTLS and login when configured; a plain-text and an
HTML part. Target: `smtp://host:port`, options `from`, `to` (a list), `starttls`, `username`;
the secret is the password."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from html import escape
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from starlette.concurrency import run_in_threadpool

from fullcycle.alerting.notify.message import (
    AlertItem,
    DeliveryFailed,
    Message,
    SilenceMessage,
    Target,
)

TIMEOUT_SECONDS = 15


def _lines(item: AlertItem) -> list[str]:
    lines = [
        item.annotations.get("summary") or item.labels.get("alertname", ""),
        f"value: {item.value:g}",
        f"owners: {item.owners or '-'}",
        "labels: " + ", ".join(f"{k}={v}" for k, v in item.labels.items()),
    ]
    if item.annotations.get("description"):
        lines.append(item.annotations["description"])
    lines.extend(f"{name.replace('_', ' ')}: {href}" for name, href in item.links.items())
    return lines


def compose(target: Target, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = target.options.get("from", "fullcycle@localhost")
    mail["To"] = ", ".join(target.options.get("to", []))
    text = "\n\n".join("\n".join(_lines(item)) for item in message.alerts)
    mail.set_content(text)
    html = "".join(
        "<section>" + "".join(f"<p>{escape(line)}</p>" for line in _lines(item)) + "</section>"
        for item in message.alerts
    )
    mail.add_alternative(
        f"<html><body><h1>{escape(message.title)}</h1>{html}</body></html>", subtype="html"
    )
    return mail


def compose_notice(target: Target, notice: SilenceMessage) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = notice.title
    mail["From"] = target.options.get("from", "fullcycle@localhost")
    mail["To"] = ", ".join(target.options.get("to", []))
    mail.set_content("\n".join(notice.lines))
    html = "".join(f"<p>{escape(line)}</p>" for line in notice.lines)
    mail.add_alternative(
        f"<html><body><h1>{escape(notice.title)}</h1>{html}</body></html>", subtype="html"
    )
    return mail


def _send(target: Target, mail: EmailMessage) -> None:
    parts = urlsplit(target.url)
    host, port = parts.hostname or "localhost", parts.port or 25
    try:
        with smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS) as smtp:
            if target.options.get("starttls"):
                smtp.starttls()
            if target.options.get("username"):
                smtp.login(target.options["username"], target.secret)
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as error:
        raise DeliveryFailed(f"smtp://{host}:{port}: {type(error).__name__}: {error}") from None


class Email:
    async def send(self, client: httpx.AsyncClient, target: Target, message: Message) -> None:
        if not target.options.get("to"):
            raise DeliveryFailed("the receiver names no recipient (`to`)")
        await run_in_threadpool(_send, target, compose(target, message))

    async def announce(
        self, client: httpx.AsyncClient, target: Target, notice: SilenceMessage
    ) -> None:
        if not target.options.get("to"):
            raise DeliveryFailed("the receiver names no recipient (`to`)")
        await run_in_threadpool(_send, target, compose_notice(target, notice))


def mail_relay(url: str | None, sender: str) -> Target | None:
    """The server's mail relay (`smtp://[user:password@]host:port[?starttls=true]`), which
    sends people's own e-mail contact methods; None when none is configured."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != "smtp" or not parts.hostname:
        raise ValueError(f"the mail relay {url!r} is not smtp://host:port")
    starttls = parse_qs(parts.query).get("starttls", ["false"])[0].lower() in {"1", "true", "yes"}
    options: dict[str, object] = {"from": sender, "starttls": starttls}
    if parts.username:
        options["username"] = unquote(parts.username)
    server = f"smtp://{parts.hostname}:{parts.port or 25}"
    return Target(server, options, unquote(parts.password or ""))

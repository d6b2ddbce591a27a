"""The demo's notification sink: a local webhook receiver standing in for the owner's pager.

fullcycle sends alert notifications to it as to any webhook receiver (Alertmanager's payload);
it keeps every delivery in `notifications.jsonl` in the demo's directory, and the demo page
(`/demo`) lists them, so the notification the owner would get is visible.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY_BYTES = 1024 * 1024


class NotificationSink:
    def __init__(self, path: Path, port: int = 0, host: str = "127.0.0.1") -> None:
        """`port` 0 picks a free one; the demo keeps it so that the receiver stays valid."""
        self.path = path
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("content-length") or 0), MAX_BODY_BYTES)
                sink.receive(self.path, self.rfile.read(length))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: deliveries are kept in the file, not printed."""

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError:  # the port kept from an earlier start is taken now
            self.server = ThreadingHTTPServer((host, 0), Handler)
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="demo-sink", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/storefront"

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def receive(self, path: str, body: bytes) -> None:
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = {"unreadable": body[:2000].decode("utf-8", "replace")}
        entry = {"received_at": time.time(), "path": path, "payload": payload}
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")


def received(path: Path) -> list[dict[str, Any]]:
    """Every notification the sink received, newest first, each summarised for the page."""
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [summary(entry) for entry in reversed(entries)]


def summary(entry: dict[str, Any]) -> dict[str, Any]:
    """What a person reads in a delivery: its title, text and links; Slack's Block Kit message
    and Alertmanager's webhook payload are both understood."""
    payload = entry.get("payload") or {}
    if "blocks" in payload:
        title, text, links = _slack(payload)
    else:
        title, text, links = _alertmanager(payload)
    return {
        "received_at": entry.get("received_at"),
        "channel": "slack" if "blocks" in payload else "webhook",
        "title": title,
        "text": text,
        "links": links,
        "payload": payload,
    }


def _slack(payload: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    texts, links = [], {}
    for block in payload.get("blocks", []):
        if block.get("type") == "section":
            texts.append(block.get("text", {}).get("text", ""))
            texts += [_plain(field.get("text", "")) for field in block.get("fields", [])]
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            links[element.get("text", {}).get("text", "")] = element.get("url", "")
    return str(payload.get("text", "")), "; ".join(texts), links


def _plain(mrkdwn: str) -> str:
    """'*Service*\\nshop' as 'Service: shop'."""
    return mrkdwn.replace("*", "").replace("\n", ": ")


def _alertmanager(payload: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    alerts = payload.get("alerts") or [{}]
    labels = alerts[0].get("labels") or {}
    annotations = alerts[0].get("annotations") or {}
    title = f"[{str(payload.get('status', '')).upper()}] {labels.get('alertname', '')}"
    links = {"Alert": alerts[0].get("generatorURL", "")}
    return title, annotations.get("summary", ""), links

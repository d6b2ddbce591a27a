"""Clients of the ClickHouse engine: embedded chDB in the data dir, or a server by URL.

Both are `clickhouse-connect` clients, so the same calls and SQL serve both. chDB allows one
engine per process and one session per thread: each thread gets a client of its own.
"""

from __future__ import annotations

import threading
from pathlib import Path

import clickhouse_connect
from clickhouse_connect.driver.client import Client

DATABASE = "fullcycle"


class ClickHouse:
    def __init__(self, url: str | None, embedded_path: Path) -> None:
        self.embedded = url is None
        self._dsn = url or f"chdb://{embedded_path.resolve()}"
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()

    def client(self) -> Client:
        """This thread's client (created on first use)."""
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = clickhouse_connect.get_client(dsn=self._dsn)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    @property
    def description(self) -> str:
        return "embedded chDB" if self.embedded else "ClickHouse server"

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()
        self._local = threading.local()

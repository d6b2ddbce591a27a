"""Shared fixtures: a fresh control-plane database per test on SQLite and on PostgreSQL,
the real ASGI app, and a real uvicorn server on a free port for browser and CLI tests."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fullcycle.app import create_app
from fullcycle.settings import Settings
from fullcycle.store import migrate
from fullcycle.store.models import Base

ADMIN_TOKEN = "fc_test_admin_token_0123456789abcdefghijklmnop"
POSTGRES_URL_ENV = "FULLCYCLE_TEST_POSTGRES_URL"


def _postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV) or None


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """One PostgreSQL database for the session, migrated once; tests empty it after use."""
    admin_url = _postgres_admin_url()
    if admin_url is None:
        yield None
        return
    name = f"fc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(admin_url), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(admin_url, name)
    migrate.upgrade(url)
    yield url
    with psycopg.connect(_libpq(admin_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once per test process; each test starts from a copy (as the
    PostgreSQL tests share one migrated database), so migrations do not run for every test.
    The app still runs `migrate.upgrade` on it at start, finding it current."""
    path = tmp_path_factory.mktemp("migrated") / "fullcycle.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def _empty_all_tables(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_database: str | None,
    migrated_sqlite: Path,
) -> Iterator[str]:
    """An empty, migrated database for one test, on each backend."""
    if request.param == "sqlite":
        shutil.copyfile(migrated_sqlite, tmp_path / "fullcycle.db")
        yield f"sqlite:///{tmp_path / 'fullcycle.db'}"
        return
    if postgres_database is None:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_URL_ENV} is not set; .ci/run starts PostgreSQL and sets it")
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_URL_ENV} (bash .ci/postgres-start prints one)"
        )
    yield postgres_database
    _empty_all_tables(postgres_database)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        port=0,
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An unauthenticated client of the real app (the lifespan migrates and provisions)."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    """The same app, called with the provisioned admin token."""
    client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    return client


def token_for(
    admin: TestClient,
    user: str,
    scopes: list[str],
    *,
    is_admin: bool = False,
    can_deploy: bool = True,
) -> str:
    """Create `user` with a password, log in through the API and return a token with `scopes`."""
    password = f"pw-{user}-123456"
    response = admin.post(
        "/api/v1/users",
        json={"name": user, "password": password, "is_admin": is_admin, "can_deploy": can_deploy},
    )
    assert response.status_code == 201, response.text
    login = admin.post(
        "/api/v1/auth/login",
        json={"username": user, "password": password, "scopes": scopes, "token_name": "test"},
        headers={"Authorization": ""},
    )
    assert login.status_code == 201, login.text
    return str(login.json()["token"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A real uvicorn server in a thread, serving the app over TCP on 127.0.0.1."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = f"http://127.0.0.1:{settings.port}"
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=settings.port,
            log_config=None,
            timeout_graceful_shutdown=5,  # a client left streaming must not keep it running
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the live server did not start within 30 s")

    def stop(self) -> None:
        """Stop serving and run the app's shutdown (which closes the embedded store: a store
        left open would make every later test of this process fail to open its own)."""
        self.server.should_exit = True  # clients still connected are cut off after 5 s
        self.thread.join(timeout=60)
        if self.thread.is_alive():
            raise RuntimeError("the live server did not stop within 60 s")

    def admin_client(self) -> httpx.Client:
        """An HTTP client with the admin token that waits as long as a loaded machine needs
        (httpx's default of 5 s is not enough when the whole suite runs on 2 cores)."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
        )

    def stored(
        self, sql: str, parameters: dict[str, object] | None = None
    ) -> list[tuple[object, ...]]:
        """Query the server's telemetry store after flushing what it has acknowledged."""
        store = self.app.state.telemetry
        store.flush()
        return list(store.query(sql, parameters))


@contextmanager
def running_live_server(tmp_path: Path, database_url: str, **settings: Any) -> Iterator[LiveServer]:
    """A started LiveServer on a free port with the tests' admin token and data in
    `tmp_path / "live"` (`settings`: any other `Settings` fields), stopped afterwards."""
    server = LiveServer(
        Settings(
            data_dir=tmp_path / "live",
            database_url=database_url,
            admin_token=ADMIN_TOKEN,
            port=free_port(),
            **settings,
        )
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    with running_live_server(tmp_path, database_url) as server:
        yield server


@pytest.fixture
def cli_against_live_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, live_server: LiveServer
) -> LiveServer:
    """The `fullcycle` command's environment for a test: the live server's URL, the admin
    token, and a configuration folder of its own (never the user's)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("FULLCYCLE_URL", live_server.url)
    monkeypatch.setenv("FULLCYCLE_TOKEN", ADMIN_TOKEN)
    return live_server

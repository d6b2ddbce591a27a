"""Server settings: command-line flags first, then FULLCYCLE_* environment variables, then defaults.

Every setting is documented in docs/configuration.md; keep the two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from fullcycle.telemetry.schema import Retention, parse_retention

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DATA_DIR = ".fullcycle"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


N = TypeVar("N", int, float)


def _number(kind: type[N], name: str, text: str | int) -> N:
    try:
        return kind(text)
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name}={text!r}: expected {expected}") from None


def _env_number(kind: type[N], name: str, default: N) -> N:
    text = _env(name)
    return default if text is None else _number(kind, name, text)


FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _env_flag(name: str, default: bool) -> bool:
    text = _env(name)
    if text is None:
        return default
    if text.lower() not in FLAGS:
        raise ValueError(f"{name}={text!r}: expected true or false")
    return FLAGS[text.lower()]


LOG_LEVELS = ("DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL")


def _env_log_level() -> str:
    level = (_env("FULLCYCLE_LOG_LEVEL") or "INFO").upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"FULLCYCLE_LOG_LEVEL={level!r}: expected one of {', '.join(LOG_LEVELS)}")
    return level


def default_ingest_workers() -> int:
    """One decoding process per core, at most four: the server process needs a share too."""
    return max(1, min(os.cpu_count() or 1, 4))


def _retention(flags: dict[str, str]) -> Retention:
    """Retention per table from flags (`logs` -> '14d'), else FULLCYCLE_RETENTION_<TABLE>."""
    hours: dict[str, int] = {}
    for table in ("logs", "samples", "spans", "markers"):
        text = flags.get(table) or _env(f"FULLCYCLE_RETENTION_{table.upper()}")
        if text:
            try:
                hours[table] = parse_retention(text)
            except ValueError as error:
                raise ValueError(f"--retention-{table}: {error}") from error
    return Retention(**hours)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    database_url: str | None = None
    admin_token: str | None = None
    metrics_token: str | None = None
    public_url: str | None = None
    session_hours: int = 12
    secure_cookies: bool | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    max_decompressed_bytes: int = 64 * 1024 * 1024
    log_level: str = "INFO"
    clickhouse_url: str | None = None
    clickhouse_cluster: str | None = None
    retention: Retention = field(default_factory=Retention)
    wal_fsync: bool = True
    otlp_port: int | None = None
    ingest_max_backlog_bytes: int = 2 * 1024 * 1024 * 1024
    ingest_soft_backlog_bytes: int = 128 * 1024 * 1024
    ingest_rate_limit: int = 0
    flush_interval_seconds: float = 0.5
    ingest_workers: int = field(default_factory=default_ingest_workers)
    background_work: bool = True
    github_webhook_secret: str | None = None
    smtp_url: str | None = None
    smtp_from: str = "fullcycle@localhost"

    @classmethod
    def from_environment(
        cls,
        data_dir: Path | None = None,
        host: str | None = None,
        port: int | None = None,
        retention: dict[str, str] | None = None,
        otlp_port: int | None = None,
    ) -> Settings:
        """Build settings from explicit flags, falling back to the environment, then defaults.

        Raises ValueError naming the setting when a value is malformed.
        """
        secure = _env("FULLCYCLE_SECURE_COOKIES")
        otlp = otlp_port or _env("FULLCYCLE_OTLP_PORT")
        return cls(
            data_dir=data_dir or Path(_env("FULLCYCLE_DATA_DIR") or DEFAULT_DATA_DIR),
            host=host or _env("FULLCYCLE_HOST") or DEFAULT_HOST,
            port=port or _env_number(int, "FULLCYCLE_PORT", DEFAULT_PORT),
            database_url=_env("FULLCYCLE_DATABASE_URL"),
            admin_token=_env("FULLCYCLE_ADMIN_TOKEN"),
            metrics_token=_env("FULLCYCLE_METRICS_TOKEN"),
            public_url=_env("FULLCYCLE_PUBLIC_URL"),
            session_hours=_env_number(int, "FULLCYCLE_SESSION_HOURS", 12),
            secure_cookies=None if secure is None else _env_flag("FULLCYCLE_SECURE_COOKIES", True),
            max_body_bytes=_env_number(int, "FULLCYCLE_MAX_BODY_BYTES", 10 * 1024 * 1024),
            max_decompressed_bytes=_env_number(
                int, "FULLCYCLE_MAX_DECOMPRESSED_BYTES", 64 * 1024 * 1024
            ),
            log_level=_env_log_level(),
            clickhouse_url=_env("FULLCYCLE_CLICKHOUSE_URL"),
            clickhouse_cluster=_env("FULLCYCLE_CLICKHOUSE_CLUSTER"),
            retention=_retention(retention or {}),
            wal_fsync=_env_flag("FULLCYCLE_WAL_FSYNC", True),
            otlp_port=_number(int, "FULLCYCLE_OTLP_PORT", otlp) if otlp else None,
            ingest_max_backlog_bytes=_env_number(
                int, "FULLCYCLE_INGEST_MAX_BACKLOG_BYTES", 2 * 1024 * 1024 * 1024
            ),
            ingest_soft_backlog_bytes=_env_number(
                int, "FULLCYCLE_INGEST_SOFT_BACKLOG_BYTES", 128 * 1024 * 1024
            ),
            ingest_rate_limit=_env_number(int, "FULLCYCLE_INGEST_RATE_LIMIT", 0),
            flush_interval_seconds=_env_number(float, "FULLCYCLE_FLUSH_INTERVAL_SECONDS", 0.5),
            ingest_workers=_env_number(int, "FULLCYCLE_INGEST_WORKERS", default_ingest_workers()),
            background_work=_env_flag("FULLCYCLE_BACKGROUND_WORK", True),
            github_webhook_secret=_env("FULLCYCLE_GITHUB_WEBHOOK_SECRET"),
            smtp_url=_env("FULLCYCLE_SMTP_URL"),
            smtp_from=_env("FULLCYCLE_SMTP_FROM") or "fullcycle@localhost",
        )

    @property
    def resolved_database_url(self) -> str:
        """The control-plane database: PostgreSQL by URL, else SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fullcycle.db').resolve()}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::"} else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

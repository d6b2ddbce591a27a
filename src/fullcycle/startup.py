"""What the server does before it serves: data dir, migrations, bootstrap admin, admin token."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fullcycle.auth.tokens import ensure_token_with_value
from fullcycle.auth.users import BOOTSTRAP_ADMIN, ensure_bootstrap_admin, find_user
from fullcycle.settings import Settings
from fullcycle.store import migrate
from fullcycle.store.database import Database

log = logging.getLogger("fullcycle.startup")
ADMIN_TOKEN_NAME = "FULLCYCLE_ADMIN_TOKEN"


@dataclass(frozen=True)
class StartupReport:
    admin_password: str | None
    admin_token_created: bool


def prepare(settings: Settings, database: Database) -> StartupReport:
    """Idempotent: safe on every start and from several processes in turn."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(database.url)
    with database.session() as db:
        password = ensure_bootstrap_admin(db)
        token_created = False
        if settings.admin_token:
            admin = find_user(db, BOOTSTRAP_ADMIN)
            assert admin is not None, "ensure_bootstrap_admin guarantees an admin user"
            token_created = ensure_token_with_value(
                db, admin, ADMIN_TOKEN_NAME, settings.admin_token
            )
    log.info(
        "control plane ready",
        extra={"database": database.engine.url.render_as_string(hide_password=True)},
    )
    return StartupReport(admin_password=password, admin_token_created=token_created)


def banner(settings: Settings, report: StartupReport) -> str:
    lines = [f"fullcycle is running at {settings.base_url}"]
    if report.admin_password:
        lines.append(
            f"first login: {settings.base_url}/login  user: {BOOTSTRAP_ADMIN}"
            f"  password: {report.admin_password}"
        )
        lines.append("(shown once; `fullcycle admin reset-password admin` makes a new one)")
    else:
        lines.append(f"log in at {settings.base_url}/login")
    return "\n".join(lines)

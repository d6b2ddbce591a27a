"""The GitHub webhook: commits with their times (push, pull_request) and GitHub deployments
(deployment, deployment_status), so that teams deploying from their own CI get the same history.

Every delivery must carry `X-Hub-Signature-256`, the HMAC-SHA256 of the body with the shared
secret (FULLCYCLE_GITHUB_WEBHOOK_SECRET); anything else is refused before the body is read as
JSON. A delivery received twice (GitHub redelivers) is recorded once.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fullcycle.catalog.models import Service
from fullcycle.deploy.models import Deploy, GithubEvent
from fullcycle.store.database import utcnow

EVENTS = frozenset({"ping", "push", "pull_request", "deployment", "deployment_status"})
FINAL_STATES = {"success": "succeeded", "failure": "failed", "error": "failed"}


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _repository(payload: dict[str, Any]) -> str:
    repository = payload.get("repository")
    return str(repository.get("full_name", "")) if isinstance(repository, dict) else ""


@dataclass
class Delivery:
    """What a delivery added: how many records (0 for a repeat), and the deploy if any."""

    recorded: int = 0
    deploy: Deploy | None = None


def record_delivery(db: Session, delivery: str, event: str, payload: dict[str, Any]) -> Delivery:
    """Store what the delivery says."""
    if db.scalar(select(GithubEvent.id).where(GithubEvent.delivery_id == delivery)) is not None:
        return Delivery()
    repository = _repository(payload)
    rows = [GithubEvent(delivery_id=delivery, event=event, repository=repository, payload={})]
    if event == "push":
        rows += _commits(delivery, repository, payload)
    elif event == "pull_request":
        rows[0].commit_sha, rows[0].commit_time = _merge(payload)
    elif event in ("deployment", "deployment_status"):
        deployment = payload.get("deployment") or {}
        rows[0].commit_sha = str(deployment.get("sha", ""))[:64]
        rows[0].payload = {
            "environment": deployment.get("environment", ""),
            "ref": deployment.get("ref", ""),
        }
    db.add_all(rows)
    deploy = _record_deploy(db, repository, payload) if event == "deployment_status" else None
    db.flush()
    return Delivery(len(rows) + (deploy is not None), deploy)


def _commits(delivery: str, repository: str, payload: dict[str, Any]) -> list[GithubEvent]:
    commits = payload.get("commits") if isinstance(payload.get("commits"), list) else []
    return [
        GithubEvent(
            delivery_id=f"{delivery}/{index}",
            event="commit",
            repository=repository,
            commit_sha=str(commit.get("id", ""))[:64],
            commit_time=_time(commit.get("timestamp")),
            payload={"message": str(commit.get("message", ""))[:500]},
        )
        for index, commit in enumerate(commits or [])
        if isinstance(commit, dict)
    ]


def _merge(payload: dict[str, Any]) -> tuple[str, datetime | None]:
    pull = payload.get("pull_request") or {}
    return str(pull.get("merge_commit_sha") or "")[:64], _time(pull.get("merged_at"))


def service_for(db: Session, repository: str) -> str | None:
    """The catalog service of a repository: by its repository URL, else by the repo's name."""
    if not repository:
        return None
    name = repository.rsplit("/", 1)[-1].lower()
    return db.scalar(
        select(Service.name)
        .where(
            or_(
                Service.repository_url.ilike(f"%github.com/{repository}"),
                Service.repository_url.ilike(f"%github.com/{repository}.git"),
                Service.name == name,
            )
        )
        .limit(1)
    )


def commit_time(db: Session, sha: str) -> datetime | None:
    if not sha:
        return None
    return db.scalar(
        select(GithubEvent.commit_time)
        .where(GithubEvent.commit_sha == sha, GithubEvent.commit_time.is_not(None))
        .limit(1)
    )


def _record_deploy(db: Session, repository: str, payload: dict[str, Any]) -> Deploy | None:
    status = payload.get("deployment_status") or {}
    outcome = FINAL_STATES.get(str(status.get("state", "")))
    service = service_for(db, repository)
    if outcome is None or service is None:
        return None
    deployment = payload.get("deployment") or {}
    sha = str(deployment.get("sha", ""))[:64]
    now = utcnow()
    creator = (deployment.get("creator") or {}).get("login", "")
    deploy = Deploy(
        service=service,
        environment=str(deployment.get("environment") or "production")[:63],
        version=str(deployment.get("ref") or sha[:12] or "unknown")[:200],
        commit_sha=sha,
        commit_time=commit_time(db, sha),
        kind="external",
        actor=f"github:{creator}" if creator else "github",
        status=outcome,
        started_at=_time(deployment.get("created_at")) or now,
        live_at=now if outcome == "succeeded" else None,
        finished_at=now,
    )
    db.add(deploy)
    return deploy

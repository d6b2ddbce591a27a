"""Deploy and rollback markers in the telemetry store (the `markers` table), which every chart of
the service draws."""

from __future__ import annotations

from fullcycle.deploy.records import DeployOut
from fullcycle.telemetry.batches import MarkerBatch


def marker_for(deploy: DeployOut) -> MarkerBatch:
    """The marker of a deploy that went live, at the time it did, with its outcome."""
    moment = deploy.live_at or deploy.finished_at or deploy.created_at
    batch = MarkerBatch()
    batch.add(
        timestamp_ns=int(moment.timestamp() * 1_000_000_000),
        kind="rollback" if deploy.kind == "rollback" else "deploy",
        service=deploy.service,
        environment=deploy.environment,
        title=f"{deploy.service} {deploy.version} by {deploy.deployer}",
        reference=deploy.url,
        attributes={
            "version": deploy.version,
            "commit": deploy.commit,
            "actor": deploy.deployer,
            "outcome": deploy.status,
        },
    )
    return batch

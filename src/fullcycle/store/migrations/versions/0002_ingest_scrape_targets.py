"""ingest tokens limited to a service; scrape targets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 14:57:05.616050
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fullcycle.store.database

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scrape_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column(
            "next_scrape_at", fullcycle.store.database.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("leased_by", sa.String(length=100), nullable=False),
        sa.Column(
            "lease_until", fullcycle.store.database.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_scrape_at", fullcycle.store.database.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_duration_ms", sa.Double(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_samples", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_scrape_targets_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scrape_targets")),
        sa.UniqueConstraint("service_id", "url", name=op.f("uq_scrape_targets_service_id")),
    )
    with op.batch_alter_table("scrape_targets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scrape_targets_next_scrape_at"), ["next_scrape_at"], unique=False
        )

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service", sa.String(length=63), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("service")

    with op.batch_alter_table("scrape_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scrape_targets_next_scrape_at"))

    op.drop_table("scrape_targets")

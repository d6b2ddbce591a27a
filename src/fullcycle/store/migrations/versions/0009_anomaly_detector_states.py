"""anomaly rules: the learnt state of each watched series

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-26 19:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fullcycle.store.database

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "anomaly_detector_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("last_timestamp", sa.Float(), nullable=False),
        sa.Column("last_point", sa.JSON(), nullable=False),
        sa.Column(
            "updated_at", fullcycle.store.database.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rules.id"],
            name=op.f("fk_anomaly_detector_states_rule_id_alert_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomaly_detector_states")),
        sa.UniqueConstraint(
            "rule_id", "fingerprint", name=op.f("uq_anomaly_detector_states_rule_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("anomaly_detector_states")

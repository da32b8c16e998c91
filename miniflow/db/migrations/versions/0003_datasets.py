"""datasets: datasets, their events, the consumers' queue, aliases and the events that
triggered each run

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from miniflow.db.models import UtcDateTime

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset",
        sa.Column("uri", sa.String(3000), primary_key=True),
        sa.Column("extra", sa.JSON()),
        sa.Column("created_at", UtcDateTime(timezone=True)),
    )
    op.create_table(
        "dataset_event",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uri", sa.String(3000), nullable=False),
        sa.Column("extra", sa.JSON()),
        sa.Column("source_dag_id", sa.String(250)),
        sa.Column("source_task_id", sa.String(250)),
        sa.Column("source_run_id", sa.String(250)),
        sa.Column("source_map_index", sa.Integer(), nullable=False, server_default="-1"),
        sa.Column("source_alias", sa.String(3000)),
        sa.Column("timestamp", UtcDateTime(timezone=True)),
    )
    op.create_index("idx_dataset_event_uri", "dataset_event", ["uri", "timestamp"])
    op.create_table(
        "dataset_reference",
        sa.Column("dag_id", sa.String(250), primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("name", sa.String(3000), primary_key=True),
    )
    op.create_table(
        "dataset_alias",
        sa.Column("name", sa.String(3000), primary_key=True),
        sa.Column("uri", sa.String(3000), primary_key=True),
    )
    op.create_table(
        "dataset_dag_run_queue",
        sa.Column("uri", sa.String(3000), primary_key=True),
        sa.Column("target_dag_id", sa.String(250), primary_key=True),
        sa.Column("created_at", UtcDateTime(timezone=True)),
    )
    op.create_table(
        "dagrun_dataset_event",
        sa.Column("dag_id", sa.String(250), primary_key=True),
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("event_id", sa.Integer(), primary_key=True),
        sa.ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"),
    )


def downgrade() -> None:
    for table in ("dagrun_dataset_event", "dataset_dag_run_queue", "dataset_alias", "dataset_reference"):
        op.drop_table(table)
    op.drop_index("idx_dataset_event_uri", "dataset_event")
    op.drop_table("dataset_event")
    op.drop_table("dataset")

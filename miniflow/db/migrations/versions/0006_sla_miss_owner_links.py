"""sla_miss: tasks that missed their SLA (Airflow 2); dag.owner_links for the DAG list

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from miniflow.db.models import UtcDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_miss",
        sa.Column("task_id", sa.String(250), primary_key=True),
        sa.Column("dag_id", sa.String(250), primary_key=True),
        sa.Column("execution_date", UtcDateTime(), primary_key=True),
        sa.Column("email_sent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("timestamp", UtcDateTime()),
        sa.Column("description", sa.Text()),
        sa.Column("notification_sent", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("idx_sla_miss_dag", "sla_miss", ["dag_id"])
    with op.batch_alter_table("dag") as batch:
        batch.add_column(sa.Column("owner_links", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("dag") as batch:
        batch.drop_column("owner_links")
    op.drop_index("idx_sla_miss_dag", "sla_miss")
    op.drop_table("sla_miss")

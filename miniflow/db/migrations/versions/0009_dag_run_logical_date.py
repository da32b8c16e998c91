"""dag_run (logical_date, dag_id): the Browse pages list the runs of every DAG newest first

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("idx_dag_run_logical_date", "dag_run", ["logical_date", "dag_id"])


def downgrade() -> None:
    op.drop_index("idx_dag_run_logical_date", "dag_run")

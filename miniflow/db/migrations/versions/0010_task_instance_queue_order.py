"""task_instance.logical_date, and one index in the queueing order

The queue step takes scheduled task instances highest priority first, then the oldest
run. With the run's logical date copied into task_instance, one index gives that
order, so the step reads only what it can take; before, it sorted every scheduled
instance on every pass (3-5 ms a pass with 5,000 scheduled). The index starts with the
state, so the index on the state alone goes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import miniflow.db.models

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("task_instance", sa.Column("logical_date", miniflow.db.models.UtcDateTime(timezone=True),
                                             nullable=True))
    op.execute("UPDATE task_instance SET logical_date = (SELECT dag_run.logical_date FROM dag_run "
               "WHERE dag_run.dag_id = task_instance.dag_id AND dag_run.run_id = task_instance.run_id)")
    op.create_index("idx_ti_queue_order", "task_instance",
                    ["state", sa.text("priority_weight DESC"), "logical_date", "task_id", "map_index"])
    op.drop_index("idx_ti_state", "task_instance")


def downgrade() -> None:
    op.create_index("idx_ti_state", "task_instance", ["state"])
    op.drop_index("idx_ti_queue_order", "task_instance")
    with op.batch_alter_table("task_instance") as batch_op:
        batch_op.drop_column("logical_date")

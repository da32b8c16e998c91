"""task_instance.updated_at: when each row last changed, so the scheduler reads only changes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from miniflow.db.models import UtcDateTime

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(sa.Column("updated_at", UtcDateTime()))
    op.execute("UPDATE task_instance SET updated_at = COALESCE(end_date, start_date, queued_at)")
    op.create_index("idx_ti_updated_at", "task_instance", ["updated_at"])


def downgrade() -> None:
    op.drop_index("idx_ti_updated_at", "task_instance")
    with op.batch_alter_table("task_instance") as batch:
        batch.drop_column("updated_at")

"""web_session: the UI's logins, so logging out or changing a password ends them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from miniflow.db.models import UtcDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(256), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("idx_web_session_user", "web_session", ["username"])


def downgrade() -> None:
    op.drop_index("idx_web_session_user", "web_session")
    op.drop_table("web_session")

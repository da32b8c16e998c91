"""connections: stored connections, their password and extra encrypted with Fernet

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connection",
        sa.Column("conn_id", sa.String(250), primary_key=True),
        sa.Column("conn_type", sa.String(500), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("host", sa.String(500)),
        sa.Column("schema", sa.String(500)),
        sa.Column("login", sa.Text()),
        sa.Column("password", sa.Text()),
        sa.Column("port", sa.Integer()),
        sa.Column("extra", sa.Text()),
    )


def downgrade() -> None:
    op.drop_table("connection")

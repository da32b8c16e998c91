"""map_index: one task instance per map index of a mapped task

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Existing rows become map_index -1 (a task that is not mapped); the primary keys of
task_instance, task_instance_history and xcom gain the column.
"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_KEYS = {
    "task_instance": ["dag_id", "run_id", "task_id", "map_index"],
    "task_instance_history": ["dag_id", "run_id", "task_id", "map_index", "try_number"],
    "xcom": ["dag_id", "run_id", "task_id", "map_index", "key"],
}


def _rekey(table: str, columns: list[str]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite's batch mode copies the table; SQLAlchemy warns that the copy's reflected
    # key differs from the new one, which is the point of this migration.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*specifies columns .* as primary_key=True")
        with op.batch_alter_table(table, recreate="always" if sqlite else "auto") as batch:
            if not sqlite:  # PostgreSQL names an unnamed primary key <table>_pkey
                batch.drop_constraint(f"{table}_pkey", type_="primary")
            batch.add_column(sa.Column("map_index", sa.Integer(), nullable=False, server_default="-1"))
            batch.create_primary_key(f"{table}_pkey", columns)


def upgrade() -> None:
    for table, columns in _KEYS.items():
        _rekey(table, columns)
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(sa.Column("rendered_map_index", sa.String(length=250), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_instance") as batch:
        batch.drop_column("rendered_map_index")
    for table, columns in _KEYS.items():
        op.execute(sa.text(f"DELETE FROM {table} WHERE map_index <> -1"))
        sqlite = op.get_bind().dialect.name == "sqlite"
        with op.batch_alter_table(table, recreate="always" if sqlite else "auto") as batch:
            if not sqlite:
                batch.drop_constraint(f"{table}_pkey", type_="primary")
            batch.drop_column("map_index")
            batch.create_primary_key(f"{table}_pkey", [c for c in columns if c != "map_index"])

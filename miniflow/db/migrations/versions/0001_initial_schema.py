"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import miniflow.db.models

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ab_user',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=256), nullable=False),
    sa.Column('password_hash', sa.String(length=512), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('email', sa.String(length=256), nullable=True),
    sa.Column('created_at', miniflow.db.models.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_login', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('dag',
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('fileloc', sa.Text(), nullable=False),
    sa.Column('owners', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('schedule', sa.String(length=250), nullable=True),
    sa.Column('timezone', sa.String(length=100), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('is_paused', sa.Boolean(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('max_active_runs', sa.Integer(), nullable=False),
    sa.Column('max_active_tasks', sa.Integer(), nullable=False),
    sa.Column('last_parsed', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('next_dagrun', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('next_dagrun_data_interval_start', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('next_dagrun_data_interval_end', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('next_dagrun_create_after', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('dag_id')
    )
    with op.batch_alter_table('dag', schema=None) as batch_op:
        batch_op.create_index('idx_dag_next_dagrun_create_after', ['is_paused', 'next_dagrun_create_after'], unique=False)

    op.create_table('dag_run',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('logical_date', miniflow.db.models.UtcDateTime(timezone=True), nullable=False),
    sa.Column('data_interval_start', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('data_interval_end', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('run_type', sa.String(length=50), nullable=False),
    sa.Column('state', sa.String(length=50), nullable=False),
    sa.Column('conf', sa.JSON(), nullable=True),
    sa.Column('external_trigger', sa.Boolean(), nullable=False),
    sa.Column('queued_at', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('start_date', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('end_date', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('triggered_by', sa.String(length=250), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dag_id', 'logical_date', name='dag_run_dag_id_logical_date_key'),
    sa.UniqueConstraint('dag_id', 'run_id', name='dag_run_dag_id_run_id_key')
    )
    with op.batch_alter_table('dag_run', schema=None) as batch_op:
        batch_op.create_index('idx_dag_run_dag_logical', ['dag_id', 'logical_date'], unique=False)
        batch_op.create_index('idx_dag_run_state', ['state', 'dag_id'], unique=False)

    op.create_table('import_error',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('filename', sa.Text(), nullable=False),
    sa.Column('lineno', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('timestamp', miniflow.db.models.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('job',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('job_type', sa.String(length=30), nullable=False),
    sa.Column('hostname', sa.String(length=1000), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('start_date', miniflow.db.models.UtcDateTime(timezone=True), nullable=False),
    sa.Column('end_date', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('latest_heartbeat', miniflow.db.models.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index('idx_job_type_state', ['job_type', 'state', 'latest_heartbeat'], unique=False)

    op.create_table('log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dttm', miniflow.db.models.UtcDateTime(timezone=True), nullable=False),
    sa.Column('event', sa.String(length=60), nullable=False),
    sa.Column('owner', sa.String(length=256), nullable=True),
    sa.Column('dag_id', sa.String(length=250), nullable=True),
    sa.Column('task_id', sa.String(length=250), nullable=True),
    sa.Column('run_id', sa.String(length=250), nullable=True),
    sa.Column('extra', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('log', schema=None) as batch_op:
        batch_op.create_index('idx_log_dag', ['dag_id', 'dttm'], unique=False)
        batch_op.create_index('idx_log_dttm', ['dttm'], unique=False)

    op.create_table('serialized_dag',
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('fileloc', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('dag_hash', sa.String(length=64), nullable=False),
    sa.Column('source_code', sa.Text(), nullable=True),
    sa.Column('last_updated', miniflow.db.models.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('dag_id')
    )
    op.create_table('slot_pool',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('slots', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('variable',
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('val', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('task_instance',
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('task_id', sa.String(length=250), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=True),
    sa.Column('try_number', sa.Integer(), nullable=False),
    sa.Column('max_tries', sa.Integer(), nullable=False),
    sa.Column('operator', sa.String(length=100), nullable=True),
    sa.Column('pool', sa.String(length=256), nullable=False),
    sa.Column('pool_slots', sa.Integer(), nullable=False),
    sa.Column('queue', sa.String(length=256), nullable=False),
    sa.Column('priority_weight', sa.Integer(), nullable=False),
    sa.Column('queued_at', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('start_date', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('end_date', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('duration', sa.Float(), nullable=True),
    sa.Column('hostname', sa.String(length=1000), nullable=True),
    sa.Column('pid', sa.Integer(), nullable=True),
    sa.Column('heartbeat', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('queued_by', sa.String(length=250), nullable=True),
    sa.Column('next_try_at', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('first_poke_at', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('poke_count', sa.Integer(), nullable=False),
    sa.Column('rendered_fields', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['dag_id', 'run_id'], ['dag_run.dag_id', 'dag_run.run_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dag_id', 'run_id', 'task_id')
    )
    with op.batch_alter_table('task_instance', schema=None) as batch_op:
        batch_op.create_index('idx_ti_dag_state', ['dag_id', 'state'], unique=False)
        batch_op.create_index('idx_ti_pool', ['pool', 'state', 'priority_weight'], unique=False)
        batch_op.create_index('idx_ti_state', ['state'], unique=False)

    op.create_table('task_instance_history',
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('task_id', sa.String(length=250), nullable=False),
    sa.Column('try_number', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=True),
    sa.Column('start_date', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('end_date', miniflow.db.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('duration', sa.Float(), nullable=True),
    sa.Column('hostname', sa.String(length=1000), nullable=True),
    sa.Column('pid', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['dag_id', 'run_id'], ['dag_run.dag_id', 'dag_run.run_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dag_id', 'run_id', 'task_id', 'try_number')
    )
    op.create_table('xcom',
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('task_id', sa.String(length=250), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('timestamp', miniflow.db.models.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dag_id', 'run_id'], ['dag_run.dag_id', 'dag_run.run_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dag_id', 'run_id', 'task_id', 'key')
    )


def downgrade() -> None:
    op.drop_table('xcom')
    op.drop_table('task_instance_history')
    with op.batch_alter_table('task_instance', schema=None) as batch_op:
        batch_op.drop_index('idx_ti_state')
        batch_op.drop_index('idx_ti_pool')
        batch_op.drop_index('idx_ti_dag_state')

    op.drop_table('task_instance')
    op.drop_table('variable')
    op.drop_table('slot_pool')
    op.drop_table('serialized_dag')
    with op.batch_alter_table('log', schema=None) as batch_op:
        batch_op.drop_index('idx_log_dttm')
        batch_op.drop_index('idx_log_dag')

    op.drop_table('log')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index('idx_job_type_state')

    op.drop_table('job')
    op.drop_table('import_error')
    with op.batch_alter_table('dag_run', schema=None) as batch_op:
        batch_op.drop_index('idx_dag_run_state')
        batch_op.drop_index('idx_dag_run_dag_logical')

    op.drop_table('dag_run')
    with op.batch_alter_table('dag', schema=None) as batch_op:
        batch_op.drop_index('idx_dag_next_dagrun_create_after')

    op.drop_table('dag')
    op.drop_table('ab_user')

"""roster_jobs: validations and uploads in the background, with their progress (issue 14)

Revision ID: b7c41d2e9a05
Revises: faee0aeec94f
Create Date: 2026-12-05 09:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ck_runtime.tables


revision: str = 'b7c41d2e9a05'
down_revision: str | None = 'faee0aeec94f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'roster_jobs',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('school_id', sa.Uuid(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('filename', sa.Text(), server_default='', nullable=False),
        sa.Column('total', sa.Integer(), nullable=True),
        sa.Column('rows_read', sa.Integer(), server_default='0', nullable=False),
        sa.Column('validated', sa.Integer(), server_default='0', nullable=False),
        sa.Column('stored', sa.Integer(), server_default='0', nullable=False),
        sa.Column('reason', sa.Text(), server_default='', nullable=False),
        sa.Column('result', sa.Text(), nullable=True),
        sa.Column('created_at', ck_runtime.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', ck_runtime.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', ck_runtime.tables.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('roster_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_roster_jobs_school', ['school_id', 'created_at'], unique=False)
        batch_op.create_index('ix_roster_jobs_unfinished', ['status', 'updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('roster_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_roster_jobs_unfinished')
        batch_op.drop_index('ix_roster_jobs_school')
    op.drop_table('roster_jobs')

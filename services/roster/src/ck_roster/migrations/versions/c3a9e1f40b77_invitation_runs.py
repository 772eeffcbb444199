"""invitation_runs: the progress of an invitation's mails (issue 14)

Revision ID: c3a9e1f40b77
Revises: b7c41d2e9a05
Create Date: 2026-12-05 10:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ck_runtime.tables


revision: str = 'c3a9e1f40b77'
down_revision: str | None = 'b7c41d2e9a05'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'invitation_runs',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('school_id', sa.Uuid(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('requested', sa.Integer(), nullable=False),
        sa.Column('skipped_active', sa.Integer(), server_default='0', nullable=False),
        sa.Column('chunks', sa.Integer(), nullable=False),
        sa.Column('chunks_handled', sa.Integer(), server_default='0', nullable=False),
        sa.Column('queued', sa.Integer(), server_default='0', nullable=False),
        sa.Column('sent', sa.Integer(), server_default='0', nullable=False),
        sa.Column('failed', sa.Integer(), server_default='0', nullable=False),
        sa.Column('created_at', ck_runtime.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', ck_runtime.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('invitation_runs', schema=None) as batch_op:
        batch_op.create_index('ix_invitation_runs_updated', ['updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('invitation_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_invitation_runs_updated')
    op.drop_table('invitation_runs')

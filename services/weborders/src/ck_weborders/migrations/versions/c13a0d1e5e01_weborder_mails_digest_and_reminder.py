"""weborders: digested_at and reminded_at for the budget holders' daily digest (issue 13)

Revision ID: c13a0d1e5e01
Revises: 08c649a55ce2
Create Date: 2026-12-01 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ck_runtime.tables


revision: str = 'c13a0d1e5e01'
down_revision: str | None = '08c649a55ce2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('weborders', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('digested_at', ck_runtime.tables.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column('reminded_at', ck_runtime.tables.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index('ix_weborders_status', ['status', 'created_at'], unique=False)
    # Weborders already waiting when this ships count as announced: the first digest names
    # only what arrives from now on (and reminds of what has waited too long).
    op.execute("UPDATE weborders SET digested_at = created_at WHERE status = 'ingediend'")


def downgrade() -> None:
    with op.batch_alter_table('weborders', schema=None) as batch_op:
        batch_op.drop_index('ix_weborders_status')
        batch_op.drop_column('reminded_at')
        batch_op.drop_column('digested_at')

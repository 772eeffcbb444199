"""outgoing_mails.run_id: the invitation run a mail belongs to (issue 14)

Revision ID: d4e7a2b19c50
Revises: c1ccab6131ab
Create Date: 2026-12-05 10:25:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'd4e7a2b19c50'
down_revision: str | None = 'c1ccab6131ab'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outgoing_mails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run_id', sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outgoing_mails', schema=None) as batch_op:
        batch_op.drop_column('run_id')

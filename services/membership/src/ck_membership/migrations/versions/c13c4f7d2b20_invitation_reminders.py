"""invitations: the address and first name for reminders, and how many were sent (issue 13)

Revision ID: c13c4f7d2b20
Revises: d89a3b6f4629
Create Date: 2026-12-01 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'c13c4f7d2b20'
down_revision: str | None = 'd89a3b6f4629'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Invitations sent before this keep no address: they get no reminder.
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('voornaam', sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column('reminders_sent', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.create_index(
            'ix_invitations_reminders', ['status', 'last_sent_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index('ix_invitations_reminders')
        batch_op.drop_column('reminders_sent')
        batch_op.drop_column('voornaam')
        batch_op.drop_column('email')

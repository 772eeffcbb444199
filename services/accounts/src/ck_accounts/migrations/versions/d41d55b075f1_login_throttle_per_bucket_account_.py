"""login_throttle per bucket (account, client address), lock from the last failure

Revision ID: d41d55b075f1
Revises: e1eb14014554
Create Date: 2026-12-05 02:37:21.969999
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ck_runtime.tables


revision: str = 'd41d55b075f1'
down_revision: str | None = 'e1eb14014554'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A new primary key and another way to keep the lock: the table is made anew. Its rows are
    # at most 15 minutes of failed log-ins, so counting starts again at this upgrade.
    op.drop_table('login_throttle')
    op.create_table('login_throttle',
    sa.Column('bucket', sa.String(length=300), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_failure_at', ck_runtime.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_failure_at', ck_runtime.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('bucket')
    )


def downgrade() -> None:
    op.drop_table('login_throttle')
    op.create_table('login_throttle',
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_failure_at', ck_runtime.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', ck_runtime.tables.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('email')
    )

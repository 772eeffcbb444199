"""orders: objection_mailed_at, the budget holders were told the period ends (issue 13)

Revision ID: c13b7e2a9f10
Revises: 18b2583bcd03
Create Date: 2026-12-01 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ck_runtime.tables


revision: str = 'c13b7e2a9f10'
down_revision: str | None = '18b2583bcd03'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'objection_mailed_at', ck_runtime.tables.UtcDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('objection_mailed_at')

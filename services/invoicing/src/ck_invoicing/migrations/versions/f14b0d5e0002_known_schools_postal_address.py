"""known_schools: the school's postal address (issue 14, R-INVOICE-2)

Revision ID: f14b0d5e0002
Revises: a0d1c0000003 (chained after the audit trail when the branches were merged)
Create Date: 2026-12-05 09:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "f14b0d5e0002"
down_revision: str | None = "a0d1c0000003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("known_schools", schema=None) as batch_op:
        batch_op.add_column(sa.Column("street", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("postcode", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("city", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("known_schools", schema=None) as batch_op:
        batch_op.drop_column("city")
        batch_op.drop_column("postcode")
        batch_op.drop_column("street")

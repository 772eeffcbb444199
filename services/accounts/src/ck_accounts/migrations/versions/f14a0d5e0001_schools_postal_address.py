"""schools: the postal address (issue 14, R-SCHOOL-1, R-INVOICE-2)

Revision ID: f14a0d5e0001
Revises: a0d1a0000001 (chained after the audit trail when the branches were merged)
Create Date: 2026-12-05 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "f14a0d5e0001"
down_revision: str | None = "a0d1a0000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.add_column(sa.Column("street", sa.String(100), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("postcode", sa.String(10), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("city", sa.String(100), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.drop_column("city")
        batch_op.drop_column("postcode")
        batch_op.drop_column("street")

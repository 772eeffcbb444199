"""accounts: provider users (provider_id, provider_names)

Issue 13, the provider portal. Only an added column and index on users: no foreign key, so
SQLite alters the table in place instead of rebuilding it (a rebuild of users would touch the
sessions and password links that reference it).

Revision ID: 16db2b34cd3e
Revises: f14a0d5e0001 (chained after the postal address when the branches were merged)
Create Date: 2026-12-05 08:42:40.570029
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "16db2b34cd3e"
down_revision: str | None = "f14a0d5e0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_names",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_users_provider_id"), ["provider_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_provider_id"))
        batch_op.drop_column("provider_id")
    op.drop_table("provider_names")

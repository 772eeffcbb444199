"""activation_failures keyed by bucket (address, prefix, global)

Revision ID: 72d04481b0c3
Revises: 4b1d8c718b2e
Create Date: 2026-12-05 02:32:08.469746
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ck_runtime.tables


revision: str = '72d04481b0c3'
down_revision: str | None = '4b1d8c718b2e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A rename, not drop + add (autogenerate cannot tell): the rows keep counting. The old keys
    # were client addresses' keyed hashes, which are now the "address:" buckets.
    with op.batch_alter_table('activation_failures', schema=None) as batch_op:
        batch_op.alter_column('client', new_column_name='bucket')
    op.execute("UPDATE activation_failures SET bucket = 'address:' || bucket")


def downgrade() -> None:
    op.execute("DELETE FROM activation_failures WHERE bucket NOT LIKE 'address:%'")
    op.execute("UPDATE activation_failures SET bucket = substr(bucket, 9)")
    with op.batch_alter_table('activation_failures', schema=None) as batch_op:
        batch_op.alter_column('bucket', new_column_name='client')

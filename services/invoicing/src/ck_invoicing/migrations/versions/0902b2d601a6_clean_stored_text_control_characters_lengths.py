"""clean stored text: control characters, lengths (issue 10)

Revision ID: 0902b2d601a6
Revises: cabe43a1fd6c
Create Date: 2026-12-05 03:00:00.000000
"""
from collections.abc import Sequence

from alembic import op
from ck_contracts.bounds import SHORT_MAX
from ck_runtime.cleaning import TextColumn, clean_table, known_schools


revision: str = '0902b2d601a6'
down_revision: str | None = 'cabe43a1fd6c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None



def upgrade() -> None:
    """References stored before the input rules (they are printed on the invoice PDF) and
    the school names, as the boundary keeps them now (ck_contracts.bounds)."""
    c = op.get_bind()
    clean_table(
        c,
        "invoices",
        ["id"],
        [TextColumn("reference", SHORT_MAX), TextColumn("payment_reference", SHORT_MAX)],
    )
    known_schools(c)


def downgrade() -> None:
    pass  # the removed characters are gone; nothing to restore

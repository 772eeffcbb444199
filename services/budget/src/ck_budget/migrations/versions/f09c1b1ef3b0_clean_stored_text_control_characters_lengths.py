"""clean stored text: control characters, lengths (issue 10)

Revision ID: f09c1b1ef3b0
Revises: 9233fbe4e69a
Create Date: 2026-12-05 03:00:00.000000
"""
from collections.abc import Sequence

from alembic import op
from ck_contracts.bounds import NAME_MAX, SHORT_MAX
from ck_runtime.cleaning import TextColumn, clean_table, known_schools


revision: str = 'f09c1b1ef3b0'
down_revision: str | None = '9233fbe4e69a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None



def upgrade() -> None:
    """Text stored before the input rules, as the boundary keeps it now (ck_contracts.bounds):
    order references, ledger and debit descriptions, card payments."""
    c = op.get_bind()
    clean_table(c, "orders", ["id"], [TextColumn("reference", SHORT_MAX)])
    clean_table(c, "ledger_entries", ["seq"], [TextColumn("description", NAME_MAX)])
    clean_table(c, "debits", ["reference_id"], [TextColumn("description", NAME_MAX)])
    clean_table(
        c,
        "card_payments",
        ["payment_id"],
        [TextColumn("description", NAME_MAX), TextColumn("provider_reference", SHORT_MAX)],
    )
    known_schools(c)


def downgrade() -> None:
    pass  # the removed characters are gone; nothing to restore

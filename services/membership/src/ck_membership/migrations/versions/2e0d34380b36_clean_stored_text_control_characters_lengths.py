"""clean stored text: control characters, lengths (issue 10)

Revision ID: 2e0d34380b36
Revises: 5f216364f315
Create Date: 2026-12-05 03:00:00.000000
"""
from collections.abc import Sequence

from alembic import op
from ck_contracts.bounds import EMAIL_MAX, NAME_MAX
from ck_runtime.cleaning import TextColumn, clean_table, known_schools


revision: str = '2e0d34380b36'
down_revision: str | None = '5f216364f315'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None



def upgrade() -> None:
    """Members' own details and school names stored before the input rules, as the boundary
    keeps them now (ck_contracts.bounds; a member's name is at most 100 characters)."""
    c = op.get_bind()
    clean_table(
        c,
        "memberships",
        ["person_id"],
        [
            TextColumn("voornaam", 100),
            TextColumn("achternaam", 100),
            TextColumn("email", EMAIL_MAX),
        ],
    )
    clean_table(c, "invitations", ["id"], [TextColumn("school_name", NAME_MAX)])
    known_schools(c)


def downgrade() -> None:
    pass  # the removed characters are gone; nothing to restore

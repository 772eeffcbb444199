"""clean stored text: control characters, lengths (issue 10)

Revision ID: 37829c0fbc8b
Revises: e88571c5b566
Create Date: 2026-12-05 03:00:00.000000
"""
from collections.abc import Sequence

from alembic import op
from ck_contracts.roster import PersonFields
from ck_roster.domain.rules import TEXT_LIMITS
from ck_roster.store import field_values
from ck_roster.domain.matching import TEXT_FIELDS
from ck_runtime.cleaning import TextColumn, clean_table, known_schools


revision: str = '37829c0fbc8b'
down_revision: str | None = 'e88571c5b566'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None



def _keys(connection, row):
    """The lower-cased shadows, the match key and the digest of the cleaned person (the
    roster's own functions, so they match what an upload computes)."""
    fields = PersonFields.model_construct(
        **{name: row[name] or "" for name in TEXT_FIELDS}, studiejaar=row["studiejaar"]
    )
    values = field_values(fields)
    return {name: value for name, value in values.items() if name not in TEXT_FIELDS}


def upgrade() -> None:
    """People stored before the input rules: every text field as the boundary keeps it now
    (ck_contracts.bounds), with their shadows and keys recomputed; the school names."""
    connection = op.get_bind()
    clean_table(
        connection,
        "people",
        ["school_id", "kind", "id"],
        [TextColumn(name, TEXT_LIMITS[name]) for name in TEXT_FIELDS],
        also_read=["studiejaar"],
        derived=_keys,
    )
    known_schools(connection)


def downgrade() -> None:
    pass  # the removed characters are gone; nothing to restore

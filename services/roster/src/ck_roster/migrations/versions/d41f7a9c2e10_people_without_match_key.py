"""people without match_key: the name key is made from the shadows when a re-upload needs it
(issue 15: every upload stored a column as wide as a name for it)

Revision ID: d41f7a9c2e10
Revises: c3a9e1f40b77
Create Date: 2026-12-06 03:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'd41f7a9c2e10'
down_revision: str | None = 'c3a9e1f40b77'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY_FIELDS = ("voornaam", "achternaam", "locatienaam", "opleiding")


def upgrade() -> None:
    # Not alembic's batch mode on SQLite: it would copy the table into one with a rowid.
    # SQLite (>= 3.35) drops a column that is in no index in place; PostgreSQL marks it gone.
    op.execute("ALTER TABLE people DROP COLUMN match_key")


def downgrade() -> None:
    op.add_column(
        'people', sa.Column('match_key', sa.Text(), server_default='', nullable=False)
    )
    # The key as the roster made it (matching.name_key) from the stored shadows: the lowered
    # fields, stripped, and the year, joined by the separator the roster uses.
    from ck_roster.domain.matching import name_keys_of_lowered, year_texts

    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT school_id, kind, id, voornaam_lower, achternaam_lower, locatienaam_lower,"
            " opleiding_lower, studiejaar FROM people"
        )
    ).all()
    if not rows:
        return
    ids = [(r[0], r[1], r[2]) for r in rows]
    lowered = {f: [r[3 + i] for r in rows] for i, f in enumerate(_KEY_FIELDS)}
    keys = name_keys_of_lowered(lowered, year_texts(r[7] for r in rows))
    connection.execute(
        sa.text(
            "UPDATE people SET match_key = :key"
            " WHERE school_id = :school_id AND kind = :kind AND id = :id"
        ),
        [
            {"key": key, "school_id": s, "kind": k, "id": i}
            for (s, k, i), key in zip(ids, keys, strict=True)
        ],
    )

"""clean stored text: control characters, lengths (issue 10)

Revision ID: 16436576bcc8
Revises: 6d9c86e60f82
Create Date: 2026-12-05 03:00:00.000000
"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa
from ck_contracts.bounds import (
    EMAIL_MAX,
    LONG_TEXT_MAX,
    MESSAGE_MAX,
    NAME_MAX,
    REASON_MAX,
    SHORT_MAX,
)
from ck_runtime.cleaning import TextColumn, clean_table, known_schools


revision: str = '16436576bcc8'
down_revision: str | None = '6d9c86e60f82'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NAME = TextColumn("name", NAME_MAX)


def _offering_shadows(connection, row):
    """discipline_lc, city_lc and search_text as provider_api writes them."""
    provider = connection.execute(
        sa.text("SELECT name FROM providers WHERE id = :id"), {"id": row["provider_id"]}
    ).scalar()
    return {
        "discipline_lc": row["discipline"].lower(),
        "city_lc": row["city"].lower(),
        "search_text": "\n".join((row["title"], row["description"], provider or "")).lower(),
    }


def upgrade() -> None:
    """Text stored before the input rules (a weborder's activity with a \\v made every later
    spending export fail): each column as the boundary keeps it now (ck_contracts.bounds)."""
    c = op.get_bind()
    clean_table(
        c,
        "providers",
        ["id"],
        [NAME, TextColumn("contact_name", NAME_MAX), TextColumn("contact_email", EMAIL_MAX)],
    )
    clean_table(
        c,
        "offerings",
        ["id"],
        [
            TextColumn("title", NAME_MAX),
            TextColumn("description", LONG_TEXT_MAX, multi_line=True),
            TextColumn("discipline", SHORT_MAX),
            TextColumn("city", SHORT_MAX),
        ],
        also_read=["provider_id"],
        derived=_offering_shadows,
    )
    clean_table(
        c,
        "offer_requests",
        ["id"],
        [
            TextColumn("offering_title", NAME_MAX),
            TextColumn("message", MESSAGE_MAX, multi_line=True),
            TextColumn("requested_by", NAME_MAX),
        ],
    )
    clean_table(
        c,
        "weborders",
        ["id"],
        [
            TextColumn("activity", NAME_MAX),
            TextColumn("provider_reference", SHORT_MAX),
            TextColumn("docent_plus_email", EMAIL_MAX),
            TextColumn("reason", REASON_MAX, multi_line=True),
        ],
    )
    clean_table(
        c,
        "schooltoer_orders",
        ["id"],
        [
            TextColumn("from_place", SHORT_MAX),
            TextColumn("to_place", SHORT_MAX),
            TextColumn("reason", REASON_MAX, multi_line=True),
        ],
    )
    clean_table(c, "card_payments", ["id"], [TextColumn("description", NAME_MAX)])
    clean_table(
        c,
        "dossier_notes",
        ["id"],
        [TextColumn("text", LONG_TEXT_MAX, multi_line=True), TextColumn("author", NAME_MAX)],
    )
    known_schools(c)


def downgrade() -> None:
    pass  # the removed characters are gone; nothing to restore

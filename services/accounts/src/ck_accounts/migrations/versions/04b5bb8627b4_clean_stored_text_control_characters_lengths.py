"""clean stored text: control characters, lengths (issue 10)

Revision ID: 04b5bb8627b4
Revises: bed5c9ba2c3b
Create Date: 2026-12-05 03:00:00.000000
"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa
from ck_contracts.bounds import CODE_MAX, EMAIL_MAX, NAME_MAX, PHONE_MAX, SHORT_MAX, clean_text
from ck_runtime.cleaning import TextColumn, clean_table


revision: str = '04b5bb8627b4'
down_revision: str | None = 'bed5c9ba2c3b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_CONTACT = {"name": NAME_MAX, "role": SHORT_MAX, "email": EMAIL_MAX, "phone": PHONE_MAX}


def _list(values, limit):
    return [clean_text(v, max_length=limit) if isinstance(v, str) else v for v in values or []]


def _contacts(contacts):
    cleaned = []
    for contact in contacts or []:
        if isinstance(contact, dict):
            contact = {
                key: clean_text(value, max_length=_CONTACT[key])
                if key in _CONTACT and isinstance(value, str)
                else value
                for key, value in contact.items()
            }
        cleaned.append(contact)
    return cleaned


def upgrade() -> None:
    """Schools' settings and users' names stored before the input rules, as the boundary
    keeps them now (ck_contracts.bounds); the lists inside the JSON columns item by item."""
    c = op.get_bind()
    clean_table(
        c,
        "schools",
        ["id"],
        [TextColumn("name", NAME_MAX), TextColumn("default_order_reference", SHORT_MAX)],
    )
    schools = sa.table(
        "schools",
        sa.column("id"),
        sa.column("brin_codes", sa.JSON),
        sa.column("locations", sa.JSON),
        sa.column("contacts", sa.JSON),
    )
    for row in c.execute(sa.select(*schools.c)).mappings().all():
        values = {
            "brin_codes": _list(row["brin_codes"], CODE_MAX),
            "locations": _list(row["locations"], NAME_MAX),
            "contacts": _contacts(row["contacts"]),
        }
        if any(values[name] != row[name] for name in values):
            c.execute(sa.update(schools).where(schools.c.id == row["id"]).values(**values))
    clean_table(c, "users", ["id"], [TextColumn("name", NAME_MAX)])


def downgrade() -> None:
    pass  # the removed characters are gone; nothing to restore

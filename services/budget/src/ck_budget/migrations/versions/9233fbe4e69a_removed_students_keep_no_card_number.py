"""removed students keep no card number

The tombstones of students who left the roster (student_memberships.removed) lose the card
number of their last activation (R-ROSTER-7, R-AVG-2). Data only; nothing to undo.

Revision ID: 9233fbe4e69a
Revises: b634c36aa487
Create Date: 2026-12-05 02:34:31.697059
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ck_runtime.tables


revision: str = '9233fbe4e69a'
down_revision: str | None = 'b634c36aa487'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE student_memberships SET card_number = NULL "
            "WHERE removed AND card_number IS NOT NULL"
        )
    )


def downgrade() -> None:
    pass  # an erased number stays erased

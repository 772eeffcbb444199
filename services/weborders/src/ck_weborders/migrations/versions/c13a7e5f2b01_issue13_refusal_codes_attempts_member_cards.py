"""issue 13: refusal codes and params, approval attempts, member_cards (card hash -> student)

Refusals stored before keep their Dutch text in `reason` (still shown as it is); their code is
set from that text, so a refusal for lack of balance can be approved again ("opnieuw
goedkeuren") and one for the end of the programme period stays final. The prefixes are the
sentences the budget service wrote (ck_budget.consumers before issue 13, and the older text
of the tests' fixtures).

Revision ID: c13a7e5f2b01
Revises: c13a0d1e5e01 (chained after the mails migration when the branches were merged)
Create Date: 2026-12-20 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c13a7e5f2b01"
down_revision: str | None = "c13a0d1e5e01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY = (
    ("insufficient_balance", "Onvoldoende saldo%"),
    ("insufficient_balance", "Het saldo is te laag%"),
    ("period_over", "De programmaperiode is voorbij%"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Run in one transaction with the text-cleaning migration (a new database), whose
        # streamed read (yield_per) leaves its portal open under asyncpg: PostgreSQL refuses to
        # ALTER a table "used by active queries in this session" until it is closed.
        op.execute("CLOSE ALL")
    for table in ("weborders", "schooltoer_orders"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("refusal_code", sa.String(60), nullable=False, server_default="")
            )
            batch.add_column(sa.Column("refusal_params", sa.JSON(), nullable=True))
            if table == "weborders":
                batch.add_column(
                    sa.Column("attempt", sa.Integer(), nullable=False, server_default="1")
                )
        for code, prefix in LEGACY:
            op.execute(
                sa.text(
                    f"UPDATE {table} SET refusal_code = :code "
                    "WHERE status = 'geweigerd' AND refusal_code = '' AND reason LIKE :prefix"
                ).bindparams(code=code, prefix=prefix)
            )
    op.create_table(
        "member_cards",
        sa.Column("card_hash", sa.String(64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("card_hash"),
    )
    op.create_index("ix_member_cards_person_id", "member_cards", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_member_cards_person_id", table_name="member_cards")
    op.drop_table("member_cards")
    for table in ("weborders", "schooltoer_orders"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("refusal_params")
            batch.drop_column("refusal_code")
            if table == "weborders":
                batch.drop_column("attempt")

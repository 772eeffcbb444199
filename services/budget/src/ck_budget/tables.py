"""The budget service's own tables. Money in integer cents (BigInteger)."""

from __future__ import annotations

from ck_runtime.known_schools import add_known_schools_table
from ck_runtime.tables import UtcDateTime, add_runtime_tables
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)

metadata = MetaData()
outbox, inbox = add_runtime_tables(metadata)
known_schools = add_known_schools_table(metadata)

# Budget orders (R-BUDGET-2..4). Priced when placed or changed; the lines are the invoice's.
orders = Table(
    "orders",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("school_number", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("reference", String(100), nullable=False),
    Column("collective_students", Integer, nullable=False),
    Column("individual_students", Integer, nullable=False),
    Column("collective_budget_cents", BigInteger, nullable=False),
    Column("individual_budget_cents", BigInteger, nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("lines", JSON, nullable=False),
    Column("placed_at", UtcDateTime(timezone=True), nullable=False),
    Column("objection_ends_at", UtcDateTime(timezone=True), nullable=False),
    Column("decided_at", UtcDateTime(timezone=True)),
    Column("decided_by", Uuid),  # the CJP admin who approved or cancelled; None: automatic
    Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    # issue 13: the budget holders were told the objection period is about to end (once)
    Column("objection_mailed_at", UtcDateTime(timezone=True)),
    Index("ix_orders_school", "school_id", "placed_at"),
    # The approval scheduler's question: open orders whose period has ended.
    Index("ix_orders_due", "status", "objection_ends_at"),
)

# One row per school, locked (FOR UPDATE) for every change: the collective balance and the
# individual budget that is paid for and not yet assigned to students.
balances = Table(
    "balances",
    metadata,
    Column("school_id", Uuid, primary_key=True),
    Column("balance_cents", BigInteger, nullable=False),
    Column("assignable_cents", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    CheckConstraint("balance_cents >= 0", name="ck_balances_balance_not_negative"),
    CheckConstraint("assignable_cents >= 0", name="ck_balances_assignable_not_negative"),
)

# Every credit and debit of a school's balance with the balance after it (R-BUDGET-7).
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column(
        "seq",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("school_id", Uuid, nullable=False),
    Column("at", UtcDateTime(timezone=True), nullable=False),
    Column("description", String(200), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("balance_cents", BigInteger, nullable=False),
    Column("order_id", Uuid),
    Column("invoice_id", Uuid, unique=True),  # a paid invoice is credited once
    CheckConstraint("balance_cents >= 0", name="ck_ledger_balance_not_negative"),
    Index("ix_ledger_school", "school_id", "seq"),
)

# Paid invoices whose budget was released (R-BUDGET-5, R-INVOICE-4): the key makes it once.
releases = Table(
    "releases",
    metadata,
    Column("invoice_id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("number", String(20), nullable=False),
    Column("collective_budget_cents", BigInteger, nullable=False),
    Column("individual_budget_cents", BigInteger, nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("released_at", UtcDateTime(timezone=True), nullable=False),
)

# Individual budget assigned to students (R-BUDGET-6); spent_cents: what card payments took.
allocations = Table(
    "allocations",
    metadata,
    Column("person_id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False, index=True),
    Column("allocated_cents", BigInteger, nullable=False),
    Column("spent_cents", BigInteger, nullable=False, default=0),
    Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    CheckConstraint("spent_cents >= 0 AND spent_cents <= allocated_cents", name="ck_alloc_spent"),
)

# Projection of the membership events: which students have an active membership. A person
# removed from the roster stays as a tombstone (ids only), so a late event cannot revive them.
student_memberships = Table(
    "student_memberships",
    metadata,
    Column("person_id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("removed", Boolean, nullable=False, default=False),
    Column("updated_at", UtcDateTime(timezone=True), nullable=False),  # the event's time
    # The CJP card of the latest activation (R-WEB-6); a new activation brings a new number.
    Column("card_number", String(32)),
    Index("ix_student_memberships_school", "school_id", "active"),
    Index("ix_student_memberships_card", "card_number"),
)

# Weborders and Schooltoer orders debited from the collective balance (R-WEB-2/4): the key
# makes a debit happen once per weborder / Schooltoer order, whatever arrives twice; a
# cancelled approval credits it back once (credited_at). Only debits are kept: a refusal
# debits nothing, so a new approval of the same weborder is decided afresh.
debits = Table(
    "debits",
    metadata,
    Column("reference_id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("description", String(200), nullable=False),
    Column("debited_at", UtcDateTime(timezone=True), nullable=False),
    Column("credited_at", UtcDateTime(timezone=True)),
    CheckConstraint("amount_cents > 0", name="ck_debits_amount_positive"),
    Index("ix_debits_school", "school_id", "debited_at"),
)

# Card payments from students' individual budget (R-WEB-6), once per provider reference: a
# till that retries gets the first answer back.
card_payments = Table(
    "card_payments",
    metadata,
    Column("payment_id", Uuid, primary_key=True),
    Column("provider_id", Uuid, nullable=False),
    Column("provider_reference", String(100), nullable=False),
    Column("school_id", Uuid, nullable=False),
    Column("person_id", Uuid, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("remaining_cents", BigInteger, nullable=False),  # the student's budget left after it
    Column("description", String(200), nullable=False),
    Column("paid_at", UtcDateTime(timezone=True), nullable=False),
    CheckConstraint("amount_cents > 0", name="ck_card_payments_amount_positive"),
    UniqueConstraint("provider_id", "provider_reference", name="uq_card_payments_reference"),
    Index("ix_card_payments_school", "school_id", "paid_at"),
)

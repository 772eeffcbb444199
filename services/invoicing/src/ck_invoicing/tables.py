"""The invoicing service's own tables.

`invoices` holds one row per approved budget order (`order_id` unique: a redelivered or
re-published approval never makes a second invoice). `invoice_counters` holds the last number
given out per year; the row is locked while an invoice is made, so numbers are gapless
(R-INVOICE-1). `uploaded_rosters` and `roster_changes` are a projection of the roster's events:
how many students and teachers a school uploaded, for the deviation (R-INVOICE-3).
"""

from __future__ import annotations

from ck_runtime.audit import add_audit_table
from ck_runtime.known_schools import add_known_schools_table
from ck_runtime.tables import UtcDateTime, add_runtime_tables
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    text,
)

metadata = MetaData()
outbox, inbox = add_runtime_tables(metadata)
audit_log = add_audit_table(metadata)  # the audit trail (ck_runtime.audit)
known_schools = add_known_schools_table(metadata, address=True)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("order_id", Uuid, nullable=False, unique=True),
    Column("number", String(8), nullable=False, unique=True),
    Column("year", Integer, nullable=False),
    Column("invoice_date", UtcDateTime(timezone=True), nullable=False),
    Column("school_number", Integer, nullable=False),
    Column("reference", String(100), nullable=False, server_default=""),
    Column("collective_students", Integer, nullable=False),
    Column("individual_students", Integer, nullable=False),
    Column("lines", JSON, nullable=False),  # list of OrderLine as JSON
    Column("total_cents", BigInteger, nullable=False),
    Column("collective_budget_cents", BigInteger, nullable=False),
    Column("individual_budget_cents", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("paid_on", Date),
    Column("paid_amount_cents", BigInteger),
    Column("payment_reference", String(100)),
    Column("payment_recorded_at", UtcDateTime(timezone=True)),
    Column("payment_recorded_by", Uuid),
    # The school's list, newest first.
    Index("ix_invoices_school_date", "school_id", "invoice_date"),
)

invoice_counters = Table(
    "invoice_counters",
    metadata,
    Column("year", Integer, primary_key=True),  # calendar year in Europe/Amsterdam
    Column("last_number", Integer, nullable=False),  # 0: none given out yet
)

# The last whole-roster upload per school and kind: its total is authoritative.
uploaded_rosters = Table(
    "uploaded_rosters",
    metadata,
    Column("school_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("total", Integer, nullable=False),
    Column("as_of", UtcDateTime(timezone=True), nullable=False),  # the upload event's time
    PrimaryKeyConstraint("school_id", "kind"),
)

# Single additions (+1) and removals (-1) since that upload; older ones are pruned when an
# upload arrives, and ones older than the last upload are never stored.
roster_changes = Table(
    "roster_changes",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("delta", Integer, nullable=False),
    Column("occurred_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_roster_changes_school", "school_id", "kind", "occurred_at"),
)


# --- payouts to providers (issue 13, capability 4) ----------------------------------------------
# One row per money movement owed to (or back from) a provider: a debit the budget made for a
# weborder or Schooltoer order ("debit"), a cancelled approval credited back ("credit",
# negative), a card payment ("card"). Unique on (reference, entry): a redelivered or repeated
# event adds nothing. statement_id is set once, when a period closes; a line is never moved.
spending_lines = Table(
    "spending_lines",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("reference_id", Uuid, nullable=False),
    Column("entry", String(8), nullable=False),  # debit / credit / card
    Column("kind", String(16), nullable=False),  # weborder / schooltoer / card_payment
    Column("provider_id", Uuid),  # None: nobody to pay (kept off every statement)
    Column("school_id", Uuid),
    Column("description", String(300), nullable=False, server_default=""),
    Column("amount_cents", BigInteger, nullable=False),  # negative for a credit
    Column("booked_at", UtcDateTime(timezone=True), nullable=False),
    Column("statement_id", Uuid),
    # A credit whose debit was on a statement already: that statement (the correction's anchor).
    Column("corrects_statement_id", Uuid),
    UniqueConstraint("reference_id", "entry", name="uq_spending_lines_reference_entry"),
    # The lines still to go on a statement, per provider (what a closing reads).
    Index(
        "ix_spending_lines_pending",
        "provider_id",
        "booked_at",
        sqlite_where=text("statement_id IS NULL"),
        postgresql_where=text("statement_id IS NULL"),
    ),
    Index("ix_spending_lines_statement", "statement_id"),
)

statements = Table(
    "statements",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("provider_id", Uuid, nullable=False),
    Column("number", String(9), nullable=False, unique=True),  # U + 2 + 6 digits
    Column("year", Integer, nullable=False),
    Column("period_start", UtcDateTime(timezone=True), nullable=False),
    Column("period_end", UtcDateTime(timezone=True), nullable=False),
    Column("issued_at", UtcDateTime(timezone=True), nullable=False),
    Column("line_count", Integer, nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("paid_on", Date),
    Column("payment_reference", String(100), nullable=False, server_default=""),
    Column("paid_at", UtcDateTime(timezone=True)),
    Column("paid_by", Uuid),
    UniqueConstraint("provider_id", "period_end", name="uq_statements_provider_period"),
    Index("ix_statements_period", "period_end"),
)

# The last statement number given out per year (its own series, locked like invoice_counters).
statement_counters = Table(
    "statement_counters",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("last_number", Integer, nullable=False),
)

# The periods closed so far: inserting the row is the closing's claim, so of two replicas'
# schedulers exactly one closes a period.
payout_periods = Table(
    "payout_periods",
    metadata,
    Column("period_end", UtcDateTime(timezone=True), primary_key=True),
    Column("closed_at", UtcDateTime(timezone=True), nullable=False),
    Column("statements", Integer, nullable=False, server_default="0"),
)

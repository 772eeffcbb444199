"""The invoicing service's own tables.

`invoices` holds one row per approved budget order (`order_id` unique: a redelivered or
re-published approval never makes a second invoice). `invoice_counters` holds the last number
given out per year; the row is locked while an invoice is made, so numbers are gapless
(R-INVOICE-1). `uploaded_rosters` and `roster_changes` are a projection of the roster's events:
how many students and teachers a school uploaded, for the deviation (R-INVOICE-3).
"""

from __future__ import annotations

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
    Uuid,
)

metadata = MetaData()
outbox, inbox = add_runtime_tables(metadata)
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

"""The accounts service's own tables."""

from __future__ import annotations

from ck_runtime.audit import add_audit_table
from ck_runtime.tables import UtcDateTime, add_runtime_tables
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
)

metadata = MetaData()
outbox, inbox = add_runtime_tables(metadata)
audit_log = add_audit_table(metadata)  # the audit trail (ck_runtime.audit)

schools = Table(
    "schools",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_number", Integer, nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("brin_codes", JSON, nullable=False),
    Column("locations", JSON, nullable=False),
    Column("duo_student_count", Integer, nullable=False),
    Column("contacts", JSON, nullable=False),
    Column("default_order_reference", String(100), nullable=False, default=""),
    # Issue 14: the postal address (R-SCHOOL-1, printed on invoices).
    Column("street", String(100), nullable=False, server_default=""),
    Column("postcode", String(10), nullable=False, server_default=""),
    Column("city", String(100), nullable=False, server_default=""),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Column("updated_at", UtcDateTime(timezone=True), nullable=False),
)

# Provider portal (issue 13): the names of providers that have portal users, copied from the
# weborders service (which owns providers) when a CJP admin invites a user; for the portal's
# header and the invitation mail. No personal data.
provider_names = Table(
    "provider_names",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),  # stored lower-case
    Column("name", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("school_id", Uuid, ForeignKey("schools.id"), index=True),
    Column("password_hash", String(200)),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    # Docent+ only (R-ROLE-2): the teacher in the school's roster this account belongs to.
    Column("person_id", Uuid, index=True, unique=True),
    # Provider users only (issue 13): the cultural provider (owned by weborders) they act for.
    # No foreign key: adding one would make SQLite rebuild the users table (see the migration).
    Column("provider_id", Uuid, index=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Column("expires_at", UtcDateTime(timezone=True), nullable=False),
)

password_links = Table(
    "password_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Column("expires_at", UtcDateTime(timezone=True), nullable=False),
    Column("used_at", UtcDateTime(timezone=True)),
)

# Failed log-ins per bucket in its window (domain.after_failure): "account:<lower-case e-mail>"
# (known user or not) and "address:<the gateway's keyed hash of the client address>". The lock
# follows from the count and the last failure (domain.Throttle.locked_until).
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("bucket", String(300), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_failure_at", UtcDateTime(timezone=True), nullable=False),
    Column("last_failure_at", UtcDateTime(timezone=True), nullable=False),
)

# The school's teachers' memberships, a projection of the membership and roster events on
# accounts.events.teachers: Docent+ needs an active one (R-ROLE-2). Ids only, no personal data.
# A person removed from the roster stays here as a tombstone (removed = true), so a late
# MembershipActivated cannot bring them back; roster never reuses a person id.
teacher_memberships = Table(
    "teacher_memberships",
    metadata,
    Column("person_id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False, index=True),
    Column("active", Boolean, nullable=False),
    Column("removed", Boolean, nullable=False, default=False),
    # occurred_at of the newest membership event applied: older events change nothing.
    Column("changed_at", UtcDateTime(timezone=True), nullable=False),
)

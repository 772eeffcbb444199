"""The membership service's own tables.

`invitations` holds every invitation ever made; a person has at most one *open* invitation
(a partial unique index), whose code is sent again on a resend. Invitations hold no personal
data. `memberships` has one row per person who ever activated; the member's own details and
the card number are nullable because they are erased when the person leaves the roster
(R-AVG-2): what stays is an id-only row (status ended, removed_from_roster).
`activation_failures` counts failed activation attempts per bucket (client address, code
prefix, everyone) for throttling. An invitation's id doubles as the key of the personal link in
its mail (domain.link_key): it is never logged or published.
"""

from __future__ import annotations

from ck_runtime.known_schools import add_known_schools_table
from ck_runtime.tables import UtcDateTime, add_runtime_tables
from sqlalchemy import (
    Column,
    ColumnClause,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    literal_column,
    text,
)

metadata = MetaData()
outbox, inbox = add_runtime_tables(metadata)
known_schools = add_known_schools_table(metadata)


class InvitationStatus:
    OPEN = "open"
    USED = "used"
    REVOKED = "revoked"


# The partial index's predicate, written out as SQL in the queries that should use it: with a
# bind parameter for 'open' PostgreSQL's generic plan (asyncpg prepares statements) cannot
# prove the predicate and scans the table instead.
OPEN: ColumnClause[str] = literal_column("'open'")


class MembershipState:
    ACTIVE = "active"
    ENDED = "ended"


invitations = Table(
    "invitations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("person_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    # The stored form: 12 characters of the code alphabet, no dashes (domain.normalise_code).
    Column("code", String(12), nullable=False),
    Column("status", String(16), nullable=False),
    Column("school_name", String(200), nullable=False),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Column("last_sent_at", UtcDateTime(timezone=True), nullable=False),
    Column("send_count", Integer, nullable=False),
    Column("closed_at", UtcDateTime(timezone=True)),  # used or revoked
    # issue 13, reminders (at most MEMBERSHIP_INVITATION_REMINDERS): the address and first name
    # the last invitation mail went to, kept only while the invitation is open (blanked when
    # it is used or revoked, and when the person leaves the roster, R-AVG-2).
    Column("email", String(254)),
    Column("voornaam", String(200)),
    Column("reminders_sent", Integer, nullable=False, server_default="0"),
    Index("ix_invitations_reminders", "status", "last_sent_at"),
    # Activation looks a code up; a new code is checked against the existing ones.
    Index("uq_invitations_code", "code", unique=True),
    # At most one open invitation per person; an invitation chunk and a removal find it by
    # person (their queries say status = 'open', so both databases use this partial index).
    Index(
        "uq_invitations_open_person",
        "person_id",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
)

memberships = Table(
    "memberships",
    metadata,
    Column("person_id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    # The CJP card number; NULL once the person left the roster (R-ROSTER-7, R-AVG-2).
    Column("card_number", String(13)),
    Column("status", String(16), nullable=False),
    Column("invitation_id", Uuid, nullable=False),
    # The member's own details from the activation page; NULL once erased (R-AVG-2).
    Column("voornaam", String(100)),
    Column("achternaam", String(100)),
    Column("email", String(254)),
    Column("geboortedatum", Date),
    Column("activated_at", UtcDateTime(timezone=True), nullable=False),
    Column("ended_at", UtcDateTime(timezone=True)),
    Column("end_reason", String(32)),
    Index("uq_memberships_card_number", "card_number", unique=True),
)

# Failed activation attempts per bucket in its current window (domain.buckets,
# domain.after_failure): "address:<the gateway's keyed hash>", "prefix:<4 characters>", "global".
activation_failures = Table(
    "activation_failures",
    metadata,
    Column("bucket", String(128), primary_key=True),
    Column("window_start", UtcDateTime(timezone=True), nullable=False, index=True),
    Column("failures", Integer, nullable=False),
)

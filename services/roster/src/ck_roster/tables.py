"""The roster service's own tables.

`people` holds every person of every school's student and teacher roster. Text columns the list
filters and sorts on case-insensitively have a lower-cased shadow (`*_lower`), so a filter is a
plain LIKE and a sort can walk an index, the same on SQLite and PostgreSQL. `match_key` is the
name key of R-ROSTER-4 (voornaam, achternaam, locatienaam, studiejaar, opleiding) and `digest` a
hash of all fields, so a re-upload updates only the rows that really changed.
"""

from __future__ import annotations

from ck_contracts.roster import MembershipStatus
from ck_runtime.known_schools import add_known_schools_table
from ck_runtime.tables import UtcDateTime, add_runtime_tables
from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
)

from ck_roster.domain.matching import TEXT_FIELDS

metadata = MetaData()
outbox, inbox = add_runtime_tables(metadata)
known_schools = add_known_schools_table(metadata)

# Text fields of a person (PersonFields) and which of them get a lower-cased shadow column.
LOWERED_FIELDS = tuple(f for f in TEXT_FIELDS if f != "mobiel")  # mobiel: digits and "+"


def _text(name: str) -> Column[str]:
    return Column(name, Text, nullable=False, server_default="")


# Lower-cased shadows sort byte-wise on both databases (PostgreSQL's default collation would
# sort through strcoll, several times slower, and differently from SQLite).
_LOWERED = Text().with_variant(Text(collation="C"), "postgresql")


def _lowered(name: str) -> Column[str]:
    return Column(name, _LOWERED, nullable=False, server_default="")


people = Table(
    "people",
    metadata,
    Column("id", Uuid, nullable=False),
    Column("school_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    *(_text(f) for f in TEXT_FIELDS),
    Column("studiejaar", Integer),
    *(_lowered(f"{f}_lower") for f in LOWERED_FIELDS),
    Column("match_key", Text, nullable=False),
    Column("digest", String(32), nullable=False),
    Column("status", String(32), nullable=False, server_default=MembershipStatus.NEW.value),
    _text("activation_code"),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    # On SQLite the rows of one roster lie together (WITHOUT ROWID, clustered on this key):
    # a filtered list reads them in one range scan instead of 50,000 look-ups.
    PrimaryKeyConstraint("school_id", "kind", "id", name="pk_people"),
    # Status events and hand removals name the id. Over every school's people: the ids are
    # time-ordered (domain.ids), so an upload appends to this index instead of touching most
    # of its leaf pages (with 60 schools it no longer fits in PostgreSQL's shared_buffers).
    Index("uq_people_id", "id", unique=True),
    # Every read is of one school's roster of one kind, and the list's default sort is the
    # achternaam (R-ROSTER-6; the trailing id is the stable tiebreak). Deliberately the only
    # secondary index: each index costs about as much as the table itself when an upload
    # inserts 50,000 rows, while a filtered list reads the roster's rows anyway. E-mail
    # uniqueness per roster is kept by the upload's matching and by hand edits under the
    # school's row lock (see store.lock_school).
    Index("ix_people_roster_achternaam", "school_id", "kind", "achternaam_lower", "id"),
    sqlite_with_rowid=False,
)

# --- jobs (issue 14): a validation or upload running in the background, with its progress ---
# The file itself is not kept: a job the service could not finish (it stopped) is failed, not
# resumed (docs/architecture.md, "Jobs: progress on long work").
roster_jobs = Table(
    "roster_jobs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    _text("filename"),
    Column("total", Integer),
    Column("rows_read", Integer, nullable=False, server_default="0"),
    Column("validated", Integer, nullable=False, server_default="0"),
    Column("stored", Integer, nullable=False, server_default="0"),
    _text("reason"),
    Column("result", Text),  # JSON: {"report": ValidationReport, "upload": UploadResult}
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Column("updated_at", UtcDateTime(timezone=True), nullable=False),  # the heartbeat
    Column("finished_at", UtcDateTime(timezone=True)),
    Index("ix_roster_jobs_school", "school_id", "created_at"),
    Index("ix_roster_jobs_unfinished", "status", "updated_at"),
)


# --- issue 14: invitation runs ---------------------------------------------------------------
# One row per click on "verstuur uitnodiging" (id = the InvitationsRequested chunks'
# request_id): how far its mails got, counts only (no one's address). Written by the invite
# operation (requested, chunks) and by the consumers of InvitationsSent (chunks_handled,
# queued) and of the notifier's EmailsSent (sent, failed), each an `x = x + n` update.
invitation_runs = Table(
    "invitation_runs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("requested", Integer, nullable=False),
    Column("skipped_active", Integer, nullable=False, server_default="0"),
    Column("chunks", Integer, nullable=False),
    Column("chunks_handled", Integer, nullable=False, server_default="0"),
    Column("queued", Integer, nullable=False, server_default="0"),
    Column("sent", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_invitation_runs_updated", "updated_at"),
)

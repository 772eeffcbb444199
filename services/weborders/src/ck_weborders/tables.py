"""The weborders service's own tables. Money in integer cents (BigInteger).

Statuses are the Dutch values of `WeborderStatus`. Participants of a weborder live in their own
table (not a JSON column) so the dossier finds a student's activities by an index, and a
removed student's links are deleted with one statement (R-AVG-2).
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
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)

metadata = MetaData()
outbox, inbox = add_runtime_tables(metadata)
audit_log = add_audit_table(metadata)  # the audit trail (ck_runtime.audit)
known_schools = add_known_schools_table(metadata)

# Cultural providers (R-ROLE-3), registered by a CJP admin.
providers = Table(
    "providers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kvk_number", String(8), nullable=False, unique=True),
    Column("contact_name", String(200), nullable=False),
    Column("contact_email", String(254), nullable=False),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
)

# API keys: only HMAC-SHA256(pepper, key) is stored; the unique index on it is the look-up.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("provider_id", Uuid, ForeignKey("providers.id"), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(12), nullable=False),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Column("revoked_at", UtcDateTime(timezone=True)),
    # Provider portal (issue 13): the last call the key authenticated, written at most once a
    # minute per key (store.touch_key), so the hot path almost never writes for it.
    Column("last_used_at", UtcDateTime(timezone=True)),
)

# A provider's offer (R-WEB-3). search_text: title, description and provider name lower-cased,
# for a case-insensitive substring search that behaves alike on both databases.
offerings = Table(
    "offerings",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("provider_id", Uuid, ForeignKey("providers.id"), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("discipline", String(100), nullable=False),
    Column("city", String(100), nullable=False),
    Column("discipline_lc", String(100), nullable=False),
    Column("city_lc", String(100), nullable=False),
    Column("price_cents", BigInteger, nullable=False),
    Column("search_text", Text, nullable=False),
    Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    # Provider portal (issue 13): withdrawn by the provider; out of the offer, kept for the links.
    Column("withdrawn_at", UtcDateTime(timezone=True)),
)

# A school's request for an offering, for its provider to answer with a weborder (R-WEB-3).
offer_requests = Table(
    "offer_requests",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False, index=True),
    Column("school_number", Integer, nullable=False),
    Column("offering_id", Uuid, ForeignKey("offerings.id"), nullable=False),
    Column("offering_title", String(200), nullable=False),
    Column("message", Text, nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_offer_requests_offering", "offering_id", "created_at"),
)

# Weborders (R-WEB-1/2). idempotency_key is NULL when the provider sent none (NULLs never
# collide in a unique index, on either database).
weborders = Table(
    "weborders",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("provider_id", Uuid, nullable=False),
    Column("status", String(20), nullable=False),
    Column("school_number", Integer, nullable=False),
    Column("activity", String(200), nullable=False),
    Column("activity_date", Date, nullable=False),
    Column("participants", Integer, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("provider_reference", String(100), nullable=False),
    Column("docent_plus_email", String(254), nullable=False),
    Column("offering_id", Uuid),
    Column("request_id", Uuid),
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64)),  # SHA-256 of the body sent with the idempotency key
    Column("reason", String(500), nullable=False),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Column("decided_at", UtcDateTime(timezone=True)),
    Column("decided_by", Uuid),
    Column("settled_at", UtcDateTime(timezone=True)),  # debited by the budget
    Column("cancelled_at", UtcDateTime(timezone=True)),
    Column("credited_at", UtcDateTime(timezone=True)),  # a cancelled approval credited back
    # issue 13: named in a budget holders' daily digest as new / as a reminder (once each)
    Column("digested_at", UtcDateTime(timezone=True)),
    Column("reminded_at", UtcDateTime(timezone=True)),
    # issue 13: why the budget refused (a BudgetReason code and its params; the Dutch is the
    # gateway's). Refusals stored before keep their Dutch in `reason` (code set by the
    # migration from the text, params empty). attempt: how many times the school approved.
    Column("refusal_code", String(60), nullable=False, server_default=""),
    Column("refusal_params", JSON),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Index("ix_weborders_school", "school_id", "created_at"),
    Index("ix_weborders_provider", "provider_id", "created_at"),
    Index("ux_weborders_idempotency", "provider_id", "idempotency_key", unique=True),
    Index("ix_weborders_status", "status", "created_at"),  # the digest's question
)

weborder_participants = Table(
    "weborder_participants",
    metadata,
    Column("weborder_id", Uuid, ForeignKey("weborders.id"), primary_key=True),
    Column("person_id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Index("ix_weborder_participants_person", "person_id"),
)

# Schooltoer: transport tickets, debited like weborders (R-WEB-4).
schooltoer_orders = Table(
    "schooltoer_orders",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("status", String(20), nullable=False),
    Column("travel_date", Date, nullable=False),
    Column("from_place", String(100), nullable=False),
    Column("to_place", String(100), nullable=False),
    Column("travellers", Integer, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("ordered_by", Uuid, nullable=False),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Column("settled_at", UtcDateTime(timezone=True)),
    Column("refusal_code", String(60), nullable=False, server_default=""),  # issue 13
    Column("refusal_params", JSON),
    Index("ix_schooltoer_school", "school_id", "created_at"),
)

# Card payments (R-WEB-6) as the budget announced them; person_id is cleared when the student
# leaves the roster (R-AVG-2), the payment stays in the school's spending export.
card_payments = Table(
    "card_payments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("person_id", Uuid, index=True),
    Column("provider_id", Uuid, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("description", String(200), nullable=False),
    Column("paid_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_card_payments_school", "school_id", "paid_at"),
)

# Teachers' notes in a student's Cultuurkaart-dossier (R-DOSSIER-1).
dossier_notes = Table(
    "dossier_notes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("person_id", Uuid, nullable=False),
    Column("text", Text, nullable=False),
    Column("author", String(200), nullable=False),
    Column("at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_dossier_notes_person", "school_id", "person_id", "at"),
)

# Who is on each school's roster, ids only (R-AVG-2): a projection of the roster's
# RosterPeopleAdded (uploads), PersonAdded (by hand) and PersonRemoved. The dossier and a
# weborder's participants accept only the school's own people (R-DOSSIER-1, R-ROLE-6).
roster_people = Table(
    "roster_people",
    metadata,
    Column("person_id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("kind", String(10), nullable=False),  # RosterKind: students, teachers
)

# People removed from a roster (ids only): a late card payment or a note cannot bring their
# dossier back (R-AVG-2).
removed_people = Table(
    "removed_people",
    metadata,
    Column("person_id", Uuid, primary_key=True),
    Column("removed_at", UtcDateTime(timezone=True), nullable=False),
)


# --- issue 13: participants by CJP card number ----------------------------------------------------
# Card number -> student, from MembershipActivated (students only). Only a keyed hash of the
# number is kept (HMAC-SHA256 under a key derived from the API-key pepper): the table alone does
# not tell a card number, not even by trying all 10^12 of them. Deleted with the person
# (PersonRemoved); a re-activation adds the new card beside the old.
member_cards = Table(
    "member_cards",
    metadata,
    Column("card_hash", String(64), primary_key=True),
    Column("person_id", Uuid, nullable=False, index=True),
    Column("school_id", Uuid, nullable=False),
)

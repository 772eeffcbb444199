"""The notifier's own tables: the runtime's outbox and inbox, and the mails it sends."""

from __future__ import annotations

from enum import StrEnum

from ck_runtime.tables import UtcDateTime, add_runtime_tables
from sqlalchemy import CheckConstraint, Column, Index, Integer, MetaData, String, Table, Text, Uuid

metadata = MetaData()
outbox, inbox = add_runtime_tables(metadata)


class MailStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) try
    SENT = "sent"  # accepted by the SMTP server; recipient and bodies erased (R-AVG-2)
    FAILED = "failed"  # gave up: the dead letter an operator lists and replays


# One row per EmailRequested event: the id is the event id, so a redelivered event can never
# become a second mail. Recipient, subject and bodies are personal data: they are kept only
# until the SMTP server accepts the mail.
outgoing_mails = Table(
    "outgoing_mails",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("template", String(64), nullable=False),
    Column("recipient", String(320)),
    Column("subject", Text),
    Column("text_body", Text),
    Column("html_body", Text),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("correlation_id", String(64)),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    Column("sent_at", UtcDateTime(timezone=True)),
    # issue 14: the invitation run (EmailsRequested.run_id) whose progress counts this mail
    Column("run_id", Uuid),
    CheckConstraint("status IN ('pending', 'sent', 'failed')", name="ck_outgoing_mails_status"),
    Index("ix_outgoing_mails_due", "status", "next_attempt_at"),
)

# The SMTP server's acceptance of a mail, written the moment it comes (a few mails per
# transaction) while the pass that sends it is still going: a sender killed before its pass
# records `sent` leaves these behind, and no sender takes those mails again (ck_notifier.sender,
# "Crash safety"). The pass that records its outcomes deletes its receipts in the same
# transaction, so the table is empty between passes. No foreign key: on PostgreSQL the pass
# holds its mails' rows locked while receipts are written beside them.
mail_receipts = Table(
    "mail_receipts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("accepted_at", UtcDateTime(timezone=True), nullable=False),
)

"""Tables the runtime adds to every service's database: the outbox and the inbox."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Text, Uuid


def add_runtime_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Define outbox and inbox on a service's metadata, so its migrations create them."""
    outbox = Table(
        "outbox",
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("id", Uuid, nullable=False, unique=True),
        Column("routing_key", String(200), nullable=False),
        Column("body", JSON, nullable=False),
        Column("correlation_id", String(64)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), index=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("message_id", String(64), primary_key=True),
        Column("consumer", String(200), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )
    return outbox, inbox

"""Tables the runtime adds to every service's database: the outbox and the inbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps in UTC, aware on the way out on every backend (SQLite forgets the zone)."""

    impl = DateTime
    cache_ok = True

    def __init__(self, timezone: bool = True) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: store times in UTC with a zone")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def add_runtime_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Define outbox and inbox on a service's metadata, so its migrations create them.

    A published outbox row keeps no body (`{}`); the retention job (retention.py) deletes
    published rows and old inbox rows."""
    outbox = Table(
        "outbox",
        metadata,
        Column(
            "seq",
            BigInteger().with_variant(Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column("id", Uuid, nullable=False, unique=True),
        Column("routing_key", String(200), nullable=False),
        Column("body", JSON, nullable=False),
        Column("correlation_id", String(64)),
        Column("created_at", UtcDateTime(timezone=True), nullable=False),
        Column("published_at", UtcDateTime(timezone=True), index=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("message_id", String(64), primary_key=True),
        Column("consumer", String(200), primary_key=True),
        # Indexed for the retention job, which deletes rows older than inbox_retention_days.
        Column("processed_at", UtcDateTime(timezone=True), nullable=False, index=True),
    )
    # Commands answered, for repeats of the same request id (ck_runtime.commands). The key is
    # a hash of the request id and the answer is encrypted with a key derived from it, so the
    # table holds nothing readable without the request id, which only its sender knows.
    Table(
        "rpc_requests",
        metadata,
        Column("request_key", String(64), primary_key=True),
        Column("op", String(100), nullable=False),
        Column("payload_hash", String(64), nullable=False),
        Column("reply", LargeBinary, nullable=False),
        Column("created_at", UtcDateTime(timezone=True), nullable=False),
        Column("expires_at", UtcDateTime(timezone=True), nullable=False, index=True),
    )
    return outbox, inbox

"""Inbox: a consumer records each message id in the same transaction as its effects, so a
redelivered message (delivery is at least once) changes nothing a second time."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ck_runtime.clock import current_clock
from ck_runtime.db import rowcount
from ck_runtime.tables import add_runtime_tables

_, INBOX = add_runtime_tables(MetaData())


async def claim_message(session: AsyncSession, message_id: str, consumer: str) -> bool:
    """True the first time this consumer sees the message id; False for a redelivery.

    ON CONFLICT DO NOTHING instead of catching an IntegrityError: on PostgreSQL a failed
    insert would abort the whole transaction. A concurrent duplicate waits on the key and then
    finds it taken.
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(INBOX)
        .values(message_id=message_id, consumer=consumer, processed_at=current_clock().now())
        .on_conflict_do_nothing()
    )
    result = await session.execute(statement)
    return bool(rowcount(result))

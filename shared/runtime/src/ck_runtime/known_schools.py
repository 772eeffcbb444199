"""Each domain service's own list of registered schools, kept from accounts' events.

With it a service can refuse a command for a school id that does not exist without asking the
accounts service (services never read each other's tables).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ck_contracts.accounts import SchoolRegistered, SchoolSettingsChanged
from ck_contracts.topology import EventQueue, queues_of
from sqlalchemy import Column, Integer, MetaData, Table, Text, Uuid, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ck_runtime.consumers import EventConsumer
from ck_runtime.errors import NotFound
from ck_runtime.tables import UtcDateTime


def add_known_schools_table(metadata: MetaData) -> Table:
    return Table(
        "known_schools",
        metadata,
        Column("school_id", Uuid, primary_key=True),
        Column("school_number", Integer, nullable=False, unique=True),
        Column("duo_student_count", Integer),
        Column("name", Text),  # the school's name, for mails and invoices
        Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    )


KNOWN_SCHOOLS = add_known_schools_table(MetaData())


async def _upsert(event: SchoolRegistered | SchoolSettingsChanged, session: AsyncSession) -> None:
    values: dict[str, Any] = {
        "school_id": event.school_id,
        "school_number": event.school_number,
        "updated_at": event.occurred_at,
    }
    if event.duo_student_count is not None:
        values["duo_student_count"] = event.duo_student_count
    if event.name:  # events from before names travelled carry none: keep what is known
        values["name"] = event.name
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(KNOWN_SCHOOLS).values(**values)
    # Events may arrive out of order: never let an older fact overwrite a newer one.
    update = {k: statement.excluded[k] for k in values if k != "school_id"}
    statement = statement.on_conflict_do_update(
        index_elements=["school_id"],
        set_=update,
        where=KNOWN_SCHOOLS.c.updated_at <= statement.excluded.updated_at,
    )
    await session.execute(statement)


def known_schools_consumer(service: str) -> EventConsumer:
    (queue,) = [q for q in queues_of(service) if q.concern == "schools"]
    assert isinstance(queue, EventQueue)
    return EventConsumer(queue, {key: _upsert for key in queue.routing_keys})


async def require_known_school(session: AsyncSession, school_id: UUID) -> int:
    """The school's number, or NotFound when this service has never heard of the school."""
    number = (
        await session.execute(
            select(KNOWN_SCHOOLS.c.school_number).where(KNOWN_SCHOOLS.c.school_id == school_id)
        )
    ).scalar()
    if number is None:
        raise NotFound("Deze school is (nog) niet bekend.")
    return int(number)


async def school_name(session: AsyncSession, school_id: UUID) -> str:
    """The school's name as accounts last announced it ("" when not known yet)."""
    name = (
        await session.execute(
            select(KNOWN_SCHOOLS.c.name).where(KNOWN_SCHOOLS.c.school_id == school_id)
        )
    ).scalar()
    return str(name or "")

"""Each domain service's own list of registered schools, kept from accounts' events.

With it a service can refuse a command for a school id that does not exist without asking the
accounts service (services never read each other's tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ck_contracts.accounts import SchoolRegistered, SchoolSettingsChanged
from ck_contracts.rpc import CommonReason
from ck_contracts.topology import EventQueue, queues_of
from sqlalchemy import Column, Integer, MetaData, Table, Text, Uuid, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ck_runtime.consumers import EventConsumer
from ck_runtime.errors import NotFound
from ck_runtime.tables import UtcDateTime

ADDRESS_COLUMNS = ("street", "postcode", "city")


def add_known_schools_table(metadata: MetaData, *, address: bool = False) -> Table:
    """address: also keep the school's postal address (only invoicing prints it; the other
    services do without the columns)."""
    extra = [Column(name, Text) for name in ADDRESS_COLUMNS] if address else []
    return Table(
        "known_schools",
        metadata,
        Column("school_id", Uuid, primary_key=True),
        Column("school_number", Integer, nullable=False, unique=True),
        Column("duo_student_count", Integer),
        Column("name", Text),  # the school's name, for mails and invoices
        *extra,
        Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    )


KNOWN_SCHOOLS = add_known_schools_table(MetaData())
KNOWN_SCHOOLS_WITH_ADDRESS = add_known_schools_table(MetaData(), address=True)


@dataclass(frozen=True)
class SchoolAddress:
    """A school's name and postal address as accounts last announced them."""

    name: str = ""
    street: str = ""
    postcode: str = ""
    city: str = ""

    def lines(self) -> list[str]:
        """The address block under the name: street, then postcode and city (empty lines
        left out)."""
        place = "  ".join(part for part in (self.postcode, self.city) if part)
        return [line for line in (self.street, place) if line]


async def _upsert(event: SchoolRegistered | SchoolSettingsChanged, session: AsyncSession) -> None:
    await _upsert_into(KNOWN_SCHOOLS, event, session)


async def _upsert_with_address(
    event: SchoolRegistered | SchoolSettingsChanged, session: AsyncSession
) -> None:
    await _upsert_into(KNOWN_SCHOOLS_WITH_ADDRESS, event, session)


async def _upsert_into(
    table: Table, event: SchoolRegistered | SchoolSettingsChanged, session: AsyncSession
) -> None:
    values: dict[str, Any] = {
        "school_id": event.school_id,
        "school_number": event.school_number,
        "updated_at": event.occurred_at,
    }
    if event.duo_student_count is not None:
        values["duo_student_count"] = event.duo_student_count
    if event.name:  # events from before names travelled carry none: keep what is known
        values["name"] = event.name
    if "street" in table.c:
        for column in ADDRESS_COLUMNS:  # None: sent before addresses travelled
            if (value := getattr(event, column)) is not None:
                values[column] = value
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    # Events may arrive out of order: never let an older fact overwrite a newer one.
    update = {k: statement.excluded[k] for k in values if k != "school_id"}
    statement = statement.on_conflict_do_update(
        index_elements=["school_id"],
        set_=update,
        where=table.c.updated_at <= statement.excluded.updated_at,
    )
    await session.execute(statement)


def known_schools_consumer(service: str, *, address: bool = False) -> EventConsumer:
    """address: the service's table has the address columns (add_known_schools_table)."""
    (queue,) = [q for q in queues_of(service) if q.concern == "schools"]
    assert isinstance(queue, EventQueue)
    handler = _upsert_with_address if address else _upsert
    return EventConsumer(queue, {key: handler for key in queue.routing_keys})


async def require_known_school(session: AsyncSession, school_id: UUID) -> int:
    """The school's number, or NotFound when this service has never heard of the school."""
    number = (
        await session.execute(
            select(KNOWN_SCHOOLS.c.school_number).where(KNOWN_SCHOOLS.c.school_id == school_id)
        )
    ).scalar()
    if number is None:
        raise NotFound(CommonReason.SCHOOL_UNKNOWN)
    return int(number)


async def school_name(session: AsyncSession, school_id: UUID) -> str:
    """The school's name as accounts last announced it ("" when not known yet)."""
    name = (
        await session.execute(
            select(KNOWN_SCHOOLS.c.name).where(KNOWN_SCHOOLS.c.school_id == school_id)
        )
    ).scalar()
    return str(name or "")


async def school_address(session: AsyncSession, school_id: UUID) -> SchoolAddress:
    """Name and postal address (empty parts where not known yet); only for a service whose
    table has the address columns."""
    table = KNOWN_SCHOOLS_WITH_ADDRESS
    row = (
        await session.execute(
            select(table.c.name, *(table.c[c] for c in ADDRESS_COLUMNS)).where(
                table.c.school_id == school_id
            )
        )
    ).first()
    if row is None:
        return SchoolAddress()
    return SchoolAddress(*(str(value or "") for value in row))
